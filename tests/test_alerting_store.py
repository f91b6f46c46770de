"""The alert store on both engines: SQLite (WAL) and a real throwaway PostgreSQL cluster. Two connections
stand in for two alerting nodes: each page is claimed once, each step advanced once, no double page."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import UTC, datetime

import pytest

from quaywatch.alerting.acks import acked_agencies
from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.dispatch import Dispatcher, Incoming
from quaywatch.alerting.escalation import Escalator
from quaywatch.alerting.lifecycle import LifecycleError, transition
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.notify.pager import Page, Sent
from quaywatch.alerting.replies import Replies
from quaywatch.alerting.store import AlertStore
from quaywatch.config.loader import load_site
from tests.peers import Postgres


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    pg = Postgres(tmp_path_factory.mktemp("pg")).start()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/alerts.db"
    pg = request.getfixturevalue("postgres")
    import psycopg

    db = f"t{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    return pg.url.rsplit("/", 1)[0] + f"/{db}"


def site(store_url: str):
    s = load_site("demo")
    s.alerting.store_url = store_url
    return s


def ev(kind="water_entry", camera="cam-1", drill=False) -> dict:
    return {"version": 1, "event_id": f"ev-{uuid.uuid4().hex[:12]}", "kind": kind, "site": "demo-harbour",
            "camera": camera, "time": datetime.now(UTC).isoformat(), "drill": drill}


class Node:
    """One alerting node's objects on its own database connection, paging through the dry-run pager."""

    def __init__(self, store_url: str):
        self.site = site(store_url)
        self.store = AlertStore(store_url)
        self.metrics, self.changes = Metrics(), ChangeFeed()
        self.pager = DryRunPager(io.StringIO())
        self.dispatcher = Dispatcher(self.site, self.store, self.metrics, self.changes)
        self.escalator = Escalator(self.site, self.store, self.pager, self.metrics, self.changes)
        self.replies = Replies(self.escalator, self.store, self.metrics, self.changes)


def test_migrations_apply_once_and_reopen_cleanly(store_url):
    from quaywatch.alerting.store.migrations import MIGRATIONS

    last = MIGRATIONS[-1][0]  # every migration, however many branches add
    a = AlertStore(store_url)
    assert a.db.migrate() == last
    b = AlertStore(store_url)  # a second node starting on the same database
    assert b.db.migrate() == last
    assert a.db.one("SELECT COUNT(*) AS n FROM schema_version")["n"] == len(MIGRATIONS)
    a.close()
    b.close()


def test_two_nodes_never_send_the_same_page_or_step_twice(store_url):
    a, b = Node(store_url), Node(store_url)
    opened = a.dispatcher.ingest([Incoming(ev())])
    assert len(opened) == 1
    incident_id = opened[0].incident_id

    async def both():
        return await asyncio.gather(a.escalator.fire(incident_id, "first page"),
                                    b.escalator.fire(incident_id, "first page"))

    results = asyncio.run(both())
    sent = a.pager.sent + b.pager.sent
    assert sorted(p.to for p in sent) == ["+4520000002", "+4520000003"]  # police and rescue, once each
    assert results.count(True) == 1
    inc = a.store.incident(incident_id)
    assert (inc["state"], inc["step"], inc["loop"]) == ("paged", 0, 0)
    assert len(a.store.messages_of(incident_id)) == 2
    # a redelivered event (same id) on the other node changes nothing
    again = b.dispatcher.ingest([Incoming({**a.store.events_of(incident_id)[0]["payload"]})])
    assert again == [] and b.metrics.sample("quaywatch_alerting_events_duplicate_total") == 1


def test_due_steps_escalate_and_an_sms_ack_stops_them(store_url):
    n = Node(store_url)
    n.site.alerting.policies.water.steps[1].after_s = 0.2
    incident_id = n.dispatcher.ingest([Incoming(ev())])[0].incident_id
    asyncio.run(n.escalator.fire(incident_id, "first page"))
    time.sleep(0.3)
    asyncio.run(n.escalator.tick())
    assert [p.channel for p in n.pager.sent] == ["sms", "sms", "voice", "voice"]
    code = n.store.incident(incident_id)["ack_code"]
    # Each agency for itself (alerting/acks.py): rescue's word leaves police paged until police answers too.
    assert asyncio.run(n.replies.handle("SM1", "+4520000003", f"ok {code}")) == "agency_acknowledged"
    assert n.store.incident(incident_id)["state"] == "paged"
    assert n.pager.sent[-1].to == "+4520000003" and n.pager.sent[-1].body.startswith("Kvitteret")
    assert asyncio.run(n.replies.handle("SM2", "+4520000002", f"{code}")) == "acknowledged"
    assert n.store.incident(incident_id)["state"] == "acknowledged"
    n.store.db.run("UPDATE incidents SET next_due_at = 0 WHERE id = ?", (incident_id,))
    asyncio.run(n.escalator.tick())
    assert len(n.pager.sent) == 6  # nothing more after the acknowledgement (two confirmations)
    states = [t["to_state"] for t in n.store.transitions_of(incident_id) if t["from_state"] != t["to_state"]]
    assert states == ["new", "paged", "acknowledged"]


def test_wrong_ack_codes_are_limited_per_phone_and_answered_three_times_at_most(tmp_path):
    """A paged phone once sent 1,500 wrong codes and got 1,500 SMS answers: no limit on guessing either."""
    n = Node(f"sqlite:///{tmp_path}/a.db")
    incident_id = n.dispatcher.ingest([Incoming(ev())])[0].incident_id
    asyncio.run(n.escalator.fire(incident_id, "first page"))
    code = n.store.incident(incident_id)["ack_code"]
    wrong = [c for c in (f"{i:04d}" for i in range(10000)) if c != code][:15]
    phone = "+4520000003"  # rescue: paged for this incident
    before = len(n.pager.sent)
    results = [asyncio.run(n.replies.handle(f"SMg{i}", phone, f"ok {c}")) for i, c in enumerate(wrong)]
    assert results == ["wrong_code"] * 3 + ["wrong_code_unanswered"] * 7 + ["code_locked"] * 5
    assert [p.to for p in n.pager.sent[before:]] == [phone] * 3  # three answers, then silence
    # Locked for the hour: even the right code from that phone is not looked up; escalation goes on.
    assert asyncio.run(n.replies.handle("SMg-right", phone, f"ok {code}")) == "code_locked"
    assert n.store.incident(incident_id)["state"] == "paged"
    for label, count in (("wrong_code", 3), ("wrong_code_unanswered", 7), ("code_locked", 6)):
        assert n.metrics.sample("quaywatch_alerting_inbound_sms_total", {"result": label}) == count, label
    # Another paged phone is not affected by that one's guessing: police's right code is looked up and
    # acknowledges for police (alerting/acks.py); rescue, whose phone is locked, has not, so it is still paged.
    assert asyncio.run(n.replies.handle("SMp", "+4520000002", f"ok {code}")) == "agency_acknowledged"
    assert acked_agencies(n.store, incident_id) == {"police"}
    assert n.store.incident(incident_id)["state"] == "paged"


def test_replies_bound_to_paged_numbers_and_strangers_rate_limited(tmp_path):
    n = Node(f"sqlite:///{tmp_path}/a.db")
    incident_id = n.dispatcher.ingest([Incoming(ev())])[0].incident_id
    asyncio.run(n.escalator.fire(incident_id, "first page"))
    code = n.store.incident(incident_id)["ack_code"]
    # the control room was not paged for this incident: its number cannot acknowledge it
    assert asyncio.run(n.replies.handle("SM2", "+4520000001", code)) == "wrong_code"
    results = [asyncio.run(n.replies.handle(f"SMx{i}", "+4599999999", code)) for i in range(6)]
    assert results == ["unknown_sender"] * 3 + ["rate_limited"] * 3
    assert asyncio.run(n.replies.handle("SMx0", "+4599999999", code)) == "duplicate"  # Twilio's webhook retry
    assert n.store.incident(incident_id)["state"] == "paged"
    answered = [p for p in n.pager.sent if p.to == "+4599999999"]
    assert len(answered) == 3


def test_lifecycle_refuses_moves_it_does_not_allow(store_url):
    n = Node(store_url)
    incident_id = n.dispatcher.ingest([Incoming(ev())])[0].incident_id
    now = time.time()
    with pytest.raises(LifecycleError, match="closed_as"):
        transition(n.store, incident_id, "closed", actor="op", now=now)
    assert transition(n.store, incident_id, "closed", actor="op Ann", now=now, closed_as="false_alarm", note="gull")
    with pytest.raises(LifecycleError, match="is closed; it cannot become acknowledged"):
        transition(n.store, incident_id, "acknowledged", actor="op", now=now)
    last = n.store.transitions_of(incident_id)[-1]
    assert (last["actor"], last["to_state"], last["note"]) == ("op Ann", "closed", "false_alarm: gull")
    assert n.store.incident(incident_id)["closed_as"] == "false_alarm"


def test_drills_and_camera_trouble_group_apart(tmp_path):
    n = Node(f"sqlite:///{tmp_path}/a.db")
    n.site.alerting.overlapping_cameras = [["cam-1", "cam-2"]]
    n.dispatcher = Dispatcher(n.site, n.store, n.metrics, n.changes)
    opened = n.dispatcher.ingest([Incoming(ev()), Incoming(ev(camera="cam-2")), Incoming(ev(drill=True)),
                                  Incoming(ev(kind="camera_offline")), Incoming(ev(kind="camera_offline",
                                                                                      camera="cam-2"))])
    incs = {i["id"]: i for i in n.store.incidents()}
    assert len(opened) == 4  # water (cam-1 + cam-2), drill, two cameras offline each on its own
    water = [i for i in incs.values() if i["category"] == "water" and not i["drill"]]
    assert len(water) == 1 and water[0]["cameras"] == "cam-1,cam-2"
    for o in opened:
        asyncio.run(n.escalator.fire(o.incident_id, "first page"))
    drill_pages = [p for p in n.pager.sent if p.drill]
    assert [p.to for p in drill_pages] == ["+4520000009"]
    assert {p.to for p in n.pager.sent if "kamera offline" in p.body} == {"+4520000001"}


def test_distant_cameras_are_separate_incidents_each_paged_at_once(tmp_path):
    """Two people in the water at two quays ~380 m apart within the grouping window: two incidents, and
    each first SMS names its own camera (grouping them would send rescue to one place only)."""
    n = Node(f"sqlite:///{tmp_path}/a.db")
    assert n.site.alerting.grouping_window_s > 0 and not n.site.alerting.overlapping_cameras
    opened = n.dispatcher.ingest([Incoming(ev()), Incoming(ev(camera="cam-2"))])
    assert len(opened) == 2
    assert sorted(i["cameras"] for i in n.store.incidents()) == ["cam-1", "cam-2"]
    for o in opened:
        asyncio.run(n.escalator.fire(o.incident_id, "first page"))
    bodies = [p.body for p in n.pager.sent if p.to == "+4520000002"]
    assert len(bodies) == 2 and any(" cam-1: " in b for b in bodies) and any(" cam-2: " in b for b in bodies)


def test_neighbours_by_radius_and_by_declared_overlap():
    from quaywatch.alerting.neighbours import distance_m, neighbours

    s = load_site("demo")
    a, b = (c.location for c in s.cameras)
    assert 300 < distance_m(a.lat, a.lon, b.lat, b.lon) < 450
    assert neighbours(s)["cam-1"] == {"cam-1"}
    s.alerting.grouping_radius_m = 500
    assert neighbours(s)["cam-1"] == {"cam-1", "cam-2"}
    s.alerting.grouping_radius_m = 150
    s.alerting.overlapping_cameras = [["cam-2", "cam-1"]]
    assert neighbours(s)["cam-2"] == {"cam-1", "cam-2"}


def test_overlapping_cameras_must_exist():
    from quaywatch.config import load_yaml, site_from_dict
    from quaywatch.config.loader import SITES_DIR
    from quaywatch.errors import ConfigError

    data = load_yaml(SITES_DIR / "demo.yaml")
    data["alerting"]["overlapping_cameras"] = [["cam-1", "cam-9"]]
    with pytest.raises(ConfigError) as exc:
        site_from_dict(data)
    assert exc.value.problems == ["alerting: overlapping_cameras[0][1]: unknown camera 'cam-9'"]


def test_sqlite_wal_is_checkpointed_off_the_writers_path(tmp_path):
    """Commits only append to the WAL (no inline checkpoint); the store's checkpoint thread copies the frames
    into the database file soon after, so the WAL does not grow without bound and the file holds the data."""
    path = tmp_path / "alerts.db"
    n = Node(f"sqlite:///{path}")
    assert n.store.db.one("PRAGMA wal_autocheckpoint")["wal_autocheckpoint"] == 0
    big = "A" * 30_000
    n.dispatcher.ingest([Incoming({**ev(), "evidence": {"snapshot_jpeg_b64": big}}) for _ in range(200)])
    # Right after the commit the data is in the WAL only; nobody but the store's thread checkpoints here, so
    # the database file growing to hold it shows that thread at work.
    deadline = time.time() + 10
    while path.stat().st_size < 200 * 30_000 and time.time() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 200 * 30_000, "the checkpoint thread never copied the WAL into the file"
    n.store.close()
    assert not n.store.db._checkpointer._thread.is_alive()


class CallbackFirstPager(DryRunPager):
    """The dry-run pager, but Twilio is quick: each page's status callbacks (`early`, per number) reach the
    service while the send's own answer ('queued') is still on its way back, i.e. before it is recorded."""

    def __init__(self, early: dict[str, list[tuple[str, str | None]]]):
        super().__init__(io.StringIO())
        self.early = early
        self.service = None

    async def send(self, page: Page) -> Sent:
        await super().send(page)
        for status, error_code in self.early.get(page.to, []):
            await self.service.delivery_status(page.key, status, error_code, self.sid_of(page))
        return Sent(sid=self.sid_of(page), status="queued", attempts=1)


def test_a_delivery_callback_before_the_send_is_recorded_is_not_overwritten(store_url):
    """Twilio's callback can beat the recording of the send's own answer: the message's status only ever moves
    forward in Twilio's lifecycle, every status is kept in message_events as received, and the step counts
    as delivered (no escalation for want of a confirmation)."""
    from quaywatch.alerting.service import AlertingService

    police, rescue = "+4520000002", "+4520000003"
    pager = CallbackFirstPager({police: [("delivered", None)], rescue: [("sent", None)]})
    svc = AlertingService(site(store_url), dry_run=True, pager=pager)
    pager.service = svc
    incident_id = svc.dispatcher.ingest([Incoming(ev())])[0].incident_id
    asyncio.run(svc.escalator.fire(incident_id, "first page"))
    rows = {m["to_number"]: m for m in svc.store.messages_of(incident_id)}
    assert (rows[police]["status"], rows[police]["provider_sid"]) == ("delivered", DryRunPager.sid_of(
        Page(rows[police]["id"], "sms", police, "")))
    assert rows[rescue]["status"] == "sent" and rows[rescue]["attempts"] == 1  # 'queued' came later: kept 'sent'
    assert [e["status"] for e in svc.store.message_events_of(rows[police]["id"])] == ["sending", "delivered", "queued"]
    assert [e["status"] for e in svc.store.message_events_of(rows[rescue]["id"])] == ["sending", "sent", "queued"]
    # Late and out of order: rescue's 'delivered', then a webhook retry of its 'sent'; police's duplicate 'sent'.
    key = rows[rescue]["id"]
    asyncio.run(svc.delivery_status(key, "delivered", None, rows[rescue]["provider_sid"]))
    asyncio.run(svc.delivery_status(key, "sent", None, rows[rescue]["provider_sid"]))
    asyncio.run(svc.delivery_status(rows[police]["id"], "sent", None, rows[police]["provider_sid"]))
    assert [svc.store.message(m["id"])["status"] for m in rows.values()] == ["delivered", "delivered"]
    assert [e["status"] for e in svc.store.message_events_of(key)] == ["sending", "sent", "queued", "delivered", "sent"]
    assert svc.metrics.sample("quaywatch_alerting_delivery_status_total", {"status": "sent"}) == 3
    # A carrier hiccup (30008) reported after the delivery was confirmed is kept in the trail, not resent.
    asyncio.run(svc.delivery_status(rows[police]["id"], "undelivered", "30008", rows[police]["provider_sid"]))
    assert svc.store.message(rows[police]["id"])["status"] == "delivered" and len(pager.sent) == 2
    assert svc.store.message_events_of(rows[police]["id"])[-1]["detail"] == "arrived after delivered: recorded status kept"
    # Both confirmed: the delivery check does not escalate.
    inc = svc.store.incident(incident_id)
    asyncio.run(svc.escalator._check_delivery(inc, time.time()))
    assert len(pager.sent) == 2 and svc.store.incident(incident_id)["delivery_check_at"] is None
    # A callback without our key in its URL is matched by the SID.
    asyncio.run(svc.delivery_status("", "read", None, rows[police]["provider_sid"]))
    assert svc.store.message(rows[police]["id"])["status"] == "read"
    svc.store.close()


def test_message_status_only_moves_forward_for_calls_and_sms(store_url):
    store = AlertStore(store_url)
    now = time.time()
    for key, channel in (("call", "voice"), ("sms", "sms")):
        store.claim_message({"id": key, "incident_id": None, "direction": "out", "channel": channel,
                             "to_number": "+4520000002", "from_number": "+4520000000", "body": "x"}, now)

    def feed(key, *statuses):
        return [store.update_message(key, now, s, provider_sid="SID" + key) for s in statuses]

    taken = feed("call", "ringing", "queued", "completed", "in-progress", "ringing", "busy")
    assert store.message("call")["status"] == "completed"
    assert taken == [True, False, True, False, False, False]
    # Twilio's own 'sending' never turns a recorded message back into one that looks in flight (our claim).
    taken = feed("sms", "queued", "sending", "accepted", "sent", "queued", "undelivered", "sent")
    assert (store.message("sms")["status"], store.message("sms")["provider_sid"]) == ("undelivered", "SIDsms")
    assert taken == [True, False, False, True, False, True, False]
    assert [e["status"] for e in store.message_events_of("sms")] == \
        ["sending", "queued", "sending", "accepted", "sent", "queued", "undelivered", "sent"]
    store.close()


def test_rejected_payloads_are_kept_newest_first_and_bounded(store_url):
    store = AlertStore(store_url)
    row = {"at": 1.0, "reason": "depth", "detail": "nested", "topic": "t", "size": 3, "prefix": "[[["}
    store.set_aside([{**row, "detail": f"n{i}"} for i in range(5)], keep=3)
    store.set_aside([{**row, "detail": "n5"}], keep=3)
    assert [r["detail"] for r in store.rejected()] == ["n5", "n4", "n3"]
    store.close()


def test_events_taken_while_postgresql_is_down_are_held_and_stored_once_it_is_back(tmp_path):
    """A PostgreSQL restart (or failover) under intake: the lost connection, then each reconnect that finds
    nobody listening, is the store's failure. Intake holds the batch however long that lasts and stores it
    once the server is back; it never takes it for a poison event (set aside, acked, never paged)."""
    import signal

    from quaywatch.alerting.intake import Intake

    pg = Postgres(tmp_path / "pg").start()
    try:
        n = Node(pg.url)
        intake = Intake(n.site.mqtt, "127.0.0.1", 1, n.site.site.id, "test-intake", n.metrics,
                        lambda items: asyncio.to_thread(n.dispatcher.commit, items))
        e = ev()
        pg.process.signal(signal.SIGINT)  # fast shutdown: the node's connection is cut
        pg.process.proc.wait(30)
        pg.process.stop()

        async def scenario() -> list:
            stop = asyncio.Event()
            held = asyncio.create_task(intake._until_taken(intake.handle, [Incoming(e)], stop))
            await asyncio.sleep(3.5)  # five tries (0.2, 0.4, 0.8, 1.6 s apart), every one failing
            assert not held.done(), held.result()
            assert intake.holding_since is not None, "health would not name the store"
            await asyncio.to_thread(pg.run, "postgres-again.log")
            return await asyncio.wait_for(held, 30)

        assert asyncio.run(scenario()) == []  # nothing set aside
        assert intake.holding_since is None
        rows = n.store.db.all("SELECT event_id, incident_id FROM events")
        assert [r["event_id"] for r in rows] == [e["event_id"]] and rows[0]["incident_id"], rows  # stored, opened
        assert n.metrics.sample("quaywatch_alerting_events_rejected_total", {"reason": "handling_failed"}) == 0
    finally:
        pg.stop()
