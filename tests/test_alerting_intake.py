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


def test_events_topic_is_shared_and_site_scoped():
    assert events_topic("quaywatch", "aalborg-havnefront") == "$share/quaywatch-alerting/quaywatch/aalborg-havnefront/+/events"
