"""Broker authentication and TLS by config: username + password from the environment variable the config
names, server certificate checked against `ca_file`. A wrong password is refused and named, not retried
into a silent hole (events wait in the outbox)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from quaywatch.config.mqtt import MqttConfig
from quaywatch.edge.mqtt import MqttLink
from quaywatch.edge.outbox import Outbox
from tests.peers import Mosquitto, require
from tests.test_edge_mqtt import CAM, SITE, TOPICS, fall


@pytest.fixture
def tls_broker():
    openssl = require("openssl", "apt-get install openssl")
    passwd = require("mosquitto_passwd", "apt-get install mosquitto")
    broker = Mosquitto()
    d = broker.dir
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    subprocess.run([passwd, "-b", "-c", str(d / "passwd"), "edge", "harbour-s3cret"], check=True, capture_output=True)
    for f in ("key.pem", "cert.pem", "passwd"):
        (d / f).chmod(0o644)  # mosquitto drops to its own user when started as root
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {d / 'passwd'}\n"
        f"certfile {d / 'cert.pem'}\nkeyfile {d / 'key.pem'}\npersistence false\nlog_dest stdout\n"
    )
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(d, ignore_errors=True)


def link(broker, outbox, monkeypatch, password: str) -> MqttLink:
    monkeypatch.setenv("QW_TEST_MQTT_PW", password)
    cfg = MqttConfig(host="127.0.0.1", port=broker.port, username="edge", password_env="QW_TEST_MQTT_PW",
                     tls=True, ca_file=str(broker.dir / "cert.pem"), reconnect_min_s=0.1, reconnect_max_s=0.5)
    return MqttLink(cfg, SITE.site.id, "edge-tls", outbox, "127.0.0.1", broker.port)


def test_tls_and_password_from_the_environment(tls_broker, tmp_path, monkeypatch):
    outbox = Outbox(tmp_path / "o.db")
    eid, wire = fall(1)
    outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
    good = link(tls_broker, outbox, monkeypatch, "harbour-s3cret").start()
    try:
        assert good.wait_connected(10), good.stats.last_error
        deadline = time.monotonic() + 10
        while len(outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(outbox) == 0 and good.stats.published == 1  # PUBACK came back over TLS
    finally:
        good.stop()


def test_a_wrong_password_is_refused_and_the_event_waits(tls_broker, tmp_path, monkeypatch):
    outbox = Outbox(tmp_path / "o.db")
    eid, wire = fall(2)
    outbox.put(eid, TOPICS.events(CAM.id), wire, time.time())
    bad = link(tls_broker, outbox, monkeypatch, "wrong").start()
    try:
        assert not bad.wait_connected(3)
        assert "authori" in bad.stats.last_error.lower() or "password" in bad.stats.last_error.lower()
        assert len(outbox) == 1
    finally:
        bad.stop()
