"""Alerts and health rows as the JSON the page's script draws: local times, camera names, map positions."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from quaywatch.controlroom.backend import Alert, CameraHealth, CameraInfo
from quaywatch.controlroom.harbour_map import fall_position, map_json
from quaywatch.controlroom.health_words import reason_code


def local_time(epoch: float | None, tz: str, with_date: bool = True) -> str | None:
    if epoch is None:
        return None
    dt = datetime.fromtimestamp(epoch, ZoneInfo(tz))
    return dt.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


class AlertView:
    def __init__(self, cameras: list[CameraInfo], tz: str, prefix: str, geojson: dict | None = None):
        self.names = {c.id: c.name for c in cameras}
        self.by_id = {c.id: c for c in cameras}
        self.cameras = cameras
        self.tz = tz
        self.prefix = prefix
        self.map = map_json(cameras, geojson)

    def map_json(self) -> dict[str, Any] | None:
        return self.map

    def alert(self, a: Alert) -> dict[str, Any]:
        return {
            "id": a.id, "site": a.site, "kind": a.kind, "category": a.category, "drill": a.drill,
            "state": a.state, "outcome": a.outcome, "open": a.is_open, "needs_ack": a.needs_ack,
            "cameras": [{"id": c, "name": self.names.get(c, c)} for c in a.cameras],
            "time": a.time, "local_time": local_time(a.time, self.tz),
            "opened_local": local_time(a.opened_at, self.tz),
            "lat": a.lat, "lon": a.lon, "position": fall_position(a, self.by_id) if a.category == "water" else None,
            "bbox": list(a.bbox) if a.bbox else None, "frame_size": list(a.frame_size) if a.frame_size else None,
            "confidence": a.confidence,
            "acked_by": a.acked_by, "acked_local": local_time(a.acked_at, self.tz),
            "snapshot_url": f"{self.prefix}/alerts/{a.id}/snapshot.jpg" if a.has_snapshot else None,
            "crop_url": f"{self.prefix}/alerts/{a.id}/crop.jpg" if a.has_snapshot and a.bbox and a.frame_size
            else None,
            "clip_url": f"{self.prefix}/alerts/{a.id}/clip" if a.clip_url else None,
            "boxes_url": f"{self.prefix}/alerts/{a.id}/boxes.json" if a.clip_url else None,
            "fixture_url": f"{self.prefix}/alerts/{a.id}/fixture.zip"
            if a.outcome == "false_alarm" and a.clip_url else None,
            "pages": [{"person": p.person, "number": p.number, "channel": p.channel, "status": p.status,
                       "step": p.step, "error_code": p.error_code, "sent_local": local_time(p.sent_at, self.tz, False),
                       "updated_local": local_time(p.updated_at, self.tz, False)} for p in a.pages],
            "audit": [{"at_local": local_time(e.at, self.tz), "actor": e.actor, "from": e.from_state,
                       "to": e.to_state, "note": e.note} for e in a.audit],
            "updated_at": a.updated_at,
            "agency_acks": [{"agency": k.agency, "by": k.by, "at_local": local_time(k.at, self.tz, False),
                             "via": k.via} for k in a.agency_acks],
            "muted": a.muted,
        }

    def health(self, rows: list[CameraHealth], prefix: str, now: float | None = None) -> list[dict[str, Any]]:
        """The edge's reason goes out as a code the page words in its language, never as its raw text."""
        now = time.time() if now is None else now
        return [{"camera": r.camera, "name": r.name, "state": r.state,
                 "fps": None if r.fps is None or r.state == "offline" else round(r.fps, 1),
                 "last_frame_age_s": None if r.last_frame_age_s is None or r.state == "offline"
                 else round(r.last_frame_age_s, 1),
                 "last_seen_ago_s": None if r.last_seen_at is None else max(0, round(now - r.last_seen_at)),
                 "reason": reason_code(r.reason), "live_url": f"{prefix}/cameras/{r.camera}/live.mjpg",
                 "muted": {**r.muted, "until_local": local_time(r.muted["until"], self.tz, False)[:5]}
                 if r.muted else None} for r in rows]
