"""The alerting service end to end through real peers: Mosquitto -> `quaywatch alerting` -> Twilio stand-in
(recording) -> Prism (Twilio's own contract). Every Twilio request must be accepted by Prism (2xx)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as paho
import pytest
from twilio.request_validator import RequestValidator

from quaywatch.alerting.notify.gsm7 import septets
from tests.peers import AlertingProcess, TwilioStandIn, wait_until

SITE = "demo-harbour"
POLICE, RESCUE, CONTROL, TEST = "+4520000002", "+4520000003", "+4520000001", "+4520000009"
PUBLIC = "https://alerts.example.test"




@pytest.fixture
def twilio(prism):
    stand_in = TwilioStandIn(upstream=prism.url).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def alerting(tmp_path, mosquitto, twilio):
    started: list[AlertingProcess] = []

    def start(overrides: dict | None = None) -> AlertingProcess:
        proc = AlertingProcess(tmp_path / f"alerting{len(started)}", mosquitto.port, overrides, twilio.url).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def event(kind: str = "water_entry", camera: str = "cam-1", drill: bool = False, **extra) -> dict:
    ev = {"version": 1, "event_id": f"ev-{uuid.uuid4().hex[:16]}", "kind": kind, "site": SITE, "camera": camera,
          "time": datetime.now(UTC).isoformat(), "drill": drill, "confidence": 0.9,
          "location": {"lat": 57.0502, "lon": 9.9217}, "evidence": {"snapshot_jpeg_b64": "/9j/4AAQSkZJRg=="}}
    ev.update(extra)
    return ev


def publish(port: int, payloads: list[bytes | dict], camera: str = "cam-1",
            login: tuple[str | None, str | None] | None = None) -> None:
    """Publish as an edge would, QoS 1; `login` (username, password) for a broker with accounts."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:6]}")
    if login is not None:
        client.username_pw_set(*login)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for p in payloads:
            cam = p.get("camera", camera) if isinstance(p, dict) else camera
            raw = json.dumps(p).encode() if isinstance(p, dict) else p
            client.publish(f"quaywatch/{SITE}/{cam}/events", raw, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()




def sms(twilio: TwilioStandIn, to: str | None = None) -> list[dict]:
    return [r for r in twilio.posts("/Messages.json") if to is None or r["form"].get("To") == to]


def signed_post(svc: AlertingProcess, path: str, form: dict, token: str = AlertingProcess.TOKEN,
                signature: str | None = None) -> httpx.Response:
    sig = signature if signature is not None else RequestValidator(token).compute_signature(PUBLIC + path, form)
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return httpx.post(svc.url + path, data=form, headers=headers, timeout=10)


def metric(svc: AlertingProcess, name: str) -> float:
    total = 0.0
    for line in httpx.get(svc.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def incidents(svc: AlertingProcess) -> list[dict]:
    return httpx.get(svc.url + "/api/incidents", timeout=10).json()


def test_event_pages_first_step_accepted_by_prism_and_code_reply_acknowledges(alerting, mosquitto, twilio):
    svc = alerting({"alerting": {"policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
        {"after_s": 10, "notify": ["police", "rescue"], "channel": "voice"}]}}}})
    ev = event()
    publish(mosquitto.port, [ev])
    first = wait_until(lambda: len(sms(twilio)) >= 2 and sms(twilio), what="two SMS requests")
    assert {r["form"]["To"] for r in first} == {POLICE, RESCUE}
    for r in first:
        assert r["status"] in (200, 201), f"Prism refused the request: {r['status']} {r['response']!r}"
        body = r["form"]["Body"]
        assert body.startswith("DRUKNEALARM ") and " cam-1: " in body  # the place gives way to the link
        assert "person i vandet" in body and " ca. 57.0502,9.9217 (150 m) " in body and f" {PUBLIC}/p/" in body
        assert septets(body) is not None and septets(body) <= 160, body
        assert r["form"]["ValidityPeriod"] == "600"
        assert r["form"]["StatusCallback"].startswith(PUBLIC + "/twilio/status?m=")
        assert r["form"]["From"] == "+4520000000"
    inc = wait_until(lambda: [i for i in incidents(svc) if i["state"] == "paged"], what="incident paged")[0]
    code = inc["ack_code"]
    assert f"Svar {code} for at kvittere" in first[0]["form"]["Body"]
    # local time in the site's zone, as the SMS says it
    local = datetime.fromisoformat(ev["time"]).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Copenhagen"))
    assert local.strftime(" %-d/%-m %H:%M ") in first[0]["form"]["Body"]

    # Each agency acknowledges for itself (alerting/acks.py): police first, rescue is still paged until it does.
    reply = signed_post(svc, "/twilio/sms", {"MessageSid": "SM" + "1" * 32, "From": POLICE, "To": "+4520000000",
                                              "Body": f" {code} "})
    assert reply.status_code == 200
    assert incidents(svc)[0]["state"] == "paged"
    reply = signed_post(svc, "/twilio/sms", {"MessageSid": "SM" + "2" * 32, "From": RESCUE, "To": "+4520000000",
                                              "Body": f"{code}"})
    assert reply.status_code == 200
    wait_until(lambda: incidents(svc)[0]["state"] == "acknowledged", what="acknowledged")
    confirm = wait_until(lambda: [r for r in sms(twilio, POLICE) if "Kvitteret" in r["form"]["Body"]],
                         what="acknowledgement confirmed by SMS")
    assert confirm[0]["status"] in (200, 201) and code in confirm[0]["form"]["Body"]
    time.sleep(max(0.0, first[0]["t"] + 11 - time.perf_counter()))  # past the voice step's 10 s delay
    assert twilio.posts("/Calls.json", answered=False) == []  # the acknowledgement stopped the escalation
    detail = httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=10).json()
    assert [t["to_state"] for t in detail["transitions"] if t["from_state"] != t["to_state"]] == \
        ["new", "paged", "acknowledged"]
    assert any(m["direction"] == "in" and m["from_number"] == POLICE for m in detail["messages"])
    assert detail["acked_by"].endswith(RESCUE)  # the last agency to answer completes the acknowledgement


def test_no_ack_escalates_to_voice_call_with_twiml(alerting, mosquitto, twilio):
    alerting({"alerting": {"delivery_timeout_s": 60, "policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police"], "channel": "sms"},
        {"after_s": 1, "notify": ["police", "rescue"], "channel": "voice"}]}}}})
    publish(mosquitto.port, [event()])
    calls = wait_until(lambda: len(twilio.posts("/Calls.json")) >= 2 and twilio.posts("/Calls.json"),
                       what="voice calls")
    assert {c["form"]["To"] for c in calls} == {POLICE, RESCUE}
    for c in calls:
        assert c["status"] in (200, 201), c["response"]
        assert c["form"]["Twiml"].startswith('<Response><Say language="da-DK">Druknealarm ved Honnørkajen')
    time.sleep(1.5)
    assert len(twilio.posts("/Calls.json")) == 2  # the last step: no more rounds configured
    assert len(sms(twilio)) == 1


def test_forged_and_unsigned_webhooks_get_403_and_are_counted(alerting, twilio):
    svc = alerting()
    form = {"MessageSid": "SM" + "2" * 32, "From": POLICE, "Body": "1234"}
    assert signed_post(svc, "/twilio/sms", form, signature="").status_code == 403
    assert signed_post(svc, "/twilio/sms", form, token="wrong-token").status_code == 403
    assert signed_post(svc, "/twilio/status?m=x", {"MessageStatus": "delivered"}, token="nope").status_code == 403
    assert metric(svc, "quaywatch_alerting_webhook_forbidden_total") == 3
    assert signed_post(svc, "/twilio/sms", form).status_code == 200  # the real signature passes
    assert httpx.get(svc.url + "/healthz", timeout=5).json()["ok"] is True


def test_drill_pages_only_the_test_group_marked_drill(alerting, mosquitto, twilio):
    alerting()
    publish(mosquitto.port, [event(drill=True)])
    sent = wait_until(lambda: sms(twilio), what="drill SMS")
    time.sleep(1)
    sent = sms(twilio)
    assert [r["form"]["To"] for r in sent] == [TEST]
    assert sent[0]["form"]["Body"].startswith("DRILL DROWNING ALERT")  # the test phone reads English


def test_camera_offline_alerts_the_control_room_not_the_police(alerting, mosquitto, twilio):
    svc = alerting()
    publish(mosquitto.port, [event(kind="camera_offline", camera="cam-2", message="no frames for 30 s")],
            camera="cam-2")
    wait_until(lambda: sms(twilio), what="camera offline SMS")
    time.sleep(1)
    assert [r["form"]["To"] for r in sms(twilio)] == [CONTROL]
    assert "kamera offline" in sms(twilio)[0]["form"]["Body"]
    publish(mosquitto.port, [event(kind="camera_online", camera="cam-2")], camera="cam-2")
    wait_until(lambda: incidents(svc)[0]["state"] == "resolved", what="camera back online resolves it")
