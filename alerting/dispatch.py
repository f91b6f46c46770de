"""From valid events to incidents: deduplicate, group, open.

Several cameras seeing one incident within the grouping window page once: the first event opens the
incident and is paged at once by the caller (never held back to wait for more; the escalation loop pages it
only as a fallback, FIRST_PAGE_GRACE_S after the commit); later events in the window join it,
and every later step of its escalation names all its cameras. Camera trouble (offline, failed
self-test) is its own incident per camera and goes to the control room; `camera_online` resolves it.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.lifecycle import audit, transition
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.neighbours import neighbours
from quaywatch.alerting.store import AlertStore
from quaywatch.config.site import Site

log = logging.getLogger(__name__)

WATER_KINDS = ("water_entry", "person_in_water")
CAMERA_TROUBLE = ("camera_offline", "self_test_failed")
# A new incident's first page is sent by whoever committed it (AlertingService.handle_batch), at once and
# carrying the event's receive time. The escalation loop, which sends whatever is due, takes it over only if
# that fire has not happened this long after the commit (it failed, or the process died in between): so the
# loop never sends, between the commit and the fire, a first page the latency metric would then miss.
FIRST_PAGE_GRACE_S = 2.0


@dataclass
class Incoming:
    payload: dict[str, Any]
    received: float = field(default_factory=time.perf_counter)  # for the event -> request latency
    received_wall: float = field(default_factory=time.time)
    raw: str | None = None  # the payload's JSON text as received, stored as is


@dataclass
class Opened:
    incident_id: str
    received: float


def category_of(kind: str) -> str | None:
    if kind in WATER_KINDS:
        return "water"
    if kind in CAMERA_TROUBLE:
        return "camera"
    return None


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def new_incident_id(now: float) -> str:
    return time.strftime("inc-%Y%m%d-%H%M%S-", time.gmtime(now)) + secrets.token_hex(3)


class Dispatcher:
    def __init__(self, site: Site, store: AlertStore, metrics: Metrics, changes: ChangeFeed):
        self.site = site
        self.cfg = site.alerting
        self.store = store
        self.metrics = metrics
        self.changes = changes
        self.neighbours = neighbours(site)

    def ingest(self, batch: list[Incoming]) -> list[Opened]:
        """Store a batch of valid events in one durable transaction; return the incidents to page now."""
        opened, notices = self.commit(batch)
        self.announce(notices)
        return opened

    def commit(self, batch: list[Incoming]) -> tuple[list[Opened], list[tuple[str, str]]]:
        """The store half of `ingest`, safe to run on a worker thread (it touches no asyncio object): the
        service commits here while its event loop goes on reading the next batch off the socket, so the
        fsync of one batch overlaps the receiving and validating of the next. Returns the incidents to page
        and the change notices to `announce` (on the loop) once it is back."""
        opened: list[Opened] = []
        notices: list[tuple[str, str]] = []
        now = time.time()
        self._locked: set[str] = set()
        # Within one batch the site lock is held, so an incident found (or opened) for a group key stays the
        # one to join: remember it rather than asking the database again for every event of a burst.
        self._groups: dict[tuple, tuple[str, set[str]]] = {}
        with self.store.db.tx():
            for item in batch:
                self._one(item, now, opened, notices)
        return opened, notices

    def announce(self, notices: list[tuple[str, str]]) -> None:
        for incident_id, what in notices:
            self.changes.publish(incident_id, what)

    def _one(self, item: Incoming, now: float, opened: list[Opened], notices: list[tuple[str, str]]) -> None:
        ev = item.payload
        t = epoch(ev["time"])
        if not self.store.insert_event(ev, t, item.received_wall, item.raw):
            self.metrics.duplicates.inc()
            return
        self.metrics.events.labels(ev["kind"]).inc()
        if ev["site"] != self.site.site.id:
            log.warning("event %s is for site %r, this service pages for %r: stored, not paged",
                        ev["event_id"], ev["site"], self.site.site.id)
            return
        if ev["kind"] == "camera_online":
            self._camera_back(ev, now, notices)
            return
        category = category_of(ev["kind"])
        if category is None:
            return
        drill = bool(ev.get("drill"))
        if ev["site"] not in self._locked:  # held until this batch's commit
            self.store.lock_site(ev["site"])
            self._locked.add(ev["site"])
        # Water events join what a neighbouring camera saw; camera trouble is each camera's own.
        near = self.neighbours.get(ev["camera"], frozenset({ev["camera"]})) if category == "water" \
            else frozenset({ev["camera"]})
        key = (ev["site"], category, drill, near)
        joined = self._groups.get(key) if self.cfg.grouping_window_s > 0 else None
        if joined is None and self.cfg.grouping_window_s > 0:
            row = self.store.groupable_incident(ev["site"], category, drill, now - self.cfg.grouping_window_s,
                                                cameras=near)
            if row:
                joined = self._groups[key] = (row["id"], set(row["cameras"].split(",")))
        if joined:
            incident_id, cameras = joined
            self.store.bind_event(ev["event_id"], incident_id)
            if ev["camera"] not in cameras and self.store.add_camera(incident_id, ev["camera"], now):
                cameras.add(ev["camera"])
                audit(self.store, incident_id, actor="intake", now=now,
                      note=f"camera {ev['camera']} saw it too (event {ev['event_id']})")
                notices.append((incident_id, "camera_joined"))
            return
        incident_id = self._open(ev, category, drill, t, now)
        self._groups[key] = (incident_id, {ev["camera"]})
        self.store.bind_event(ev["event_id"], incident_id)
        self.metrics.incidents.labels(category, str(drill).lower()).inc()
        opened.append(Opened(incident_id, item.received))
        notices.append((incident_id, "opened"))

    def _open(self, ev: dict[str, Any], category: str, drill: bool, t: float, now: float) -> str:
        loc = ev.get("location") or {}
        if not loc:
            cam = next((c for c in self.site.cameras if c.id == ev["camera"]), None)
            if cam and cam.location:
                loc = {"lat": cam.location.lat, "lon": cam.location.lon}
        incident_id = new_incident_id(now)
        self.store.create_incident({
            "id": incident_id, "site": ev["site"], "category": category, "kind": ev["kind"], "drill": int(drill),
            "state": "new", "cameras": ev["camera"], "first_time": t, "opened_at": now, "updated_at": now,
            "lat": loc.get("lat"), "lon": loc.get("lon"), "ack_code": self._ack_code(),
            "step": -1, "loop": 0, "next_due_at": now + FIRST_PAGE_GRACE_S,  # the fire advances it at once
        })
        self.store.add_transition(incident_id, now, None, "new", "intake",
                                  f"{ev['kind']} on {ev['camera']} (event {ev['event_id']})"
                                  + (" [drill]" if drill else ""))
        return incident_id

    def _ack_code(self) -> str:
        for _ in range(50):
            code = f"{1000 + secrets.randbelow(9000)}"
            if not self.store.ack_code_in_use(code):
                return code
        return f"{10000 + secrets.randbelow(90000)}"  # 50 clashes: thousands open; widen rather than reuse

    def _camera_back(self, ev: dict[str, Any], now: float, notices: list[tuple[str, str]]) -> None:
        for inc in self.store.incidents(site=ev["site"], states=("new", "paged", "acknowledged"), limit=50):
            if inc["category"] != "camera" or ev["camera"] not in inc["cameras"].split(","):
                continue
            if transition(self.store, inc["id"], "resolved", actor="intake", now=now,
                          note=f"camera {ev['camera']} back online (event {ev['event_id']})"):
                notices.append((inc["id"], "resolved"))
