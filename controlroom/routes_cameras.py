"""Camera health grid and the live view (MJPEG of the edge's false-colour preview frames)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.context import Context
from quaywatch.controlroom.metrics import REFUSED
from quaywatch.controlroom.views import local_time

BOUNDARY = "quaywatchframe"
MAX_STREAM_S = 3600.0  # a forgotten tab does not hold a thread forever; the page reopens the stream


def add_routes(router: APIRouter, ctx: Context) -> None:
    b = ctx.backend
    known = {c.id for c in b.cameras()}

    def camera_or_404(camera: str) -> str:
        if camera not in known:
            REFUSED.labels("not_found").inc()
            raise HTTPException(404, f"no camera {camera[:64]!r}")
        return camera

    @router.get("/cameras", include_in_schema=False)
    async def cameras_page(request: Request):
        s = ctx.guard.page(request)
        return ctx.render(request, "cameras.html", s)

    @router.get("/api/health")
    async def health(request: Request):
        ctx.guard.api(request)
        late = await run_in_threadpool(b.late_events)
        for e in late:
            e["time_local"] = local_time(e["time"], ctx.view.tz)
            e["received_local"] = local_time(e["received_at"], ctx.view.tz)
            e["camera_name"] = ctx.view.names.get(e["camera"], e["camera"])
        return {"cameras": ctx.view.health(await run_in_threadpool(b.camera_health), ctx.prefix),
                "problems": await run_in_threadpool(b.service_problems), "late": late}

    @router.get("/cameras/{camera}/latest.jpg")
    async def latest(request: Request, camera: str):
        ctx.guard.api(request)
        frame = await run_in_threadpool(b.latest_frame, camera_or_404(camera))
        if frame is None:
            raise HTTPException(404, "no live frame from this camera yet")
        return Response(frame[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.get("/cameras/{camera}/live.mjpg")
    async def live_view(request: Request, camera: str):
        ctx.guard.api(request)
        camera = camera_or_404(camera)

        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()

        def part(jpeg: bytes) -> bytes:
            # Each frame is followed at once by the next part's boundary and headers: Chromium shows a part
            # only when it has seen the start of the next one, so this puts a frame on screen now rather
            # than when the next frame comes (which, for a still snapshot, may be never).
            return jpeg + b"\r\n" + head

        async def frames():
            started, last = time.monotonic(), 0.0
            yield head
            # Something to look at at once: the newest frame, or the last evidence snapshot of this camera.
            first = await run_in_threadpool(b.latest_frame, camera)
            if first is not None:
                last = first[0]
                yield part(first[1])
            while time.monotonic() - started < MAX_STREAM_S:
                frame = await run_in_threadpool(b.wait_frame, camera, last, 1.0)
                if await request.is_disconnected() or getattr(b, "closing", False):  # closed, or we stop
                    return
                if frame is None:
                    continue
                last, jpeg = frame
                yield part(jpeg)

        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})
