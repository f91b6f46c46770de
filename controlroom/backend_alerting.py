"""The control room's backend on the real alerting store and lifecycle (quaywatch.alerting).

Reads come from the alerting store (its tables are the truth); every operator action is a
`quaywatch.alerting.lifecycle.transition` (compare-and-set plus an audit row naming the operator), so an
acknowledgement from the page stops escalation exactly as an SMS reply does.

Live push has two sources: the alerting service's in-process ChangeFeed when the page runs inside it
(immediate), and a poll of the store's change times, which also catches changes made by another alerting
node on a shared PostgreSQL store and by anything that does not publish on the feed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from quaywatch.alerting.lifecycle import LifecycleError, audit, transition
from quaywatch.alerting.store import AlertStore
from quaywatch.config.site import Site
from quaywatch.config.site_map import read_geojson
from quaywatch.controlroom.backend import (
    ActionRefused,
    Alert,
    AuditEntry,
    CameraHealth,
    CameraInfo,
    Change,
    Page,
)
from quaywatch.controlroom.camera_feed import HealthBoard
from quaywatch.controlroom.changes import ChangeHub

log = logging.getLogger(__name__)
DELIVERED = ("delivered", "read", "answered", "completed")


def camera_infos(site: Site) -> list[CameraInfo]:
    out = []
    for c in site.cameras:
        if not c.enabled:
            continue
        loc = c.location
        out.append(CameraInfo(c.id, c.name, loc.lat, loc.lon, loc.bearing_deg, loc.fov_deg, loc.range_m) if loc
                   else CameraInfo(c.id, c.name))
    return out


def site_geojson(site: Site) -> dict | None:
    """The map the site names (checked when the site loaded); a file gone since is logged, not fatal."""
    if site.map is None:
        return None
    try:
        return read_geojson(Path(site.map.geojson))
    except (OSError, ValueError) as exc:
        log.error("controlroom: the harbour map cannot be drawn: %s", exc)
        return None


class AlertingBackend:
    def __init__(self, site: Site, store: AlertStore, *, feed: Any = None, poll_interval_s: float = 0.05,
                 stale_after_s: float = 60.0, in_service_since: float | None = None):
        self.site = site
        self.site_id = site.site.id
        self.site_name = site.site.name
        self.timezone = site.site.timezone
        self.store = store
        self.in_service_override = in_service_since
        self.feed = feed                      # quaywatch.alerting.changes.ChangeFeed, when in-process
        self.hub = ChangeHub()
        self._cameras = camera_infos(site)
        self._geojson = site_geojson(site)
        self.board = HealthBoard(self._cameras, self.hub, stale_after_s)
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._bridge: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifetime -----------------------------------------------------------------------------------------
    def start(self) -> AlertingBackend:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="controlroom-poll", daemon=True)
            self._poller.start()
        return self

    @property
    def closing(self) -> bool:
        return self._stop.is_set()

    def close_live(self) -> None:
        """The service is stopping: end every live stream (SSE, MJPEG) now rather than at their timeouts,
        so the web server does not wait on them."""
        self._stop.set()
        self.hub.close()
        self.board.wake_all()

    def stop(self) -> None:
        self._stop.set()
        self.hub.close()
        if self._poller:
            self._poller.join(2)
        if self._bridge:
            self._bridge.cancel()

    def _poll(self) -> None:
        """Watch the store for changes: every move and audit line adds a `transitions` row, every page
        status a `message_events` row. Both grow by primary key, so each pass is an index range scan
        however large the store grows (incidents.updated_at has no index to scan by)."""
        marks: tuple[int, int] | None = None
        last_stale_check = 0.0
        while not self._stop.wait(self.poll_interval_s):
            try:
                if marks is None:
                    marks = self._marks()
                    continue
                changed, marks = self._changed_since(marks)
            except Exception:  # the database may be briefly locked or restarting; the next pass retries
                log.debug("controlroom: store poll failed", exc_info=True)
                continue
            for incident_id in changed:
                self.hub.publish(Change("alert", incident_id))
            now = time.monotonic()
            if now - last_stale_check > 1.0:
                last_stale_check = now
                self.board.check_stale()

    def _marks(self) -> tuple[int, int]:
        db = self.store.db
        tr = db.one("SELECT MAX(id) AS m FROM transitions") or {}
        me = db.one("SELECT MAX(id) AS m FROM message_events") or {}
        return (tr.get("m") or 0, me.get("m") or 0)

    def _changed_since(self, marks: tuple[int, int]) -> tuple[list[str], tuple[int, int]]:
        db = self.store.db
        tr_m, me_m = marks
        trs = db.all("SELECT id, incident_id FROM transitions WHERE id > ? ORDER BY id", (tr_m,))
        mes = db.all("SELECT e.id, m.incident_id FROM message_events e JOIN messages m ON m.id = e.message_id "
                     "WHERE e.id > ? ORDER BY e.id", (me_m,))
        ids = list(dict.fromkeys([t["incident_id"] for t in trs] + [m["incident_id"] for m in mes
                                                                     if m["incident_id"]]))
        return ids, (trs[-1]["id"] if trs else tr_m, mes[-1]["id"] if mes else me_m)

    # --- reading ------------------------------------------------------------------------------------------
    def cameras(self) -> list[CameraInfo]:
        return list(self._cameras)

    def harbour_geojson(self) -> dict | None:
        return self._geojson

    def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[Alert]:
        states = ("new", "paged", "acknowledged") if open_only else None
        rows = self.store.incidents(site=self.site_id, states=states, limit=limit)
        return [self._alert(r) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        row = self.store.incident(alert_id)
        return self._alert(row) if row and row["site"] == self.site_id else None

    def alerts_between(self, start: float, end: float) -> list[Alert]:
        rows = self.store.db.all(
            "SELECT * FROM incidents WHERE site = ? AND first_time >= ? AND first_time < ? ORDER BY first_time",
            (self.site_id, start, end))
        return [self._alert(r, with_audit=False) for r in rows]

    def in_service_since(self) -> float | None:
        if self.in_service_override is not None:
            return self.in_service_override
        row = self.store.db.one("SELECT MIN(received_at) AS t FROM events WHERE site = ?", (self.site_id,))
        return row["t"] if row and row["t"] is not None else None

    def snapshot_jpeg(self, alert_id: str) -> bytes | None:
        for ev in self.store.events_of(alert_id):
            b64 = (ev["payload"].get("evidence") or {}).get("snapshot_jpeg_b64")
            if b64:
                with contextlib.suppress(binascii.Error, ValueError):
                    return base64.b64decode(b64, validate=True)
        return None

    def _alert(self, inc: dict[str, Any], with_audit: bool = True) -> Alert:
        events = self.store.events_of(inc["id"])
        first = next((e["payload"] for e in events if e["payload"].get("kind") == inc["kind"]),
                     events[0]["payload"] if events else {})
        evidence: dict[str, Any] = {}
        for e in events:  # the first event that carries evidence; a later camera may have the clip
            ev = e["payload"].get("evidence") or {}
            for key in ("snapshot_jpeg_b64", "clip_url"):
                if key in ev and key not in evidence:
                    evidence[key] = ev[key]
        pages = tuple(self._pages(inc["id"]))
        trail = tuple(AuditEntry(t["at"], t["actor"], t["from_state"], t["to_state"], t["note"])
                      for t in self.store.transitions_of(inc["id"])) if with_audit else ()
        bbox = first.get("bbox")
        size = first.get("frame_size")
        return Alert(
            id=inc["id"], site=inc["site"], kind=inc["kind"], category=inc["category"], state=inc["state"],
            cameras=tuple(c for c in inc["cameras"].split(",") if c), time=inc["first_time"],
            opened_at=inc["opened_at"], updated_at=inc["updated_at"], drill=bool(inc["drill"]),
            outcome=inc["closed_as"] or ("resolved" if inc["state"] == "resolved" else None),
            lat=inc["lat"], lon=inc["lon"], bbox=tuple(bbox) if bbox else None,
            frame_size=tuple(size) if size else None, confidence=first.get("confidence"),
            acked_by=inc["acked_by"], acked_at=inc["acked_at"], ack_code=inc["ack_code"],
            has_snapshot="snapshot_jpeg_b64" in evidence, clip_url=evidence.get("clip_url"),
            pages=pages, audit=trail,
        )

    def _pages(self, incident_id: str) -> list[Page]:
        msgs = self.store.db.all(
            "SELECT m.*, (SELECT MIN(e.at) FROM message_events e WHERE e.message_id = m.id AND e.status IN "
            f"({', '.join('?' * len(DELIVERED))})) AS delivered_at FROM messages m "
            "WHERE m.incident_id = ? AND m.direction = 'out' ORDER BY m.created_at",
            (*DELIVERED, incident_id))
        return [Page(person=m["person"] or m["to_number"], number=m["to_number"], channel=m["channel"],
                     status=m["status"], sent_at=m["created_at"], updated_at=m["updated_at"], step=m["step"],
                     error_code=m["error_code"], delivered_at=m["delivered_at"]) for m in msgs]

    # --- acting (through the alerting lifecycle) ----------------------------------------------------------
    def _move(self, alert_id: str, to: str, operator: str, note: str | None = None, **fields: Any) -> Alert:
        if self.get_alert(alert_id) is None:
            raise ActionRefused("not_found", f"no alert {alert_id!r}")
        try:
            moved = transition(self.store, alert_id, to, actor=f"{operator} (control room)", now=time.time(),
                               note=note, **fields)
        except LifecycleError as exc:
            raise ActionRefused("conflict", str(exc)) from None
        if not moved:
            raise ActionRefused("conflict", f"alert {alert_id} is already {to}")
        self._announce(alert_id, to)
        return self.get_alert(alert_id)  # type: ignore[return-value]

    def acknowledge(self, alert_id: str, operator: str) -> Alert:
        now = time.time()
        return self._move(alert_id, "acknowledged", operator, "acknowledged on the control-room page",
                          acked_by=operator, acked_at=now)

    def close(self, alert_id: str, outcome: str, operator: str, note: str | None = None) -> Alert:
        if outcome == "resolved":
            return self._move(alert_id, "resolved", operator, note)
        return self._move(alert_id, "closed", operator, note, closed_as=outcome)

    def add_note(self, alert_id: str, operator: str, text: str) -> Alert:
        if self.get_alert(alert_id) is None:
            raise ActionRefused("not_found", f"no alert {alert_id!r}")
        with self.store.db.tx():
            audit(self.store, alert_id, actor=f"{operator} (control room)", now=time.time(), note=text)
        self._announce(alert_id, "note")
        return self.get_alert(alert_id)  # type: ignore[return-value]

    def _announce(self, alert_id: str, what: str) -> None:
        self.hub.publish(Change("alert", alert_id))
        if self.feed is not None and self._loop is not None:
            # The alerting feed's queues belong to its event loop; actions run in a worker thread.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.feed.publish, alert_id, what)

    # --- health and live view -----------------------------------------------------------------------------
    def camera_health(self) -> list[CameraHealth]:
        return self.board.rows()

    def latest_frame(self, camera: str) -> tuple[float, bytes] | None:
        """The newest preview frame; until the edge sends any, the camera's newest evidence snapshot."""
        frame = self.board.latest_frame(camera)
        if frame is not None:
            return frame
        rows = self.store.db.all("SELECT time, payload FROM events WHERE site = ? AND camera = ? "
                                 "ORDER BY time DESC LIMIT 20", (self.site_id, camera))
        for r in rows:
            b64 = (json.loads(r["payload"]).get("evidence") or {}).get("snapshot_jpeg_b64")
            if b64:
                with contextlib.suppress(binascii.Error, ValueError):
                    return 0.0, base64.b64decode(b64, validate=True)  # time 0: any live frame is newer
        return None

    def wait_frame(self, camera: str, after: float, timeout: float) -> tuple[float, bytes] | None:
        return self.board.wait_frame(camera, after, timeout)

    # --- live push ----------------------------------------------------------------------------------------
    async def subscribe(self) -> AsyncIterator[Change]:
        self._loop = asyncio.get_running_loop()
        if self.feed is not None and self._bridge is None:
            self._bridge = asyncio.ensure_future(self._bridge_feed())
        async for change in self.hub.subscribe():
            yield change

    async def _bridge_feed(self) -> None:
        queue = self.feed.subscribe()
        try:
            while True:
                notice = await queue.get()
                self.hub.publish(Change("alert", notice.incident_id))
        finally:
            self.feed.unsubscribe(queue)
