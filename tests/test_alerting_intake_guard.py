"""Intake cannot be wedged: whatever a payload holds, it is a counted rejection, acknowledged and stored aside,
and the next valid event is still paged. Events must be believable: a camera of this site, a time near now
(older ones stored as late, never paged), finite numbers. A control character in a topic forges no log line."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime

import httpx
import pytest

from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.screen import EventRules, printable, screen
from quaywatch.config.wire import WireError, decode, encode
from tests.peers import AlertingProcess, free_port, wait_until
from tests.test_alerting_paging import SITE, event, incidents, metric, publish

TOPIC = f"quaywatch/{SITE}/cam-1/events"
RULES = EventRules(frozenset({"cam-1", "cam-2"}), max_event_age_s=600, max_future_skew_s=300)
NESTED = b"[" * 50_000 + b"]" * 50_000  # 100 KB, 50,000 nested arrays: RecursionError in Python's json


def raw(ev: dict) -> bytes:
    return json.dumps(ev).encode()


def text_with(ev: dict, field: str, literal: str) -> bytes:
    """`ev` as JSON with `field`'s value replaced by a literal JSON may not hold (NaN, Infinity, 1e400)."""
    return raw({**ev, field: "@@"}).replace(b'"@@"', literal.encode())


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


HOSTILE = {
    "nested 50,000 deep": (NESTED, "depth"),
    "nested 900 deep, closed": (b"[" * 900 + b"]" * 900, "depth"),
    "object nested 40 deep": (b'{"a":' * 40 + b"1" + b"}" * 40, "depth"),
    "not UTF-8": (b"\xff\xfe{", "not_json"),
    "NaN confidence": (text_with(event(), "confidence", "NaN"), "not_json"),
    "Infinity in bbox": (raw(event()).replace(b'"confidence": 0.9', b'"bbox": [1, 2, Infinity, 4]'), "not_json"),
    "-Infinity lat": (raw(event()).replace(b'"lat": 57.0502', b'"lat": -Infinity'), "not_json"),
    "1e400 confidence (infinite as a double)": (text_with(event(), "confidence", "1e400"), "not_finite"),
    "1e400 in bbox": (raw(event()).replace(b'"confidence": 0.9', b'"bbox": [1, 2, 1e400, 4]'), "not_finite"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_hostile_payload_is_a_counted_rejection_and_the_batch_goes_on(name):
    payload, reason = HOSTILE[name]
    metrics = Metrics()
    good = event()
    out = screen([(TOPIC, payload), (TOPIC, raw(good))], metrics, RULES)  # never raises
    assert [i.payload["event_id"] for i in out.valid] == [good["event_id"]]
    assert [r.reason for r in out.rejected] == [reason], out.rejected
    assert metrics.sample("quaywatch_alerting_events_rejected_total", {"reason": reason}) == 1
    kept = out.rejected[0]
    assert kept.size == len(payload) and len(kept.prefix) <= 4 * 1024 + 3 and kept.topic == TOPIC


def test_any_exception_of_the_parser_is_a_rejection(monkeypatch):
    """Not only the errors we know of: whatever the parser raises is that payload's rejection."""
    from quaywatch.alerting import screen as screening

    def broken(raw):
        raise MemoryError("the parser ran out")

    monkeypatch.setattr(screening, "decode_event", broken)
    out = screen([(TOPIC, b"{}")], Metrics(), RULES)
    assert [(r.reason, r.detail) for r in out.rejected] == [("parser", "MemoryError: the parser ran out")]


def test_unknown_camera_and_far_future_are_rejected_and_old_events_are_late_never_valid():
    now = time.time()
    metrics = Metrics()
    stranger = event(camera="cam-99", location={"lat": 0, "lon": 0})
    future = event(time="2099-01-01T00:00:00Z")
    old = event(time="2001-09-09T01:46:40+00:00")
    ancient = event(time="0001-01-01T00:00:00Z")
    hour_ahead = event(time=iso(now + 3600))
    slightly_ahead = event(time=iso(now + 60))  # a camera clock a minute fast: still a real fall
    batch = [(f"quaywatch/{SITE}/cam-99/events", raw(stranger)), (TOPIC, raw(future)), (TOPIC, raw(old)),
             (TOPIC, raw(ancient)), (TOPIC, raw(hour_ahead)), (TOPIC, raw(slightly_ahead))]
    out = screen(batch, metrics, RULES, now=now)
    assert [r.reason for r in out.rejected] == ["unknown_camera", "future", "future"]
    assert [i.payload["event_id"] for i in out.late] == [old["event_id"], ancient["event_id"]]
    assert [i.payload["event_id"] for i in out.valid] == [slightly_ahead["event_id"]]
    assert metrics.sample("quaywatch_alerting_events_late_total", {"kind": "water_entry"}) == 2


def test_both_sides_refuse_non_finite_numbers_naming_the_field():
    """wire.decode (alerting's fallback path) and wire.encode (the edge) on the same contract."""
    with pytest.raises(WireError, match="NaN is not a number JSON allows"):
        decode("event", text_with(event(), "confidence", "NaN"))
    with pytest.raises(WireError, match=r"bbox\[2\]: inf is not a finite number"):
        decode("event", raw(event()).replace(b'"confidence": 0.9', b'"bbox": [1, 2, 1e999, 4]'))
    with pytest.raises(WireError, match="confidence: nan is not a finite number"):
        encode("event", event(confidence=float("nan")))
    with pytest.raises(WireError, match=r"location.lon: inf is not a finite number"):
        encode("event", event(location={"lat": 1.0, "lon": float("inf")}))
    with pytest.raises(WireError, match="nested deeper than 16"):
        decode("event", NESTED)


def test_a_control_character_in_a_topic_is_refused_and_logged_escaped(caplog, monkeypatch):
    from quaywatch.alerting import screen as screening

    monkeypatch.setattr(screening, "REJECTION_LOG", screening.LogBudget())  # this test's line is not left out
    forged = f"quaywatch/{SITE}/cam-1\n2026-12-03 10:00:00 INFO intake: all clear/events"
    with caplog.at_level("WARNING", logger="quaywatch.alerting.intake"):
        out = screen([(forged, raw(event()))], Metrics(), RULES)
    assert [r.reason for r in out.rejected] == ["topic"]
    assert "\n" not in out.rejected[0].topic and "\\x0a" in out.rejected[0].topic
    assert caplog.records and all("\n" not in r.getMessage() for r in caplog.records)
    assert printable("a\r\nb\x1b[31m\u2028") == "a\\x0d\\x0ab\\x1b[31m\\u2028"


def test_a_flood_of_rejections_logs_a_bounded_number_of_lines_and_counts_them_all(caplog, monkeypatch):
    from quaywatch.alerting import screen as screening

    monkeypatch.setattr(screening, "REJECTION_LOG", screening.LogBudget(lines=5, window_s=3600))
    metrics = Metrics()
    with caplog.at_level("WARNING", logger="quaywatch.alerting.intake"):
        out = screen([(TOPIC, b"not json")] * 200, metrics, RULES)
    assert len(out.rejected) == 200 and metrics.sample("quaywatch_alerting_events_rejected_total",
                                                       {"reason": "not_json"}) == 200
    assert len(caplog.records) == 5
    screening.REJECTION_LOG.started -= 3600  # the window turns: what was left out is said in one line
    assert screening.REJECTION_LOG.allow(time.monotonic())
    assert "rejected 195 more payloads" in caplog.records[-1].getMessage()


def test_the_service_log_writes_every_record_on_one_line():
    """The formatter `quaywatch` logs with: any message, from any module, is escaped; a traceback is not."""
    import logging

    from quaywatch.logsafe import OneLineFormatter

    fmt = OneLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "inbound SMS from %s: %s", ("+45", "ok\nFORGED"), None)
    assert fmt.format(record) == "WARNING inbound SMS from +45: ok\\x0aFORGED"


# --- the running service through a real broker ------------------------------------------------------------


def _alerting(tmp_path, broker: str, mosquitto_port: int | None, name: str) -> AlertingProcess:
    if broker == "mosquitto":
        return AlertingProcess(tmp_path / name, mosquitto_port)
    port = free_port()  # no mqtt.host: `quaywatch alerting` starts the embedded broker (amqtt) on this port
    proc = AlertingProcess(tmp_path / name, port, overrides={"mqtt": {"host": None, "port": port,
                                                                     "credentials_dir": str(tmp_path / "mqtt")}})
    return proc


def _edge_login(svc: AlertingProcess, kind: str) -> tuple[str | None, str | None] | None:
    """How an edge logs in to this broker: the embedded one admits only its accounts (issue 13), so the
    edge's generated account (quaywatch/mqtt_accounts.py); the test's Mosquitto is open to anonymous."""
    if kind != "embedded":
        return None
    from quaywatch.config.loader import load_site
    from quaywatch.mqtt_accounts import credentials
    from tests.test_edge_broker import connack

    port = svc.site["mqtt"]["port"]
    assert connack(port, None, None) != 0, "the embedded broker let an anonymous client in"
    return credentials(load_site(svc.site_file), "edge")


def _log(proc: AlertingProcess) -> str:
    return (proc.dir / "alerting.log").read_text(errors="replace")


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request):
    if request.param == "mosquitto":
        return "mosquitto", request.getfixturevalue("mosquitto").port
    return "embedded", None


def test_a_poison_payload_is_set_aside_and_the_next_event_is_still_paged_also_after_a_restart(tmp_path, broker):
    kind, mosquitto_port = broker
    svc = _alerting(tmp_path, kind, mosquitto_port, "alerting").start()
    port = svc.site["mqtt"]["port"]
    login = _edge_login(svc, kind)
    try:
        valid = event()
        forged_topic = "cam-1\nFORGED alerting: all clear"
        publish(port, [NESTED, text_with(event(), "confidence", "NaN"), event(camera="cam-99"), valid], login=login)
        publish(port, [raw(event())], camera=forged_topic, login=login)  # bytes: published under `camera` as given
        paged = wait_until(lambda: [i for i in incidents(svc) if i["state"] == "paged"], 60,
                           what="the valid event paged after the poison", logs=lambda: _log(svc)[-3000:])
        assert len(paged) == 1 and paged[0]["cameras"] == "cam-1"
        screened = 2 if kind == "embedded" else 3  # see the reasons below
        wait_until(lambda: metric(svc, "quaywatch_alerting_events_rejected_total") >= screened, 30,
                   what=f"{screened} rejections")
        time.sleep(1.0)  # had the poison not been acked it would come back at once (it did, 284 times a minute)
        rejections = metric(svc, "quaywatch_alerting_events_rejected_total")
        assert "handling a batch failed" not in _log(svc)
        assert not any(line.startswith("FORGED") for line in _log(svc).splitlines())
        with sqlite3.connect(svc.dir / "alerts.db") as db:
            rows = db.execute("SELECT reason, size, length(prefix), topic FROM rejected ORDER BY id").fetchall()
        reasons = sorted(r[0] for r in rows)
        if kind == "embedded":
            # The embedded broker's ACL (quaywatch/broker_acl.py) drops the edge's publish to a camera not its
            # own and any topic with a control character: those never reach intake, whose own checks for them
            # this test's run on the open Mosquitto (and test_every_hostile_payload...) still prove.
            assert reasons == ["depth", "not_json"], rows
        else:
            assert reasons in (["depth", "not_json", "topic", "unknown_camera"],
                               # Mosquitto drops the forged topic itself: then there is nothing to reject
                               ["depth", "not_json", "unknown_camera"]), rows
        assert rejections == len(rows)  # each counted once, stored aside once: none came back
        nested = next(r for r in rows if r[0] == "depth")
        assert nested[1] == len(NESTED) and nested[2] <= 4 * 1024 + 3  # a bounded prefix, not 100 KB
    finally:
        svc.stop()
    svc.start()  # the poison was acknowledged: the broker has nothing to give back
    try:
        ok = httpx.get(svc.url + "/healthz", timeout=10).json()
        assert ok["ok"] is True, ok
        later = event(camera="cam-2")
        publish(port, [later], camera="cam-2", login=login)
        wait_until(lambda: len([i for i in incidents(svc) if i["state"] == "paged"]) == 2, 60,
                   what="an event after the restart paged", logs=lambda: _log(svc)[-3000:])
        assert metric(svc, "quaywatch_alerting_events_rejected_total") == 0  # nothing replayed
    finally:
        svc.stop()


def test_an_old_event_is_stored_as_late_and_never_paged(tmp_path, mosquitto):
    svc = AlertingProcess(tmp_path / "alerting", mosquitto.port).start()
    try:
        old = event(time="2001-09-09T01:46:40+00:00")
        fresh = event(camera="cam-2")
        publish(mosquitto.port, [old])
        publish(mosquitto.port, [fresh], camera="cam-2")
        wait_until(lambda: [i for i in incidents(svc) if i["state"] == "paged"], 60, what="the fresh event paged")
        assert [i["cameras"] for i in incidents(svc)] == ["cam-2"]  # the old one opened nothing
        assert metric(svc, "quaywatch_alerting_events_late_total") == 1
        with sqlite3.connect(svc.dir / "alerts.db") as db:
            rows = db.execute("SELECT event_id, late, incident_id FROM events ORDER BY late DESC").fetchall()
        assert rows[0] == (old["event_id"], 1, None)
    finally:
        svc.stop()
