"""Maintenance windows on the page (admins): mute a camera or a zone of it, with a reason, for a while.

The form at /maintenance and the JSON API at /api/maintenance do the same (alerting/maintenance.py does the
work and keeps the audit: who muted what, why, until when, who ended it early). Viewers and operators see
the mutes on the alert cards and the camera list; only admins open or end them.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from quaywatch.alerting.maintenance import MaintenanceError, end_window, open_window, windows
from quaywatch.controlroom.context import Context
from quaywatch.controlroom.metrics import ACTIONS, REFUSED
from quaywatch.controlroom.routes_alerts import _json_body
from quaywatch.controlroom.security import read_form
from quaywatch.controlroom.views import local_time


def add_routes(router: APIRouter, ctx: Context) -> None:
    b = ctx.backend
    store, site = getattr(b, "store", None), getattr(b, "site", None)
    if store is None or site is None:
        return  # a backend without the alerting store (a test double): no maintenance windows to manage

    def rows(recent: int = 20) -> list[dict]:
        now = time.time()
        return [{**w.as_json(), "open": w.ends_at > now, "ends_local": local_time(w.ends_at, b.timezone),
                 "starts_local": local_time(w.starts_at, b.timezone)}
                for w in windows(store, b.site_id, recent=recent)]

    def opened(by: str, camera: str, reason: str, duration_s: float, zone) -> dict:
        w = open_window(store, site, camera, reason, duration_s, by, zone)
        return w.as_json()

    @router.get("/maintenance", include_in_schema=False)
    async def maintenance_page(request: Request):
        s = ctx.guard.page(request, "admin")
        return ctx.render(request, "maintenance.html", s, windows=await run_in_threadpool(rows),
                          cameras=b.cameras(), error=request.query_params.get("error"),
                          max_minutes=site.alerting.maintenance.max_duration_s // 60)

    @router.post("/maintenance", include_in_schema=False)
    async def maintenance_form(request: Request):
        s = ctx.guard.api(request, "admin")
        form = await read_form(request)
        ctx.guard.check_form_csrf(s, str(form.get("csrf", "")))
        try:
            zone_text = (form.get("zone") or "").strip()
            try:
                zone = json.loads(zone_text) if zone_text else None
            except json.JSONDecodeError:
                raise MaintenanceError("zone: not JSON; write the polygon as [[x, y], [x, y], [x, y]]") from None
            try:
                minutes = float(form.get("minutes") or "")
            except ValueError:
                raise MaintenanceError("minutes: a number") from None
            await run_in_threadpool(opened, s.user.name, str(form.get("camera", ""))[:64],
                                    str(form.get("reason", ""))[:600], minutes * 60, zone)
        except MaintenanceError as exc:
            REFUSED.labels("bad_request").inc()
            return ctx.render(request, "maintenance.html", s, status=400, windows=await run_in_threadpool(rows),
                              cameras=b.cameras(), error=str(exc),
                              max_minutes=site.alerting.maintenance.max_duration_s // 60)
        ACTIONS.labels("maintenance_open").inc()
        return RedirectResponse(f"{ctx.prefix}/maintenance", status_code=303)

    @router.post("/maintenance/{window_id}/end", include_in_schema=False)
    async def maintenance_end_form(request: Request, window_id: int):
        s = ctx.guard.api(request, "admin")
        form = await read_form(request)
        ctx.guard.check_form_csrf(s, str(form.get("csrf", "")))
        try:
            await run_in_threadpool(end_window, store, site, window_id, s.user.name)
        except MaintenanceError as exc:
            raise HTTPException(404, str(exc)) from None
        ACTIONS.labels("maintenance_end").inc()
        return RedirectResponse(f"{ctx.prefix}/maintenance", status_code=303)

    @router.get("/api/maintenance")
    async def list_windows(request: Request):
        ctx.guard.api(request)
        return {"windows": await run_in_threadpool(rows)}

    @router.post("/api/maintenance")
    async def open_api(request: Request):
        s = ctx.guard.action(request, "admin")
        body = await _json_body(request)
        try:
            w = await run_in_threadpool(opened, s.user.name, str(body.get("camera", ""))[:64],
                                        str(body.get("reason", ""))[:600], body.get("duration_s"), body.get("zone"))
        except MaintenanceError as exc:
            REFUSED.labels("bad_request").inc()
            raise HTTPException(400, str(exc)) from None
        ACTIONS.labels("maintenance_open").inc()
        return w

    @router.post("/api/maintenance/{window_id}/end")
    async def end_api(request: Request, window_id: int):
        s = ctx.guard.action(request, "admin")
        try:
            w = await run_in_threadpool(end_window, store, site, window_id, s.user.name)
        except MaintenanceError as exc:
            raise HTTPException(404, str(exc)) from None
        ACTIONS.labels("maintenance_end").inc()
        return w.as_json()
