"""The embedded broker (amqtt) that runs when no `mqtt.host` is configured: never anonymous. The edge and
alerting log in with this install's generated accounts; the edge's events and retained statuses go
through it; a second part reuses it; an anonymous client, a wrong password, a publish outside the edge's
own cameras (another site, a camera not configured, alerting publishing at all) and a topic with a control
character are refused; stopping it leaves no process behind."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from quaywatch.broker import EmbeddedBroker, ensure_broker, ensure_site_broker
from quaywatch.config.loader import SITES_DIR as SITES
from quaywatch.config.wire import decode
from quaywatch.edge.mqtt import MqttLink
from quaywatch.edge.outbox import Outbox
from quaywatch.errors import QuaywatchError
from quaywatch.mqtt_accounts import credentials
from quaywatch.mqtt_passwd import hash_password
from tests.peers import MqttRecorder, free_port
from tests.test_edge_mqtt import CAM, SITE, TOPICS, fall


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def site_for(tmp_path, port: int):
    """The demo site on the embedded broker: no `mqtt.host`, no accounts configured (as the Aalborg site)."""
    mqtt = SITE.mqtt.model_copy(update={"host": None, "port": port, "credentials_dir": str(tmp_path / "mqtt")})
    return SITE.model_copy(update={"mqtt": mqtt})


def connack(port: int, username: str | None, password: str | None) -> int:
    """The broker's CONNACK reason code for this login (0 = accepted)."""
    got: list[int] = []
    done = threading.Event()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
    if username is not None:
        c.username_pw_set(username, password)
    c.on_connect = lambda cl, u, f, rc, p=None: (got.append(rc.value), done.set())
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    try:
        done.wait(10)
    finally:
        c.loop_stop()
        c.disconnect()
    assert got, "no CONNACK (the broker dropped the connection instead)"
    return got[0]


@pytest.fixture
def embedded(tmp_path):
    """The site's embedded broker, plus a `spy` account that may read everything (test only), so a test
    can see what the broker did NOT pass on."""
    site = site_for(tmp_path, free_port())
    _, port, broker = ensure_site_broker(site)
    broker.stop()
    accounts = tmp_path / "mqtt" / f"{site.site.id}.broker-accounts.json"
    doc = json.loads(accounts.read_text())
    doc["users"]["spy"] = {"hash": hash_password("spy-pw"), "write": [], "read": ["#"]}
    accounts.write_text(json.dumps(doc))
    broker = EmbeddedBroker(accounts, port=port, log_file=tmp_path / "broker.log").start()
    yield site, broker
    broker.stop()


def test_events_flow_through_the_embedded_broker_and_stop_leaves_nothing(tmp_path):
    port = free_port()
    site = site_for(tmp_path, port)
    host, got_port, broker = ensure_site_broker(site)
    assert (host, got_port) == ("127.0.0.1", port) and broker is not None and broker.running
    try:
        # Another quaywatch part on the same box finds it listening and reuses it instead of failing.
        assert ensure_site_broker(site)[2] is None
        # Both parts got this install's generated passwords (0600), the same on every call.
        user, pw = credentials(site, "alerting")
        assert credentials(site, "alerting") == (user, pw) and pw
        assert (tmp_path / "mqtt" / f"{site.site.id}.passwords.json").stat().st_mode & 0o077 == 0
        rec = MqttRecorder(port, f"quaywatch/{site.site.id}/#", client_id="alerting-embedded",
                           username=user, password=pw)
        outbox = Outbox(tmp_path / "outbox.db")
        link = MqttLink(site.mqtt, site.site.id, site.edge.worker_id, outbox, "127.0.0.1", port,
                        credentials=credentials(site, "edge")).start()
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
            assert any(t == TOPICS.worker_status(site.edge.worker_id) for t, _, _ in rec.messages)
        finally:
            link.stop()
            rec.close()
    finally:
        broker.stop()
    assert not broker.running and not listening(port)


def test_anonymous_and_wrong_passwords_are_refused(embedded):
    site, broker = embedded
    user, pw = credentials(site, "edge")
    assert connack(broker.port, user, pw) == 0  # the right password gets in: the refusals below are real
    assert connack(broker.port, None, None) != 0
    assert connack(broker.port, user, pw + "x") != 0
    assert connack(broker.port, "nobody", pw) != 0
    assert connack(broker.port, user, "") != 0


def test_the_edge_publishes_only_its_own_cameras_and_alerting_only_reads(embedded, tmp_path):
    site, broker = embedded
    spy = MqttRecorder(broker.port, "#", client_id="spy", username="spy", password="spy-pw")
    base = f"quaywatch/{site.site.id}"
    forged = [f"quaywatch/other-harbour/{CAM.id}/events",  # another site
              f"{base}/cam-99/events",  # a camera this site does not have
              f"{base}/edge/another-worker/status",  # another worker's status
              f"{base}/{CAM.id}/events\nFAKE 2026 ERROR forged log line"]  # a control character
    _, wire = fall(1)
    try:
        for role, topics in (("edge", forged), ("alerting", [f"{base}/{CAM.id}/events"])):
            user, pw = credentials(site, role)
            c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"forger-{role}")
            c.username_pw_set(user, pw)
            c.connect("127.0.0.1", broker.port, keepalive=5)
            c.loop_start()
            for t in topics:
                c.publish(t, wire, qos=1).wait_for_publish(5)
            if role == "edge":  # and then one it may publish, which must arrive (so the others had time to)
                c.publish(f"{base}/{CAM.id}/events", wire, qos=1).wait_for_publish(5)
                assert spy.wait_for(lambda m: any(t == f"{base}/{CAM.id}/events" for t, _, _ in m), 10)
            c.loop_stop()
            c.disconnect()
        time.sleep(0.5)
        assert [t for t, _, _ in spy.messages] == [f"{base}/{CAM.id}/events"]
    finally:
        spy.close()
    # The refusals are logged with the topic quoted: the newline did not start a line of its own.
    log = (tmp_path / "broker.log").read_text()
    assert "refused MQTT publish" in log and "\\nFAKE" in log
    assert not any(line.startswith("FAKE") for line in log.splitlines())


def test_a_subscription_outside_the_accounts_read_rights_gets_nothing(embedded):
    site, broker = embedded
    user, pw = credentials(site, "alerting")
    rec = MqttRecorder(broker.port, "#", client_id="alerting-greedy", username=user, password=pw)  # all sites
    edge_user, edge_pw = credentials(site, "edge")
    nosy = MqttRecorder(broker.port, f"quaywatch/{site.site.id}/#", client_id="edge-nosy",
                        username=edge_user, password=edge_pw)  # the edge reads nothing
    outbox = Outbox(broker.accounts_file.parent / "o.db")
    link = MqttLink(site.mqtt, site.site.id, site.edge.worker_id, outbox, "127.0.0.1", broker.port,
                    credentials=(edge_user, edge_pw)).start()
    try:
        eid, wire = fall(3)
        outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
        link.notify()
        deadline = time.monotonic() + 10
        while len(outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(outbox) == 0  # published and acknowledged
        time.sleep(0.5)
        assert rec.messages == [] and nosy.messages == []
    finally:
        link.stop()
        rec.close()
        nosy.close()


def test_the_embedded_broker_never_starts_without_accounts():
    with pytest.raises(QuaywatchError, match="never admits anonymous"):
        ensure_broker(None, free_port())


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(QuaywatchError, match=f"127.0.0.1:{port} is already in use"):
            EmbeddedBroker(tmp_path / "accounts.json", port=port).start()


def test_a_configured_broker_is_used_as_is():
    assert ensure_broker("mqtt.example.net", 8883) == ("mqtt.example.net", 8883, None)


def test_quaywatch_run_starts_the_embedded_broker_with_the_sites_accounts(tmp_path):
    """The shipped Aalborg site names no broker: `quaywatch run` starts amqtt with its accounts file."""
    from quaywatch.config import load_site
    from quaywatch.run import parts_for

    aalborg = load_site("aalborg-havnefront")
    assert aalborg.mqtt.host is None
    mqtt = aalborg.mqtt.model_copy(update={"credentials_dir": str(tmp_path / "mqtt")})
    broker = parts_for(aalborg.model_copy(update={"mqtt": mqtt}), "aalborg-havnefront", {"broker"}, True)[0]
    accounts = broker.argv[broker.argv.index("--accounts") + 1]
    users = json.loads(Path(accounts).read_text())["users"]
    assert set(users) == {"quaywatch-edge-edge-1", "quaywatch-alerting"}
    assert all(u["hash"].startswith("$7$") for u in users.values())
    assert users["quaywatch-alerting"]["write"] == []


def test_mqtt_accounts_for_a_named_broker_need_each_roles_password(tmp_path, monkeypatch, capsys):
    from quaywatch.cli import main

    site = tmp_path / "site.yaml"
    site.write_text((SITES / "demo.yaml").read_text() + "\nmqtt:\n  host: mqtt.example.net\n"
                    "  edge: {username: edge-1, password_env: QW_T_EDGE}\n")
    assert main(["mqtt-accounts", "--site", str(site), "--out", str(tmp_path / "out")]) == 2
    assert "QW_T_EDGE" in capsys.readouterr().err  # the missing variable is named, not a traceback
    monkeypatch.setenv("QW_T_EDGE", "e-pw")
    assert main(["mqtt-accounts", "--site", str(site), "--out", str(tmp_path / "out")]) == 2
    assert "mqtt.alerting" in capsys.readouterr().err  # a role without an account
    site.write_text(site.read_text() + "  alerting: {username: alerting, password_env: QW_T_ALERTING}\n")
    monkeypatch.setenv("QW_T_ALERTING", "a-pw")
    assert main(["mqtt-accounts", "--site", str(site), "--out", str(tmp_path / "out")]) == 0
    acl = (tmp_path / "out" / "acl").read_text()
    assert "user edge-1\ntopic write quaywatch/demo-harbour/cam-1/events\n" in acl
    assert "user alerting\ntopic read quaywatch/demo-harbour/#" in acl
    assert [line.split(":")[0] for line in (tmp_path / "out" / "passwd").read_text().splitlines()] == \
        ["edge-1", "alerting"]
