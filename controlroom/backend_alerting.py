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
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from quaywatch.alerting.acks import acks_of, record_control_room
from quaywatch.alerting.lifecycle import LifecycleError, audit, transition
from quaywatch.alerting.maintenance import muted_cameras
from quaywatch.alerting.store import AlertStore
from quaywatch.config.site import Site
from quaywatch.config.site_map import read_geojson
from quaywatch.controlroom.backend import (
    ActionRefused,
    AgencyAck,
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


def finite(value: Any) -> float | None:
    """A number the page can show and JSON can carry, or None. Rows written before intake refused NaN (or by
    hand, or by another tool) may hold NaN, Infinity or text where a number belongs; one such row must not
    turn every answer of the alert list into a 500."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def finite_tuple(values: Any, n: int, kind: type = float) -> tuple | None:
    if not isinstance(values, list | tuple) or len(values) != n:
        return None
    out = [finite(v) for v in values]
    return None if any(v is None for v in out) else tuple(kind(v) for v in out)


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
                 stale_after_s: float = 60.0, in_service_since: float | None = None,
                 problems: Callable[[], list[str]] | None = None):
        self.site = site
        self.site_id = site.site.id
        self.site_name = site.site.name
        self.timezone = site.site.timezone
        self.store = store
        self.in_service_override = in_service_since
        self.feed = feed                      # quaywatch.alerting.changes.ChangeFeed, when in-process
        self._problems = problems             # the alerting service's health in words, when in-process
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
    def paging_trouble(self) -> dict[str, Any] | None:
        """Pages that failed and are owed (Twilio down or timing out), from the store, so every node's show:
        how many, since when (local time), the last error. None when nothing is owed."""
        owed = self.store.owed_summary()
        if not owed["owed"]:
            return None
        since = datetime.fromtimestamp(owed["since"], ZoneInfo(self.timezone)).strftime("%H:%M:%S")
        return {"owed": owed["owed"], "since": since, "error": owed["error"]}

    def cameras(self) -> list[CameraInfo]:
        return list(self._cameras)

    def harbour_geojson(self) -> dict | None:
        return self._geojson

    def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[Alert]:
        states = ("new", "paged", "acknowledged") if open_only else None
        rows = self.store.incidents(site=self.site_id, states=states, limit=limit)
        return [self._safe_alert(r) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        row = self.store.incident(alert_id)
        return self._safe_alert(row) if row and row["site"] == self.site_id else None

    def alerts_between(self, start: float, end: float) -> list[Alert]:
        rows = self.store.db.all(
            "SELECT * FROM incidents WHERE site = ? AND first_time >= ? AND first_time < ? ORDER BY first_time",
            (self.site_id, start, end))
        return [self._safe_alert(r, with_audit=False) for r in rows]

    def _safe_alert(self, inc: dict[str, Any], with_audit: bool = True) -> Alert:
        """The alert, or, when its rows cannot be read as one, the incident row alone (logged): one bad row
        blinds nobody to the others."""
        try:
            return self._alert(inc, with_audit)
        except Exception:
            log.exception("controlroom: incident %r has rows that cannot be shown; showing the bare incident",
                          inc.get("id"))
            now = time.time()
            opened = finite(inc.get("opened_at")) or now
            return Alert(id=str(inc.get("id")), site=str(inc.get("site")), kind=str(inc.get("kind")),
                         category=str(inc.get("category")), state=str(inc.get("state")),
                         cameras=tuple(c for c in str(inc.get("cameras") or "").split(",") if c),
                         time=finite(inc.get("first_time")) or opened, opened_at=opened,
                         updated_at=finite(inc.get("updated_at")) or opened, drill=bool(inc.get("drill")),
                         outcome=inc.get("closed_as"), ack_code=str(inc.get("ack_code") or ""))

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
        clip_of: dict[str, Any] = {}
        for e in events:  # the first event that carries evidence; a later camera may have the clip
            ev = e["payload"].get("evidence") or {}
            for key in ("snapshot_jpeg_b64", "clip_url"):
                if key in ev and key not in evidence:
                    evidence[key] = ev[key]
                    if key == "clip_url":
                        clip_of = e["payload"]
        pages = tuple(self._pages(inc["id"]))
        trail = tuple(AuditEntry(t["at"], t["actor"], t["from_state"], t["to_state"], t["note"])
                      for t in self.store.transitions_of(inc["id"])) if with_audit else ()
        opened = finite(inc["opened_at"]) or time.time()
        return Alert(  # every number finite or None: JSON has no NaN, and the page must not answer 500
            id=inc["id"], site=inc["site"], kind=inc["kind"], category=inc["category"], state=inc["state"],
            cameras=tuple(c for c in inc["cameras"].split(",") if c), time=finite(inc["first_time"]) or opened,
            opened_at=opened, updated_at=finite(inc["updated_at"]) or opened, drill=bool(inc["drill"]),
            outcome=inc["closed_as"] or ("resolved" if inc["state"] == "resolved" else None),
            lat=finite(inc["lat"]), lon=finite(inc["lon"]), bbox=finite_tuple(first.get("bbox"), 4),
            frame_size=finite_tuple(first.get("frame_size"), 2, int), confidence=finite(first.get("confidence")),
            acked_by=inc["acked_by"], acked_at=finite(inc["acked_at"]), ack_code=inc["ack_code"],
            has_snapshot="snapshot_jpeg_b64" in evidence, clip_url=evidence.get("clip_url"),
            clip_camera=clip_of.get("camera"), clip_event_id=clip_of.get("event_id"),
            pages=pages, audit=trail,
            agency_acks=tuple(AgencyAck(r["agency"], r["acked_by"], r["at"], r["via"])
                              for r in acks_of(self.store, inc["id"])),
            muted=next((t.note[len("not paged: "):] for t in trail if (t.note or "").startswith("not paged: ")), None),
        )

    def _pages(self, incident_id: str) -> list[Page]:
        msgs = self.store.db.all(
            "SELECT m.*, (SELECT MIN(e.at) FROM message_events e WHERE e.message_id = m.id AND e.status IN "
            f"({', '.join('?' * len(DELIVERED))})) AS delivered_at FROM messages m "
            "WHERE m.incident_id = ? AND m.direction = 'out' ORDER BY m.created_at",
            (*DELIVERED, incident_id))
        return [Page(person=m["person"] or m["to_number"], number=m["to_number"], channel=m["channel"],
                     status=m["status"], sent_at=finite(m["created_at"]) or 0.0,
                     updated_at=finite(m["updated_at"]) or 0.0, step=m["step"],
                     error_code=m["error_code"], delivered_at=finite(m["delivered_at"])) for m in msgs]

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
        """For every agency (alerting/acks.py): the control room's word stops all paging."""
        now = time.time()
        alert = self._move(alert_id, "acknowledged", operator, "acknowledged on the control-room page",
                           acked_by=operator, acked_at=now)
        record_control_room(self.store, alert_id, f"{operator} (control room)", now)
        return self.get_alert(alert_id) or alert

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
        """The edge's word on each camera, and whether a maintenance window mutes it now."""
        rows = self.board.rows()
        try:
            muted = muted_cameras(self.store, self.site_id)
        except Exception:  # the store briefly unreachable: health still shows, without the mute
            log.debug("controlroom: maintenance windows not read", exc_info=True)
            return rows
        return [replace(r, muted={"by": muted[r.camera].created_by, "until": muted[r.camera].ends_at,
                                  "reason": muted[r.camera].reason}) if r.camera in muted else r for r in rows]

    def service_problems(self) -> list[str]:
        """The alerting service's health in words ("store: disk full ..."), when it runs in this process; a
        store this page cannot even read is named too."""
        out = list(self._problems()) if self._problems else []
        if not any(p.startswith("store:") for p in out):
            try:
                self.store.db.one("SELECT 1 AS x")
            except Exception as exc:
                out.append(f"store: unreachable: {str(exc)[:200]}")
        return out

    def late_events(self, limit: int = 20) -> list[dict[str, Any]]:
        """Events stored but never paged: their frame was too old when they arrived (alerting.intake)."""
        return [{"event_id": r["event_id"], "camera": r["camera"], "kind": r["kind"], "drill": bool(r["drill"]),
                 "time": finite(r["time"]), "received_at": finite(r["received_at"])}
                for r in self.store.late_events(self.site_id, limit)]

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
