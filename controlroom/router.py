"""`create_router(backend, settings)`: the control-room page as one FastAPI router the alerting app mounts.

    app.include_router(create_router(backend, site.controlroom), prefix="/controlroom")

The prefix given here must be the one the app mounts at (cookies are scoped to it, links use it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.config.loader import SITES_DIR
from quaywatch.controlroom import (
    live,
    routes_alerts,
    routes_auth,
    routes_cameras,
    routes_evidence,
    routes_maintenance,
    routes_stats,
    routes_users,
)
from quaywatch.controlroom.backend import ControlRoomBackend
from quaywatch.controlroom.context import HERE, Context
from quaywatch.controlroom.evidence_relay import evidence_sources
from quaywatch.controlroom.headers import SecureRoute
from quaywatch.controlroom.security import Guard
from quaywatch.controlroom.throttle import LoginThrottle
from quaywatch.controlroom.users import UserStore
from quaywatch.controlroom.views import AlertView

log = logging.getLogger(__name__)
STATIC = HERE / "static"
STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else {}
REPO = HERE.parent


def fixture_site_path(site_file: str | None, site_id: str) -> str:
    """How a sidecar in recordings_fixtures/ names the site file (a path relative to the sidecar)."""
    if site_file:
        path = Path(site_file)
        if not path.exists() and not path.suffix and (SITES_DIR / f"{path.name}.yaml").exists():
            path = SITES_DIR / f"{path.name}.yaml"  # a bare name, as `--site demo` allows
        return os.path.relpath(path.resolve(), REPO / "recordings_fixtures")
    return f"../config/sites/{site_id}.yaml"


def _geojson(backend: ControlRoomBackend) -> dict | None:
    get = getattr(backend, "harbour_geojson", None)  # a backend from before the map had none
    return get() if get else None


def create_router(backend: ControlRoomBackend, settings: ControlRoomConfig, *, prefix: str = "/controlroom",
                  users: UserStore | None = None, site_file: str | None = None) -> APIRouter:
    users = users or UserStore(settings.users_db)
    if users.ensure_admin(settings.admin_user, os.environ.get(settings.admin_password_env)):
        log.info("controlroom: created the first admin %r from $%s", settings.admin_user, settings.admin_password_env)
    elif not users.count():
        log.warning("controlroom: no users yet; set $%s or run `quaywatch users add NAME --role admin`",
                    settings.admin_password_env)
    ctx = Context(
        backend=backend, config=settings, users=users, guard=Guard(users, settings, prefix),
        throttle=LoginThrottle(settings.login_attempts, settings.login_window_s, settings.login_address_ceiling),
        view=AlertView(backend.cameras(), backend.timezone, prefix, _geojson(backend)), prefix=prefix,
        site_path=fixture_site_path(site_file, backend.site_id),
        evidence=evidence_sources(getattr(backend, "site", None), settings.evidence_servers),
    )
    router = APIRouter(route_class=SecureRoute)  # nosniff and a CSP on every answer

    @router.get("", include_in_schema=False)
    async def root():
        return RedirectResponse(prefix + "/", status_code=307)

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        path = STATIC_FILES.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    for module in (routes_auth, routes_alerts, routes_evidence, live, routes_cameras, routes_stats, routes_users,
                   routes_maintenance):
        module.add_routes(router, ctx)
    router.context = ctx  # type: ignore[attr-defined]  # tests and the CLI reach the user store through it
    return router
