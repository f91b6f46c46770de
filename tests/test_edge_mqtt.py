"""Store and forward against a real Mosquitto: a broker killed mid-stream loses nothing, keeps order; an
edge restart resends what the broker never acknowledged; statuses are retained."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from quaywatch.config import load_site
from quaywatch.config.mqtt import MqttConfig
from quaywatch.config.wire import decode
from quaywatch.detector.types import Detection
from quaywatch.edge.events import detection_event, to_wire
from quaywatch.edge.mqtt import MqttLink, Topics, worker_status
from quaywatch.edge.outbox import Outbox
from tests.peers import Mosquitto, MqttRecorder

SITE = load_site("demo")
CAM = SITE.cameras[0]
TOPICS = Topics("quaywatch", SITE.site.id)


@pytest.fixture
def durable_broker():
    """Mosquitto in a directory its (dropped-privilege) user can reach, so sessions really persist across a
    kill -9. (Under pytest's 0700 tmp_path a root-started mosquitto cannot write its database.)"""
    broker = Mosquitto().start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.dir, ignore_errors=True)


def fall(i: int) -> tuple[str, bytes]:
    det = Detection("water_entry", time.time(), i, track_id=i, bbox=(10, 20, 8, 16), confidence=0.9)
    payload = detection_event(SITE.site.id, CAM, det, (384, 288))
    return payload["event_id"], to_wire(payload)


def link_for(outbox: Outbox, port: int, worker: str = "edge-t") -> MqttLink:
    cfg = MqttConfig(host="127.0.0.1", port=port, keepalive_s=2, reconnect_min_s=0.1, reconnect_max_s=0.5)
    return MqttLink(cfg, SITE.site.id, worker, outbox, "127.0.0.1", port)


def event_ids(rec: MqttRecorder) -> list[str]:
    return [decode("event", p)["event_id"] for t, p, _ in list(rec.messages) if t.endswith("/events")]


def first_seen(ids: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)


def test_broker_killed_and_restarted_mid_stream_loses_nothing_and_keeps_order(durable_broker, tmp_path):
    mosquitto = durable_broker
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="alerting-test")
    outbox = Outbox(tmp_path / "outbox.db")
    link = link_for(outbox, mosquitto.port).start()
    assert link.wait_connected(10)
    sent: list[str] = []

    def produce() -> None:  # a fall every 50 ms, through the outage
        for i in range(100):
            eid, wire = fall(i)
            outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
            sent.append(eid)
            link.notify()
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(2.5)  # mosquitto saves its sessions every ~1-2 s; the subscriber's must be on disk
    mosquitto.kill()
    time.sleep(2.0)  # events keep coming while the broker is dead: they wait in the outbox
    queued_during_outage = len(outbox)
    mosquitto.start()
    broker_back = time.monotonic()
    producer.join()
    try:
        assert rec.wait_for(lambda m: len(set(event_ids(rec))) >= len(sent), timeout=30), (
            f"got {len(set(event_ids(rec)))} of {len(sent)} events"
        )
        got = event_ids(rec)
        assert first_seen(got) == sent, "events lost or out of order"
        duplicates = len(got) - len(set(got))
        # Sequential QoS 1: at most the one in flight when the broker died comes twice (harmless by id).
        assert duplicates <= 2, f"{duplicates} duplicate deliveries"
        assert queued_during_outage > 0
        assert len(outbox) == 0
        assert link.stats.disconnects >= 1 and link.stats.outages_s
        print(f"\nbroker outage: {queued_during_outage} events held in the outbox; link down "
              f"{link.stats.outages_s[-1]:.2f}s, reconnected {link.stats.connected_at - broker_back:.2f}s "
              f"after the broker was listening again; "
              f"{duplicates} duplicate deliveries; {link.stats.resent} resent")
    finally:
        link.stop()
        rec.close()


def test_edge_restart_resends_what_the_broker_never_acknowledged(tmp_path):
    broker = Mosquitto()  # not started: the edge runs while the broker is down
    outbox = Outbox(tmp_path / "outbox.db")
    link = link_for(outbox, broker.port).start()
    sent = []
    for i in range(5):
        eid, wire = fall(i)
        outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
        sent.append(eid)
    link.notify()
    time.sleep(0.5)
    link.stop()
    outbox.close()  # the edge process is gone; only the database file remains

    broker.start()
    rec = MqttRecorder(broker.port, "quaywatch/#", client_id="alerting-test")
    outbox2 = Outbox(tmp_path / "outbox.db")
    assert len(outbox2) == 5
    link2 = link_for(outbox2, broker.port).start()
    try:
        assert rec.wait_for(lambda m: len(set(event_ids(rec))) >= 5, timeout=15)
        assert first_seen(event_ids(rec)) == sent
        time.sleep(0.2)
        assert len(outbox2) == 0
    finally:
        link2.stop()
        rec.close()
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)


def test_two_workers_cannot_share_one_outbox(tmp_path):
    from quaywatch.errors import QuaywatchError

    first = Outbox(tmp_path / "o.db")
    with pytest.raises(QuaywatchError, match="another edge worker is already using this outbox"):
        Outbox(tmp_path / "o.db")
    first.close()
    Outbox(tmp_path / "o.db").close()  # free again once the first has gone


def test_outbox_refuses_a_repeated_event_id(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    eid, wire = fall(1)
    assert outbox.put(eid, "t", wire, 0.0)
    assert not outbox.put(eid, "t", wire, 0.0)
    assert [p.event_id for p in outbox.pending()] == [eid]
    outbox.ack(outbox.pending()[0].seq)
    assert len(outbox) == 0


def test_statuses_are_retained_and_a_clean_stop_says_offline(mosquitto, tmp_path):
    outbox = Outbox(tmp_path / "outbox.db")
    link = link_for(outbox, mosquitto.port, worker="edge-s").start()
    cam_topic = TOPICS.camera_status(CAM.id)
    link.set_status(cam_topic, worker_status(SITE.site.id, "edge-s", "degraded", "low fps"))
    assert link.wait_connected(10)
    time.sleep(0.5)
    # A subscriber that arrives later still learns the state: the messages are retained.
    late = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="late")
    try:
        assert late.wait_for(lambda m: any(t == cam_topic and r for t, _, r in m), 5)
        worker_topic = TOPICS.worker_status("edge-s")
        assert late.wait_for(lambda m: any(t == worker_topic and r for t, _, r in m), 5)
        assert decode("status", [p for t, p, _ in late.messages if t == worker_topic][-1])["state"] == "online"
        link.stop()
        assert late.wait_for(
            lambda m: any(t == worker_topic and decode("status", p)["reason"] == "stopped" for t, p, _ in m), 5)
    finally:
        late.close()


@pytest.mark.parametrize("bad", [{"password_env": "QW_NOPE_PW", "username": "edge"}])
def test_missing_broker_password_variable_is_named(bad, tmp_path, monkeypatch):
    monkeypatch.delenv("QW_NOPE_PW", raising=False)
    from quaywatch.errors import QuaywatchError

    cfg = MqttConfig(host="127.0.0.1", **bad)
    with pytest.raises(QuaywatchError, match="QW_NOPE_PW"):
        MqttLink(cfg, "s", "w", Outbox(tmp_path / "o.db"), "127.0.0.1", 1)


def test_an_event_the_broker_always_refuses_cannot_hold_back_the_ones_behind_it(tmp_path):
    """A broker whose packet limit is smaller than one event drops the connection on every try; after
    `max_publish_attempts` that event is set aside (kept, logged) and the alerts queued behind it go out."""
    broker = Mosquitto()
    broker.conf.write_text(broker.conf.read_text() + "max_packet_size 3000\n")
    broker.start()
    rec = MqttRecorder(broker.port, "quaywatch/#", client_id="alerting-test")
    outbox = Outbox(tmp_path / "outbox.db")
    big_id, small_id = "poison-0000-big", "after-0000-small"
    det = Detection("water_entry", time.time(), 0, track_id=1, bbox=(10, 20, 8, 16), confidence=0.9)
    big = detection_event(SITE.site.id, CAM, det, (384, 288), {"snapshot_jpeg_b64": "A" * 5000}, event_id=big_id)
    small = detection_event(SITE.site.id, CAM, det, (384, 288), event_id=small_id)
    outbox.put(big_id, TOPICS.events(CAM.id), to_wire(big), time.time())
    outbox.put(small_id, TOPICS.events(CAM.id), to_wire(small), time.time())
    cfg = MqttConfig(host="127.0.0.1", port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.1,
                     max_publish_attempts=3)
    link = MqttLink(cfg, SITE.site.id, "edge-t", outbox, "127.0.0.1", broker.port).start()
    try:
        assert rec.wait_for(lambda m: small_id in event_ids(rec), 20), link.stats.as_dict()
        assert big_id not in event_ids(rec)
        assert [eid for eid, _ in outbox.dead()] == [big_id]
        assert "not acknowledged after 3 attempts" in outbox.dead()[0][1]
        deadline = time.monotonic() + 5
        while len(outbox) and time.monotonic() < deadline:  # the PUBACK may trail the delivery
            time.sleep(0.05)
        assert link.stats.buried == 1 and len(outbox) == 0
    finally:
        link.stop()
        rec.close()
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)
