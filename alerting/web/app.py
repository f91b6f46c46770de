"""Build the FastAPI app. Routers come from their own modules; the control room adds its own the same way:
`create_app(service, extra_routers=[control_room.router])`, or `app.include_router(...)` on the result.
Each route reaches the running service through `request.app.state.service`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI

from quaywatch.alerting.web import api, cap_routes, ops, phone, twilio_hooks


def create_app(service: Any, extra_routers: Iterable[APIRouter] = ()) -> FastAPI:
    app = FastAPI(title="quaywatch alerting", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    for router in (ops.router, twilio_hooks.router, api.router, phone.router, cap_routes.router, *extra_routers):
        app.include_router(router)
    return app
