"""Live push by Server-Sent Events: every change to an alert or to the health grid, to every open page.

SSE rather than a WebSocket: one-way is all the page needs, it passes proxies as plain HTTP, and the
browser's EventSource reconnects by itself. On (re)connect the page reloads the full list, so nothing
missed while away is lost. A heartbeat every few seconds also re-checks the login, so logging out (or a
removed user) ends the stream. When the service stops, the backend's change stream ends and so does every
live response: an open page must not hold Ctrl-C up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.backend import Change
from quaywatch.controlroom.context import Context

HEARTBEAT_S = 10.0


def _event(name: str, data) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def add_routes(router: APIRouter, ctx: Context) -> None:
    # One change is sent to every open page: read the alert once for all of them, not once per page.
    rendered: OrderedDict[int, tuple[Change, dict | None]] = OrderedDict()

    async def render(change: Change) -> dict | None:
        hit = rendered.get(id(change))
        if hit is not None and hit[0] is change:
            return hit[1]
        alert = await run_in_threadpool(ctx.backend.get_alert, change.id)
        data = ctx.view.alert(alert) if alert is not None else None
        rendered[id(change)] = (change, data)
        while len(rendered) > 64:
            rendered.popitem(last=False)
        return data

    @router.get("/api/live")
    async def live(request: Request):
        ctx.guard.api(request)
        changes = ctx.backend.subscribe()

        async def stream():
            yield b"retry: 1000\n\n" + _event("hello", {"site": ctx.backend.site_id})
            pending = asyncio.ensure_future(anext(changes))
            try:
                while True:
                    done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_S)
                    if not done:
                        if await request.is_disconnected() or ctx.guard.session(request) is None:
                            return
                        yield _event("ping", {})  # an event, not a comment: the page watches for silence
                        continue
                    try:
                        change = pending.result()
                    except StopAsyncIteration:  # the service is stopping: end the response, let it exit
                        return
                    pending = asyncio.ensure_future(anext(changes))
                    if change.extra.get("resync"):
                        yield _event("resync", {})
                    elif change.what == "health":
                        rows = await run_in_threadpool(ctx.backend.camera_health)
                        yield _event("health", ctx.view.health(rows, ctx.prefix))
                    elif change.id:
                        data = await render(change)
                        if data is not None:
                            yield _event("alert", data)
            finally:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await changes.aclose()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
