"""The alert view and the operator's actions: acknowledge, close with an outcome, add a note; evidence."""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.backend import OUTCOMES, ActionRefused
from quaywatch.controlroom.context import Context
from quaywatch.controlroom.evidence_relay import relay_boxes, relay_clip
from quaywatch.controlroom.fixture_export import export_fixture
from quaywatch.controlroom.metrics import ACTIONS, REFUSED
from quaywatch.errors import QuaywatchError

MAX_BODY = 16 * 1024
MAX_NOTE = 2000
HISTORY = 30
MAX_OPEN = 200


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        REFUSED.labels("bad_request").inc()
        raise HTTPException(413, f"request body over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        REFUSED.labels("bad_request").inc()
        raise HTTPException(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        REFUSED.labels("bad_request").inc()
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _note(body: dict, required: bool) -> str | None:
    note = body.get("note")
    if note is None or (isinstance(note, str) and not note.strip()):
        if required:
            REFUSED.labels("bad_request").inc()
            raise HTTPException(400, "a note needs some text")
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        REFUSED.labels("bad_request").inc()
        raise HTTPException(400, f"note: text of at most {MAX_NOTE} characters")
    return note.strip()


def add_routes(router: APIRouter, ctx: Context) -> None:
    b = ctx.backend

    def alert_or_404(alert_id: str):
        alert = b.get_alert(alert_id) if len(alert_id) <= 100 else None
        if alert is None:
            REFUSED.labels("not_found").inc()
            raise HTTPException(404, f"no alert {alert_id[:100]!r}")
        return alert

    async def act(name: str, fn, *args):
        try:
            alert = await run_in_threadpool(fn, *args)
        except ActionRefused as exc:
            REFUSED.labels(exc.code).inc()
            raise HTTPException(404 if exc.code == "not_found" else 409, str(exc)) from None
        ACTIONS.labels(name).inc()
        return JSONResponse(ctx.view.alert(alert))

    @router.get("/", include_in_schema=False)
    async def alerts_page(request: Request):
        s = ctx.guard.page(request)
        return ctx.render(request, "alerts.html", s, map=ctx.view.map_json())

    @router.get("/api/alerts")
    async def list_alerts(request: Request):
        ctx.guard.api(request)
        open_only = request.query_params.get("open") in ("1", "true")
        # Every open alert, however many newer ones closed since; then the recent history.
        alerts = await run_in_threadpool(b.list_alerts, open_only=True, limit=MAX_OPEN)
        if not open_only:
            seen = {a.id for a in alerts}
            recent = await run_in_threadpool(b.list_alerts, limit=HISTORY)
            alerts += [a for a in recent if a.id not in seen]
        return {"alerts": [ctx.view.alert(a) for a in alerts], "map": ctx.view.map_json()}

    @router.get("/api/paging")
    async def paging(request: Request):
        """Pages failing (Twilio down): said on the alerts page above everything, polled every few seconds."""
        ctx.guard.api(request)
        trouble = getattr(b, "paging_trouble", None)
        return {"trouble": await run_in_threadpool(trouble) if trouble else None}

    @router.get("/api/alerts/{alert_id}")
    async def one_alert(request: Request, alert_id: str):
        ctx.guard.api(request)
        return ctx.view.alert(await run_in_threadpool(alert_or_404, alert_id))

    @router.post("/api/alerts/{alert_id}/ack")
    async def acknowledge(request: Request, alert_id: str):
        s = ctx.guard.action(request)
        await _json_body(request)
        return await act("acknowledge", b.acknowledge, alert_id, s.user.name)

    @router.post("/api/alerts/{alert_id}/close")
    async def close(request: Request, alert_id: str):
        s = ctx.guard.action(request)
        body = await _json_body(request)
        outcome = body.get("outcome")
        if outcome not in OUTCOMES:
            REFUSED.labels("bad_request").inc()
            raise HTTPException(400, f"outcome must be one of {', '.join(OUTCOMES)}")
        return await act(f"close_{outcome}", b.close, alert_id, outcome, s.user.name, _note(body, False))

    @router.post("/api/alerts/{alert_id}/note")
    async def note(request: Request, alert_id: str):
        s = ctx.guard.action(request)
        body = await _json_body(request)
        return await act("note", b.add_note, alert_id, s.user.name, _note(body, True))

    @router.get("/alerts/{alert_id}/snapshot.jpg")
    async def snapshot(request: Request, alert_id: str):
        ctx.guard.api(request)
        jpeg = await run_in_threadpool(b.snapshot_jpeg, alert_id[:100])
        if jpeg is None:
            REFUSED.labels("not_found").inc()
            raise HTTPException(404, "no snapshot for this alert")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/alerts/{alert_id}/clip")
    async def clip(request: Request, alert_id: str):
        """The edge's clip, relayed: the operator's browser need not reach the edge network. Fetched only
        from the configured evidence server of the alert's camera, passed on only if it is video or an
        image (controlroom/evidence_relay.py)."""
        ctx.guard.api(request)
        alert = await run_in_threadpool(alert_or_404, alert_id)
        if not alert.clip_url:
            raise HTTPException(404, "no clip for this alert")
        return await relay_clip(ctx.evidence, alert.clip_camera, alert.clip_event_id,
                                {"Cache-Control": "private, max-age=3600"},
                                refused=lambda reason: REFUSED.labels(reason).inc(),
                                range_header=request.headers.get("range"))

    @router.get("/alerts/{alert_id}/boxes.json")
    async def clip_boxes(request: Request, alert_id: str):
        """The alert's box on each frame of the clip, from the same edge as the clip, checked: the page draws
        it over the video, which is the camera's own stream without an overlay."""
        ctx.guard.api(request)
        alert = await run_in_threadpool(alert_or_404, alert_id)
        if not alert.clip_url:
            raise HTTPException(404, "no clip for this alert")
        return await relay_boxes(ctx.evidence, alert.clip_camera, alert.clip_event_id,
                                 refused=lambda reason: REFUSED.labels(reason).inc())

    @router.get("/alerts/{alert_id}/fixture.zip")
    async def fixture(request: Request, alert_id: str):
        ctx.guard.api(request, "operator")
        alert = await run_in_threadpool(alert_or_404, alert_id)
        try:
            name, data = await run_in_threadpool(export_fixture, alert, ctx.site_path, b.timezone, ctx.evidence)
        except ActionRefused as exc:
            REFUSED.labels(exc.code).inc()
            raise HTTPException(409, str(exc)) from None
        except QuaywatchError as exc:
            raise HTTPException(502, str(exc)) from None
        ACTIONS.labels("export_fixture").inc()
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
