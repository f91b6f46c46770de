# ruff: noqa: F811 - pytest fixtures imported from test_alerting_paging are parameters here
"""Faults around the alerting service: Twilio 500s and timeouts, a kill mid-escalation, duplicate and
malformed MQTT deliveries, missing or failed delivery confirmations; plus grouping of cameras."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.test_alerting_paging import (  # noqa: F401 - fixtures
    POLICE,
    RESCUE,
    alerting,
    event,
    incidents,
    metric,
    publish,
    signed_post,
    sms,
    twilio,
    wait_until,
)

ONE_STEP = {"alerting": {"policies": {"water": {"steps": [{"after_s": 0, "notify": ["police"], "channel": "sms"}]}}}}


def test_twilio_500s_are_retried_with_backoff_and_page_once(alerting, mosquitto, twilio):
    svc = alerting(ONE_STEP)
    twilio.fail_next(2)
    publish(mosquitto.port, [event()])
    wait_until(lambda: [r for r in sms(twilio) if r["status"] == 201], what="SMS accepted after retries")
    attempts = sms(twilio)
    assert [r["status"] for r in attempts] == [500, 500, 201]
    assert attempts[1]["t"] - attempts[0]["t"] >= 0.09  # backoff_s 0.1, doubling
    assert attempts[2]["t"] - attempts[1]["t"] >= 0.19
    time.sleep(0.5)
    assert len(sms(twilio)) == 3
    inc = incidents(svc)[0]
    detail = httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()
    out = [m for m in detail["messages"] if m["direction"] == "out"]
    assert len(out) == 1 and out[0]["attempts"] == 3 and out[0]["status"] not in ("failed", "sending")
    assert metric(svc, "quaywatch_alerting_send_attempts_retried_total") == 2


def test_twilio_timeout_is_retried(alerting, mosquitto, twilio):
    alerting({**ONE_STEP, "alerting": {**ONE_STEP["alerting"], "twilio": {"timeout_s": 0.5}}})
    twilio.hang_next(1, 2.0)
    publish(mosquitto.port, [event()])
    wait_until(lambda: [r for r in sms(twilio) if r["status"] == 201], what="a later attempt answered")
    attempts = twilio.posts("/Messages.json", answered=False)
    assert len(attempts) >= 2  # on a loaded machine a retry may time out too; each is retried
    assert attempts[1]["t"] - attempts[0]["t"] < 1.9  # retried after the client timeout, not after the hang


def test_permanent_failure_is_not_retried_and_escalates_at_once(alerting, mosquitto, twilio):
    svc = alerting({"alerting": {"policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police"], "channel": "sms"},
        {"after_s": 120, "notify": ["rescue"], "channel": "sms"}]}}}})
    twilio.fail_next(1, status=400)  # Twilio 21211: invalid 'To' number; asking again will not help
    publish(mosquitto.port, [event()])
    wait_until(lambda: sms(twilio, RESCUE), timeout=60, what="next step at once, not after 120 s")
    assert [r["status"] for r in sms(twilio, POLICE)] == [400]
    assert metric(svc, "quaywatch_alerting_send_attempts_retried_total") == 0
    assert metric(svc, 'quaywatch_alerting_pages_total{channel="sms",result="failed"}') == 1


def test_killed_mid_escalation_resumes_without_paging_twice(alerting, mosquitto, twilio):
    steps = {"alerting": {"delivery_timeout_s": 60, "policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
        {"after_s": 2, "notify": ["control_room"], "channel": "sms"},
        {"after_s": 2, "notify": ["police"], "channel": "voice"}]}}}}
    svc = alerting(steps)
    publish(mosquitto.port, [event()])
    wait_until(lambda: len(sms(twilio)) >= 2, what="first step")
    svc.kill()  # SIGKILL: no clean shutdown
    time.sleep(2.5)  # the second step falls due while the service is dead
    assert len(sms(twilio)) == 2
    svc.start()  # same store, same site file
    wait_until(lambda: len(twilio.posts("/Calls.json")) >= 1, timeout=90, what="escalation resumed to the end")
    time.sleep(1)
    to = [r["form"]["To"] for r in sms(twilio)]
    assert sorted(to) == sorted([POLICE, RESCUE, "+4520000001"]), to  # every step once, nobody twice
    assert len(twilio.posts("/Calls.json")) == 1


def test_duplicate_mqtt_deliveries_page_once(alerting, mosquitto, twilio):
    svc = alerting(ONE_STEP)
    ev = event()
    publish(mosquitto.port, [ev, ev, ev])
    wait_until(lambda: sms(twilio), what="page")
    time.sleep(1)
    assert len(sms(twilio)) == 1
    assert len(incidents(svc)) == 1
    assert metric(svc, "quaywatch_alerting_events_duplicate_total") == 2


def test_flood_of_malformed_payloads_is_counted_and_the_service_keeps_paging(alerting, mosquitto, twilio):
    svc = alerting(ONE_STEP)
    bad: list[bytes | dict] = []
    for i in range(50):
        bad.append(b"\xff\xfe not json %d" % i)
        bad.append(json.dumps({**event(), "version": 2}).encode())
        bad.append({k: v for k, v in event().items() if k != "kind"})
        bad.append(json.dumps({**event(), "message": "x" * 300_000}).encode())
    publish(mosquitto.port, [*bad, event()])
    wait_until(lambda: sms(twilio), what="the valid event paged after the flood")
    wait_until(lambda: metric(svc, "quaywatch_alerting_events_rejected_total") == 200, what="200 rejects counted")
    text = httpx.get(svc.url + "/metrics", timeout=5).text
    for reason in ("not_json", "version", "schema", "oversized"):
        assert f'quaywatch_alerting_events_rejected_total{{reason="{reason}"}} 50.0' in text
    assert httpx.get(svc.url + "/healthz", timeout=5).status_code == 200
    assert "rejected payload" in svc.process.output() and "kind" in svc.process.output()


def test_cameras_seeing_one_incident_page_once_naming_them(alerting, mosquitto, twilio):
    # the demo's two cameras stand ~380 m apart: declared as watching the same water, they group
    svc = alerting({"alerting": {"grouping_window_s": 30, "delivery_timeout_s": 60,
                                 "overlapping_cameras": [["cam-1", "cam-2"]], "policies": {"water": {
        "steps": [{"after_s": 0, "notify": ["police"], "channel": "sms"},
                  {"after_s": 5, "notify": ["rescue"], "channel": "sms"}]}}}})
    publish(mosquitto.port, [event(camera="cam-1")])
    wait_until(lambda: sms(twilio, POLICE), what="first page")
    publish(mosquitto.port, [event(camera="cam-2", kind="person_in_water")], camera="cam-2")
    later = wait_until(lambda: sms(twilio, RESCUE), what="second step")
    assert len(sms(twilio, POLICE)) == 1
    assert len(incidents(svc)) == 1 and incidents(svc)[0]["cameras"] == "cam-1,cam-2"
    assert " cam-1,cam-2: " in later[0]["form"]["Body"]


def test_no_delivery_confirmation_escalates_early_and_transient_failure_is_resent(alerting, mosquitto, twilio):
    svc = alerting({"alerting": {"delivery_timeout_s": 1, "policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
        {"after_s": 120, "notify": ["control_room"], "channel": "sms"}]}}}})
    publish(mosquitto.port, [event()])
    first = wait_until(lambda: len(sms(twilio)) >= 2 and sms(twilio), what="first step")
    police_key = next(r for r in first if r["form"]["To"] == POLICE)["form"]["StatusCallback"].split("?", 1)[1]
    rescue_key = next(r for r in first if r["form"]["To"] == RESCUE)["form"]["StatusCallback"].split("?", 1)[1]
    # police: delivered. rescue: carrier hiccup (30008) -> sent again, then never confirmed -> next step early.
    assert signed_post(svc, f"/twilio/status?{police_key}", {"MessageSid": "SM" + "3" * 32,
                                                           "MessageStatus": "delivered"}).status_code == 204
    assert signed_post(svc, f"/twilio/status?{rescue_key}", {"MessageSid": "SM" + "4" * 32, "MessageStatus":
                                                           "undelivered", "ErrorCode": "30008"}).status_code == 204
    wait_until(lambda: len(sms(twilio, RESCUE)) == 2, what="rescue SMS resent after 30008")
    wait_until(lambda: sms(twilio, "+4520000001"), timeout=60, what="control room paged before the 120 s delay")
    assert len(sms(twilio, POLICE)) == 1
    inc = incidents(svc)[0]
    trail = httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()["transitions"]
    assert any("no delivery confirmation" in (t["note"] or "") for t in trail)
    assert metric(svc, 'quaywatch_alerting_delivery_status_total{status="delivered"}') == 1


@pytest.mark.parametrize("subscription", ["own", "shared"])
def test_two_instances_never_page_twice(tmp_path, mosquitto, twilio, subscription):
    """own (default): both instances see every event, the store keeps each once and pages it once.
    shared: the broker splits the stream between them."""
    from tests.peers import AlertingProcess

    store = f"sqlite:///{tmp_path}/shared.db"
    policy = {"grouping_window_s": 0, "subscription": subscription, "policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police"], "channel": "sms"}]}}}
    nodes = [AlertingProcess(tmp_path / f"node{i}", mosquitto.port,
                             {"alerting": {**policy, "instance_id": f"alerting-{i}"}}, twilio.url, store_url=store)
             for i in (1, 2)]
    try:
        for n in nodes:
            n.start()
        events = [event(camera="cam-1" if i % 2 else "cam-2") for i in range(12)]
        for ev in events:
            publish(mosquitto.port, [ev], camera=ev["camera"])
            time.sleep(0.05)
        wait_until(lambda: len(sms(twilio)) >= 12, what="12 pages")
        time.sleep(1.5)
        assert len(sms(twilio)) == 12  # one incident and one page per event, however the two nodes got them
        taken = [metric(n, "quaywatch_alerting_events_total") for n in nodes]
        dupes = [metric(n, "quaywatch_alerting_events_duplicate_total") for n in nodes]
        assert sum(taken) == 12, taken  # each event stored once
        if subscription == "shared":
            assert min(taken) > 0 and sum(dupes) == 0, (taken, dupes)  # the broker split the stream
        else:
            wait_until(lambda: sum(metric(n, "quaywatch_alerting_events_duplicate_total") for n in nodes) == 12,
                       what="each event seen by the other instance too, as a harmless duplicate")
        assert len(incidents(nodes[0])) == 12
    finally:
        for n in nodes:
            n.stop()


def test_events_published_while_the_service_is_down_are_paged_when_it_returns(alerting, mosquitto, twilio):
    svc = alerting(ONE_STEP)  # subscribes once: the broker now keeps its persistent session
    svc.kill()
    publish(mosquitto.port, [event()])
    time.sleep(0.5)
    assert sms(twilio) == []
    svc.start()
    wait_until(lambda: sms(twilio, POLICE), what="queued event paged after restart")
    time.sleep(0.5)
    assert len(sms(twilio)) == 1 and len(incidents(svc)) == 1
