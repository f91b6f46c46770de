"""Intake: events from MQTT into the store, then straight to the first page.

QoS 1 and a persistent session. By default each instance keeps its own subscription and sees every
event; the store keeps each event once and pages it once, so two instances never double-page. Mosquitto
persists such a subscription across its own restart; it does not persist a shared one
(`$share/quaywatch-alerting/...`), and an event published between the restart and alerting's
re-subscription would be acknowledged to the edge and dropped. `alerting.subscription: shared` splits
the stream instead, for brokers that do persist shared subscriptions (EMQX, HiveMQ). PUBACK is sent only after the event is committed to the store (paho's manual
ack): an alerting process that dies with events in hand gets them redelivered. Messages waiting in the
client's queue are committed together (group commit), which is what makes durable writes fast.
Every payload is validated by config/wire.py; a bad one is logged with the reason, counted, acked (it
would be as bad the next time) and never stops the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import aiomqtt
import fastjsonschema
import orjson

from quaywatch.alerting.dispatch import Incoming, epoch
from quaywatch.alerting.metrics import Metrics
from quaywatch.config.mqtt import MqttConfig
from quaywatch.config.wire import EVENT_VERSION, MAX_PAYLOAD_BYTES, SCHEMAS_DIR, WireError, decode

log = logging.getLogger(__name__)
SHARE_GROUP = "quaywatch-alerting"
MAX_BATCH = 500


def events_topic(prefix: str, site: str, shared: bool = True) -> str:
    """Shared so two instances split the stream; the embedded broker (amqtt) knows no `$share`, and with
    it there is only ever one instance on the machine anyway."""
    topic = f"{prefix}/{site}/+/events"
    return f"$share/{SHARE_GROUP}/{topic}" if shared else topic


def reject_reason(exc: WireError) -> str:
    text = str(exc)
    for key, label in (("exceeds", "oversized"), ("not JSON", "not_json"), ("unsupported version", "version")):
        if key in text:
            return label
    return "schema"


@cache
def _compiled_event_schema() -> Callable[[Any], Any]:
    return fastjsonschema.compile(json.loads((SCHEMAS_DIR / "event.schema.json").read_text()))


def decode_event(raw: bytes) -> dict[str, Any]:
    """config/wire.py's `decode("event", raw)`, fast for valid payloads.

    jsonschema takes ~1 ms per event; the same schema file compiled by fastjsonschema takes ~40 us, and
    orjson parses a 30 KB payload in a fifth of json's time. A payload both accept is returned; anything
    else (orjson is stricter: NaN, huge integers) goes through wire.decode, which raises the canonical
    WireError naming the field (or accepts it: wire.py is the contract, not this shortcut).
    """
    if len(raw) <= MAX_PAYLOAD_BYTES:
        try:
            payload = orjson.loads(raw)
            if isinstance(payload, dict) and payload.get("version") == EVENT_VERSION:
                _compiled_event_schema()(payload)
                return payload
        except (ValueError, fastjsonschema.JsonSchemaException):
            pass
    return decode("event", raw)


def validate_batch(raws: list[tuple[str, bytes]], metrics: Metrics) -> list[Incoming]:
    """Decode each payload; rejects are logged with their reason and counted, the rest returned."""
    out = []
    for topic, raw in raws:
        received = time.perf_counter()
        try:
            payload = decode_event(raw)
            epoch(payload["time"])  # the schema says date-time; dispatch needs it parseable, checked here
        except ValueError:
            metrics.rejected.labels("time").inc()
            log.warning("rejected payload on %s: time %r is not an ISO 8601 date-time", topic, payload.get("time"))
            continue
        except WireError as exc:
            metrics.rejected.labels(reject_reason(exc)).inc()
            log.warning("rejected payload on %s: %s", topic, str(exc)[:300])
            continue
        parts = topic.split("/")
        if len(parts) >= 3 and (parts[-3], parts[-2]) != (payload["site"], payload["camera"]):
            metrics.rejected.labels("topic_mismatch").inc()
            log.warning("rejected event %s: topic %s does not match site/camera %s/%s",
                        payload["event_id"], topic, payload["site"], payload["camera"])
            continue
        out.append(Incoming(payload, received=received, raw=raw.decode() if isinstance(raw, bytes) else raw))
    return out


class Intake:
    def __init__(self, mqtt: MqttConfig, host: str, port: int, site_id: str, client_id: str, metrics: Metrics,
                 handle: Callable[[list[Incoming]], Awaitable[None]], password: str | None = None,
                 shared: bool = True):
        self.mqtt = mqtt
        self.host, self.port = host, port
        self.topic = events_topic(mqtt.topic_prefix, site_id, shared)
        self.client_id = client_id
        self.metrics = metrics
        self.handle = handle
        self.password = password
        self.connected = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        tls = None
        if self.mqtt.tls:
            tls = ssl.create_default_context(cafile=self.mqtt.ca_file)
        client = aiomqtt.Client(self.host, self.port, identifier=self.client_id, clean_session=False,
                                username=self.mqtt.username, password=self.password, tls_context=tls,
                                keepalive=30)
        client._client.manual_ack_set(True)  # PUBACK after the commit, not on arrival
        return client

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                async with self._client() as client:
                    await client.subscribe(self.topic, qos=1)
                    self.metrics.mqtt_connected.set(1)
                    self.connected.set()
                    delay = 0.2
                    log.info("intake: subscribed to %s on %s:%d", self.topic, self.host, self.port)
                    await self._consume(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("intake: broker %s:%d: %s; reconnecting in %.1fs", self.host, self.port, exc, delay)
            except Exception:
                # e.g. the store refused a commit: nothing of the batch was acked, so after reconnecting
                # the broker delivers it again. Never let intake die with the service still up.
                log.exception("intake: handling a batch failed; reconnecting for redelivery in %.1fs", delay)
            finally:
                self.metrics.mqtt_connected.set(0)
                self.connected.clear()
            if not stop.is_set():
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        messages = aiter(client.messages)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                nxt = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    return
                batch = [nxt.result()]
                while len(client.messages) and len(batch) < MAX_BATCH:
                    batch.append(await anext(messages))
                raws = [(str(m.topic), m.payload if isinstance(m.payload, bytes) else str(m.payload).encode())
                        for m in batch]
                await self.handle(validate_batch(raws, self.metrics))
                for m in batch:  # committed (or rejected for good): now the broker may forget them
                    client._client.ack(m.mid, m.qos)
        finally:
            stopping.cancel()
