"""Evidence beyond the snapshot: the zoomed crop of the person (evidence_crop.py)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.context import Context
from quaywatch.controlroom.evidence_crop import crop_person
from quaywatch.controlroom.metrics import REFUSED


def add_routes(router: APIRouter, ctx: Context) -> None:
    b = ctx.backend

    def crop(alert_id: str):
        alert = b.get_alert(alert_id)
        if alert is None or not alert.bbox or not alert.frame_size:
            return None
        jpeg = b.snapshot_jpeg(alert_id)
        return crop_person(jpeg, alert.bbox, alert.frame_size) if jpeg else None

    @router.get("/alerts/{alert_id}/crop.jpg")
    async def person_crop(request: Request, alert_id: str):
        ctx.guard.api(request)
        got = await run_in_threadpool(crop, alert_id[:100])
        if got is None:
            REFUSED.labels("not_found").inc()
            raise HTTPException(404, "no snapshot with a box for this alert")
        x, y, w, h = got.box_in_crop
        return Response(got.jpeg, media_type="image/jpeg", headers={
            "Cache-Control": "private, max-age=3600", "X-Zoom": str(got.zoom), "X-Box": f"{x},{y},{w},{h}"})
