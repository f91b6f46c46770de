"""A real Mosquitto with the accounts quaywatch writes from the site config (`quaywatch mqtt-accounts`:
password_file with $7$ hashes, acl_file) behind a TLS listener whose server certificate a CA made here
signed. The edge and alerting connect with their own accounts, passwords from the environment variables
the config names, and check the server against `ca_file`. Anonymous clients and wrong passwords are
refused (the event waits in the outbox); the edge may publish only its own cameras' topics, alerting only
reads."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

from quaywatch.alerting.intake import Intake
from quaywatch.alerting.metrics import Metrics
from quaywatch.config.mqtt import MqttAccount
from quaywatch.edge.mqtt import MqttLink
from quaywatch.edge.outbox import Outbox
from quaywatch.mosquitto import write_account_files
from quaywatch.mqtt_accounts import Account, accounts, credentials
from quaywatch.mqtt_passwd import verify_password
from tests.peers import Mosquitto, MqttRecorder, require
from tests.test_edge_mqtt import CAM, SITE, TOPICS, fall

EDGE_PW, ALERTING_PW = "edge-s3cret-harbour", "alerting-s3cret-harbour"


def make_ca_and_server_cert(openssl: str, d) -> None:
    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=quaywatch test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
        "-extfile", "san.ext", "-out", "cert.pem")


@pytest.fixture
def tls_broker(monkeypatch):
    """Mosquitto on TLS, admitting the demo site's accounts plus a test-only `spy` that reads everything."""
    openssl = require("openssl", "apt-get install openssl")
    broker = Mosquitto()
    d = broker.dir
    make_ca_and_server_cert(openssl, d)
    for f in ("key.pem", "cert.pem", "ca.pem"):
        (d / f).chmod(0o644)  # mosquitto drops to its own user when started as root
    monkeypatch.setenv("QW_TEST_EDGE_PW", EDGE_PW)
    monkeypatch.setenv("QW_TEST_ALERTING_PW", ALERTING_PW)
    mqtt = SITE.mqtt.model_copy(update={
        "host": "127.0.0.1", "port": broker.port, "tls": True, "ca_file": str(d / "ca.pem"),
        "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
        "edge": MqttAccount(username="edge-demo", password_env="QW_TEST_EDGE_PW"),
        "alerting": MqttAccount(username="alerting-demo", password_env="QW_TEST_ALERTING_PW"),
    })
    site = SITE.model_copy(update={"mqtt": mqtt})
    passwd, acl = write_account_files([*accounts(site), Account("spy", "spy-pw", (), ("#",))], d / "accounts")
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
        f"cafile {d / 'ca.pem'}\ncertfile {d / 'cert.pem'}\nkeyfile {d / 'key.pem'}\npersistence false\n"
        "log_dest stdout\n"
    )
    broker.start()
    yield broker, site
    broker.stop()
    shutil.rmtree(d, ignore_errors=True)


def tls_client(broker, client_id: str, username: str | None, password: str | None) -> tuple[paho.Client, list]:
    got: list = []
    done = threading.Event()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.tls_set(ca_certs=str(broker.dir / "ca.pem"))
    if username is not None:
        c.username_pw_set(username, password)
    c.on_connect = lambda cl, u, f, rc, p=None: (got.append(rc.value), done.set())
    c.connect("127.0.0.1", broker.port, keepalive=5)
    c.loop_start()
    done.wait(10)
    return c, got


def edge_link(site, outbox: Outbox, password: str | None = None) -> MqttLink:
    user, pw = credentials(site, "edge")
    return MqttLink(site.mqtt, site.site.id, site.edge.worker_id, outbox, "127.0.0.1", site.mqtt.port,
                    credentials=(user, pw if password is None else password))


def test_edge_and_alerting_over_tls_with_their_own_accounts(tls_broker, tmp_path):
    broker, site = tls_broker
    outbox = Outbox(tmp_path / "o.db")
    eid, wire = fall(1)
    outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
    got: list[str] = []

    async def alerting() -> None:
        user, pw = credentials(site, "alerting")
        stop = asyncio.Event()

        async def handle(batch):
            got.extend(i.payload["event_id"] for i in batch)
            if got:
                stop.set()

        intake = Intake(site.mqtt.model_copy(update={"username": user}), "127.0.0.1", broker.port, site.site.id,
                        "alerting-tls", Metrics(), handle, pw, shared=False)
        task = asyncio.create_task(intake.run(stop))
        await asyncio.wait_for(intake.connected.wait(), 10)
        link = edge_link(site, outbox).start()
        try:
            await asyncio.wait_for(stop.wait(), 15)
        finally:
            link.stop()
            stop.set()
            await task
        assert len(outbox) == 0 and link.stats.published == 1  # PUBACK came back over TLS

    asyncio.run(alerting())
    assert got == [eid]


def test_a_wrong_password_is_refused_and_the_event_waits(tls_broker, tmp_path):
    _, site = tls_broker
    outbox = Outbox(tmp_path / "o.db")
    eid, wire = fall(2)
    outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
    bad = edge_link(site, outbox, password="wrong").start()
    try:
        assert not bad.wait_connected(3)
        assert "authori" in bad.stats.last_error.lower() or "password" in bad.stats.last_error.lower()
        assert len(outbox) == 1
    finally:
        bad.stop()


def test_anonymous_clients_are_refused_and_an_unknown_ca_is_not_trusted(tls_broker):
    broker, site = tls_broker
    user, pw = credentials(site, "alerting")
    for who, expect_ok in (((user, pw), True), ((None, None), False), ((user, pw + "x"), False)):
        c, got = tls_client(broker, f"probe-{expect_ok}-{who[0]}", *who)
        c.loop_stop()
        c.disconnect()
        assert got and (got[0] == 0) == expect_ok, (who[0], got)
    # The edge's TLS check is real: the system's CAs do not vouch for this broker.
    with pytest.raises(ssl.SSLError):
        ctx = ssl.create_default_context()
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass


def test_the_edge_publishes_only_its_own_cameras_and_alerting_only_reads(tls_broker):
    broker, site = tls_broker
    spy = MqttRecorder(broker.port, "#", client_id="spy", username="spy", password="spy-pw",
                       ca_file=str(broker.dir / "ca.pem"))
    base = f"quaywatch/{site.site.id}"
    _, wire = fall(4)
    try:
        for role, topics in (("edge", [f"quaywatch/other-harbour/{CAM.id}/events", f"{base}/cam-99/events",
                                       f"{base}/edge/another-worker/status"]),
                             ("alerting", [f"{base}/{CAM.id}/events"])):
            c, got = tls_client(broker, f"forger-{role}", *credentials(site, role))
            assert got == [0]
            for t in topics:
                c.publish(t, wire, qos=1).wait_for_publish(5)
            if role == "edge":
                c.publish(f"{base}/{CAM.id}/events", wire, qos=1).wait_for_publish(5)
                assert spy.wait_for(lambda m: any(t == f"{base}/{CAM.id}/events" for t, _, _ in m), 10)
            c.loop_stop()
            c.disconnect()
        time.sleep(0.5)
        assert [t for t, _, _ in spy.messages] == [f"{base}/{CAM.id}/events"]
    finally:
        spy.close()


def test_mosquitto_passwd_hashes_are_the_format_quaywatch_writes(tmp_path):
    passwd = require("mosquitto_passwd", "apt-get install mosquitto")
    subprocess.run([passwd, "-b", "-c", str(tmp_path / "p"), "bob", "harbour"], check=True, capture_output=True)
    hashed = (tmp_path / "p").read_text().strip().split(":", 1)[1]
    assert hashed.startswith("$7$") and verify_password("harbour", hashed) and not verify_password("x", hashed)
