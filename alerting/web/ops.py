"""/healthz for load balancers and systemd, /metrics for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    svc = request.app.state.service
    checks = svc.health()
    ok = all(checks.values())
    body: dict = {"ok": ok, **checks}
    problems = svc.problems()
    if problems:  # in words: "store: disk full (since ...)", so a full disk is never read as a broker fault
        body["problems"] = problems
    if checks.get("store") and not checks.get("paging", True):  # said in words: "pages failing: Twilio unreachable since 22:41:07 ..."
        state = svc.paging()
        body["paging_problem"] = state.problem
        body["paging_failing_since"] = state.failing_since
        body["pages_owed"] = state.owed
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    svc = request.app.state.service
    svc.refresh_gauges()
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
