# ruff: noqa: F811 - pytest fixtures imported from test_alerting_paging are parameters here
"""Faults around the alerting service: Twilio 500s and timeouts, a kill mid-escalation, duplicate and
malformed MQTT deliveries, missing or failed delivery confirmations; plus grouping of cameras."""

from __future__ import annotations

import itertools
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


def test_a_twilio_answer_after_the_timeout_never_duplicates(alerting, mosquitto, twilio):
    """Issue 13: Twilio answering after the client's read timeout gave two SMS (the timed-out request was sent
    again at once). Now the page is owed, and Twilio is asked whether it has it before anything is sent again:
    it does, so the police phone gets one SMS and the message row records it."""
    svc = alerting({**ONE_STEP, "alerting": {**ONE_STEP["alerting"],
                                             "twilio": {"timeout_s": 1, "answer_wait_s": 4}}})
    twilio.hang_next(1, 3.0)  # answered (and created) 3 s after the request: 2 s after the client gave up
    publish(mosquitto.port, [event()])
    wait_until(lambda: twilio.created(to=POLICE), what="the stand-in to create the SMS")
    inc = wait_until(lambda: incidents(svc), what="the incident")[0]

    def settled():
        detail = httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()
        out = [m for m in detail["messages"] if m["direction"] == "out"]
        return out if out and out[0]["status"] not in ("failed", "sending") else None

    out = wait_until(settled, timeout=60, what="the owed page looked up and recorded", logs=svc.process.output)
    time.sleep(3)  # a few more reconciliation rounds: nothing else may go out
    created = twilio.created(to=POLICE)
    assert len(created) == 1, created  # one SMS, never two
    assert len(sms(twilio)) == 1 and len(twilio.posts("/Messages.json", answered=False)) == 1
    assert out[0]["provider_sid"] == created[0]["sid"]
    assert twilio.gets("/Messages.json"), "Twilio was never asked"
    assert metric(svc, 'quaywatch_alerting_inflight_reconciled_total{outcome="found_sent"}') == 1


def test_a_connection_lost_after_sending_is_sent_once_after_asking_twilio(alerting, mosquitto, twilio):
    """The other ambiguous failure: the connection closes after the request was written, with no answer.
    Twilio never created it (the stand-in drops it), so after the lookup says so it is sent exactly once."""
    svc = alerting({**ONE_STEP, "alerting": {**ONE_STEP["alerting"],
                                             "twilio": {"timeout_s": 5, "answer_wait_s": 2}}})
    twilio.drop_next(1, hold_s=0.5)
    publish(mosquitto.port, [event()])
    wait_until(lambda: twilio.created(to=POLICE), timeout=60, what="the SMS sent after the lookup",
               logs=svc.process.output)
    time.sleep(3)
    assert len(twilio.created(to=POLICE)) == 1
    posts = twilio.posts("/Messages.json", answered=False)
    assert len(posts) == 2 and posts[0].get("dropped")  # the lost request, then one send after asking
    lookups = twilio.gets("/Messages.json")
    assert lookups and lookups[0]["wall"] < posts[1]["wall"]  # asked before it was sent again
    assert metric(svc, 'quaywatch_alerting_inflight_reconciled_total{outcome="owed_resent"}') == 1


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


# --- a Twilio outage longer than the whole policy --------------------------------------------------------------
OUTAGE_POLICY = {"alerting": {
    "delivery_timeout_s": 600,  # the policy's own delays are the clock here
    "owed_retry_max_s": 4,
    "twilio": {"timeout_s": 2, "retries": 1},
    "policies": {"water": {"steps": [
        {"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
        {"after_s": 3, "notify": ["police"], "channel": "voice"},
        {"after_s": 3, "notify": ["control_room"], "channel": "sms"}], "loops": 1, "loop_after_s": 3}}}}


def page_keys(twilio) -> list[str]:
    """The idempotency key of every page Twilio created (from its status callback URL), SMS and calls."""
    from urllib.parse import parse_qs, unquote, urlsplit

    created = [r for r in twilio.requests if "created" in r]
    return [unquote(parse_qs(urlsplit(r["form"]["StatusCallback"]).query)["m"][0]) for r in created]


def test_pages_outlive_a_twilio_outage_longer_than_the_policy(tmp_path, mosquitto, prism):
    """Issue 13: with Twilio refusing connections, each step failed after its retries, the next step fired at
    once, the two-round policy was spent in seconds with every page failed, health said ok, and when Twilio
    came back nothing was sent. Now the steps keep the policy's clock, every failed page is owed, health says
    so, and when Twilio is back every contact of every step that fired gets exactly one page."""
    from tests.peers import AlertingProcess, TwilioStandIn, free_port

    port = free_port()  # nothing listens there yet: every connection is refused
    svc = AlertingProcess(tmp_path / "alerting", mosquitto.port, OUTAGE_POLICY, f"http://127.0.0.1:{port}").start()
    stand_in = None
    try:
        down_at = time.monotonic()
        publish(mosquitto.port, [event()])
        inc = wait_until(lambda: incidents(svc), what="the incident")[0]

        def spent():
            i = httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()
            return i if (i["step"], i["loop"]) == (2, 1) else None

        detail = wait_until(spent, timeout=90, what="the policy's last step fired", logs=svc.process.output)
        fired = [t["at"] for t in detail["transitions"] if t["actor"] == "escalation" and "step " in (t["note"] or "")]
        assert len(fired) == 6, detail["transitions"]  # 3 steps x 2 rounds, each once
        gaps = [b - a for a, b in itertools.pairwise(fired)]
        assert min(gaps) >= 3 - 0.5, gaps  # by the policy's clock (3 s), not at once because sends failed
        assert detail["state"] == "paged"
        health = httpx.get(svc.url + "/healthz", timeout=5)
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["paging"] is False and body["store"] is True
        assert body["paging_problem"].startswith("pages failing: Twilio unreachable since "), body
        expected = {f"{inc['id']}:s{s}:l{loop}:{ch}:{to}" for loop in (0, 1)
                    for s, ch, numbers in ((0, "sms", (POLICE, RESCUE)), (1, "voice", (POLICE,)),
                                           (2, "sms", ("+4520000001",))) for to in numbers}
        assert body["pages_owed"] == len(expected) == 8, body
        time.sleep(max(0.0, 25 - (time.monotonic() - down_at)))  # down longer than the policy (~15 s)
        assert [m["status"] for m in httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()["messages"]
                if m["direction"] == "out"] == ["failed"] * 8

        stand_in = TwilioStandIn(upstream=prism.url, port=port).start()  # Twilio is back
        wait_until(lambda: set(page_keys(stand_in)) >= expected, timeout=60, what="every owed page sent",
                   logs=svc.process.output)
        time.sleep(2 * 4 + 2)  # two more retry periods: nothing may go out twice
        keys = page_keys(stand_in)
        assert sorted(keys) == sorted(expected), keys  # every contact of every step that fired, exactly once
        assert all(r["upstream_status"] in (200, 201) for r in stand_in.requests if "upstream_status" in r)
        health = httpx.get(svc.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["paging"] is True, health.text
        out = [m for m in httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=5).json()["messages"]
               if m["direction"] == "out"]
        assert sorted(m["id"] for m in out) == sorted(expected)
        assert all(m["status"] not in ("failed", "sending") and m["provider_sid"] for m in out), out
    finally:
        svc.stop()
        if stand_in is not None:
            stand_in.stop()
