"""The embedded broker (amqtt) that runs when no `mqtt.host` is configured: the edge's events and retained
statuses go through it, a second part reuses it, and stopping it leaves no process behind."""

from __future__ import annotations

import socket
import time

import pytest

from quaywatch.broker import EmbeddedBroker, ensure_broker
from quaywatch.config.wire import decode
from quaywatch.edge.outbox import Outbox
from quaywatch.errors import QuaywatchError
from tests.peers import MqttRecorder, free_port
from tests.test_edge_mqtt import CAM, TOPICS, fall, link_for


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_events_flow_through_the_embedded_broker_and_stop_leaves_nothing(tmp_path):
    port = free_port()
    host, got_port, broker = ensure_broker(None, port)
    assert (host, got_port) == ("127.0.0.1", port) and broker is not None and broker.running
    try:
        # Another quaywatch part on the same box finds it listening and reuses it instead of failing.
        assert ensure_broker(None, port)[2] is None
        rec = MqttRecorder(port, "quaywatch/#", client_id="alerting-embedded")
        outbox = Outbox(tmp_path / "outbox.db")
        link = link_for(outbox, port).start()
        sent = []
        for i in range(5):
            eid, wire = fall(i)
            outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
            sent.append(eid)
        link.notify()
        try:
            assert rec.wait_for(lambda m: sum(t.endswith("/events") for t, _, _ in m) >= 5, 10)
            got = [decode("event", p)["event_id"] for t, p, _ in rec.messages if t.endswith("/events")]
            assert got == sent
            assert any(t == TOPICS.worker_status("edge-t") for t, _, _ in rec.messages)
        finally:
            link.stop()
            rec.close()
    finally:
        broker.stop()
    assert not broker.running and not listening(port)


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(QuaywatchError, match=f"127.0.0.1:{port} is already in use"):
            EmbeddedBroker(port=port).start()


def test_a_configured_broker_is_used_as_is():
    assert ensure_broker("mqtt.example.net", 8883) == ("mqtt.example.net", 8883, None)
