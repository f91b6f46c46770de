"""Intake against a real Mosquitto: PUBACK only after the batch is handled, so a failure before the commit
gets the event delivered again; the shared-subscription topic is the one the edge publishes under."""

from __future__ import annotations

import asyncio

from quaywatch.alerting.intake import Intake, events_topic
from quaywatch.alerting.metrics import Metrics
from quaywatch.config.mqtt import MqttConfig
from tests.test_alerting_paging import event, publish


def test_a_batch_that_fails_before_commit_is_redelivered(mosquitto):
    seen: list[list[str]] = []

    async def handle(batch):
        seen.append([i.payload["event_id"] for i in batch])
        if len(seen) == 1:
            raise RuntimeError("database is locked")  # as a failed commit would

    async def main():
        stop = asyncio.Event()
        intake = Intake(MqttConfig(host="127.0.0.1", port=mosquitto.port), "127.0.0.1", mosquitto.port,
                        "demo-harbour", "test-intake", Metrics(), handle)
        task = asyncio.create_task(intake.run(stop))
        await asyncio.wait_for(intake.connected.wait(), 10)
        ev = event()
        await asyncio.to_thread(publish, mosquitto.port, [ev])
        for _ in range(200):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        return ev["event_id"]

    event_id = asyncio.run(main())
    assert seen[:2] == [[event_id], [event_id]], seen  # the same event again after the failure
    assert len(seen) == 2  # acked after the second, successful handling: not delivered a third time


def test_an_event_whose_handling_alone_keeps_failing_is_set_aside_and_the_rest_taken(mosquitto):
    """Not the store's fault (that is waited out): a bug one event trips. Held for ever, it would stop every
    later page, as a poison payload did; it is tried alone, set aside after POISON_AFTER tries, and acked."""
    taken: list[str] = []
    aside: list = []
    poison = event()

    async def handle(batch):
        if any(i.payload["event_id"] == poison["event_id"] for i in batch):
            raise KeyError("a bug this event trips")
        taken.extend(i.payload["event_id"] for i in batch)

    async def set_aside(rejected):
        aside.extend(rejected)

    metrics = Metrics()

    async def main():
        stop = asyncio.Event()
        intake = Intake(MqttConfig(host="127.0.0.1", port=mosquitto.port), "127.0.0.1", mosquitto.port,
                        "demo-harbour", "test-intake", metrics, handle, set_aside=set_aside)
        task = asyncio.create_task(intake.run(stop))
        await asyncio.wait_for(intake.connected.wait(), 10)
        good = [event(), event()]
        await asyncio.to_thread(publish, mosquitto.port, [good[0], poison, good[1]])
        for _ in range(400):
            if len(taken) >= 2 and aside:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # had the poison not been acked, it would be back
        stop.set()
        await task
        return [g["event_id"] for g in good]

    good_ids = asyncio.run(main())
    assert sorted(taken) == sorted(good_ids)
    assert [(r.reason, r.topic) for r in aside] == [("handling_failed", "demo-harbour/cam-1")]
    assert "KeyError" in aside[0].detail and poison["event_id"] in aside[0].prefix
    assert metrics.sample("quaywatch_alerting_events_rejected_total", {"reason": "handling_failed"}) == 1


def test_events_topic_is_shared_and_site_scoped():
    assert events_topic("quaywatch", "aalborg-havnefront") == "$share/quaywatch-alerting/quaywatch/aalborg-havnefront/+/events"
