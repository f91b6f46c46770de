"""Maintenance windows: an admin mutes a camera, or a zone of its picture, for a harbour event or for service.

A window names who opened it and why, and ends on its own (at most `alerting.maintenance.max_duration_s`,
12 h): nobody has to remember to switch paging back on. Events from a muted camera (or, for a zone, whose
person stands in the zone) are stored and shown in the control room as usual but never paged; drills are
paged regardless (a drill checks the paging itself). An alert is judged when its first page is due, and again
every second while the grouping window lasts (another camera may join it, or the window may end: either pages
it at once); after that an alert opened during a window stays unpaged, one opened after it is paged as always.

Rows are never deleted: the table is the audit of who muted what, when, and who ended it early.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from quaywatch.alerting.store import AlertStore
from quaywatch.config.site import Site
from quaywatch.errors import QuaywatchError


class MaintenanceError(QuaywatchError):
    """A window that cannot be opened or ended as asked (unknown camera, too long, no reason, ...)."""


@dataclass(frozen=True)
class Window:
    id: int
    camera: str
    zone: list[list[float]] | None
    reason: str
    created_by: str
    starts_at: float
    ends_at: float
    ended_by: str | None

    def describe(self) -> str:
        what = f"camera {self.camera}" + (" (a zone)" if self.zone else "")
        until = time.strftime("%H:%M UTC", time.gmtime(self.ends_at))
        return f"{what} muted by {self.created_by} until {until}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "camera": self.camera, "zone": self.zone, "reason": self.reason,
                "created_by": self.created_by, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "ended_by": self.ended_by}


def _window(row: dict[str, Any]) -> Window:
    return Window(row["id"], row["camera"], json.loads(row["zone"]) if row["zone"] else None, row["reason"],
                  row["created_by"], row["starts_at"], row["ends_at"], row["ended_by"])


def _zone(zone: Any) -> list[list[float]] | None:
    if zone is None:
        return None
    if (not isinstance(zone, list) or not 3 <= len(zone) <= 64
            or not all(isinstance(p, list | tuple) and len(p) == 2
                       and all(isinstance(v, int | float) and v >= 0 for v in p) for p in zone)):
        raise MaintenanceError("zone: a polygon of 3 to 64 [x, y] image points (pixels, not negative)")
    return [[float(x), float(y)] for x, y in zone]


def open_window(store: AlertStore, site: Site, camera: str, reason: str, duration_s: float, by: str,
                zone: Any = None, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    known = {c.id for c in site.cameras}
    if camera not in known:
        raise MaintenanceError(f"camera: no camera {camera[:64]!r} (cameras: {', '.join(sorted(known))})")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise MaintenanceError("reason: say why (1 to 500 characters): a harbour event, a service visit, ...")
    limit = site.alerting.maintenance.max_duration_s
    if not isinstance(duration_s, int | float) or not 1 <= duration_s <= limit:
        raise MaintenanceError(f"duration_s: between 1 s and {limit} s ({limit / 3600:g} h): a window ends on its own")
    polygon = _zone(zone)
    with store.db.tx():
        store.db.run("INSERT INTO maintenance_windows (site, camera, zone, reason, created_by, created_at, starts_at, "
                     "ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (site.site.id, camera, json.dumps(polygon) if polygon else None, reason, by, now, now,
                      now + duration_s))
        row = store.db.one("SELECT * FROM maintenance_windows WHERE site = ? AND created_by = ? AND created_at = ? "
                           "ORDER BY id DESC", (site.site.id, by, now))
    assert row is not None
    return _window(row)


def end_window(store: AlertStore, site: Site, window_id: int, by: str, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    with store.db.tx():
        if not store.db.run("UPDATE maintenance_windows SET ends_at = ?, ended_by = ? WHERE id = ? AND site = ? "
                            "AND ends_at > ?", (now, by, window_id, site.site.id, now)):
            raise MaintenanceError(f"no open maintenance window {window_id}")
        row = store.db.one("SELECT * FROM maintenance_windows WHERE id = ?", (window_id,))
    assert row is not None
    return _window(row)


def windows(store: AlertStore, site_id: str, at: float | None = None, *, recent: int = 0) -> list[Window]:
    """The windows open at `at` (now), newest first; with `recent`, also that many ended ones (the audit)."""
    at = time.time() if at is None else at
    rows = store.db.all("SELECT * FROM maintenance_windows WHERE site = ? AND starts_at <= ? AND ends_at > ? "
                        "ORDER BY id DESC", (site_id, at, at))
    if recent:
        rows += store.db.all("SELECT * FROM maintenance_windows WHERE site = ? AND ends_at <= ? ORDER BY id DESC "
                             "LIMIT ?", (site_id, at, recent))
    return [_window(r) for r in rows]


def muted_cameras(store: AlertStore, site_id: str, at: float | None = None) -> dict[str, Window]:
    """Cameras muted as a whole right now (zone windows mute only part of a picture), for the screens."""
    out: dict[str, Window] = {}
    for w in windows(store, site_id, at):
        if w.zone is None:
            out.setdefault(w.camera, w)
    return out


def _inside(x: float, y: float, poly: list[list[float]]) -> bool:
    inside, j = False, len(poly) - 1
    for i in range(len(poly)):
        (xi, yi), (xj, yj) = poly[i], poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def muted(store: AlertStore, site: Site, inc: dict[str, Any], at: float | None = None) -> str | None:
    """Why this incident must not be paged now (every camera that saw it is muted at `at`), or None."""
    open_ = windows(store, site.site.id, at)
    if not open_:
        return None
    cams = [c for c in inc["cameras"].split(",") if c]
    reasons = []
    for cam in cams:
        whole = next((w for w in open_ if w.camera == cam and w.zone is None), None)
        if whole is not None:
            reasons.append(whole.describe())
            continue
        zoned = [w for w in open_ if w.camera == cam and w.zone]
        hit = _zone_hit(store, inc["id"], cam, zoned) if zoned else None
        if hit is None:
            return None  # one camera that saw it is not muted: page
        reasons.append(hit.describe())
    return "; ".join(reasons) if reasons else None


def _zone_hit(store: AlertStore, incident_id: str, camera: str, zoned: list[Window]) -> Window | None:
    """The zone window every person this camera saw in the incident stands in (the bottom middle of the box),
    or None when one stands outside all of them (or has no box to tell)."""
    hit = None
    for ev in store.events_of(incident_id):
        if ev["camera"] != camera:
            continue
        bbox = ev["payload"].get("bbox")
        if not bbox:
            return None
        x, y = bbox[0] + bbox[2] / 2, bbox[1] + bbox[3]
        hit = next((w for w in zoned if _inside(x, y, w.zone or [])), None)
        if hit is None:
            return None
    return hit
