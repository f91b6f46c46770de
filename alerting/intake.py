"""Intake: events from MQTT into the store, then straight to the first page.

QoS 1 and a persistent session. By default each instance keeps its own subscription and sees every
event; the store keeps each event once and pages it once, so two instances never double-page. Mosquitto
persists such a subscription across its own restart; it does not persist a shared one
(`$share/quaywatch-alerting/...`), and an event published between the restart and alerting's
re-subscription would be acknowledged to the edge and dropped. `alerting.subscription: shared` splits
the stream instead, for brokers that do persist shared subscriptions (EMQX, HiveMQ). PUBACK is sent only after the event is committed to the store (paho's manual
ack): an alerting process that dies with events in hand gets them redelivered. Messages waiting in the
client's queue are committed together (group commit), which is what makes durable writes fast.
Every payload is screened (alerting/screen.py: the wire contract, then the site). Any failure to parse or
validate one (the parser's own exceptions included) is a rejection: logged escaped with the reason,
counted, stored aside in the `rejected` table and acked (it would be as bad the next time), and it never
stops the loop. An event older than max_event_age_s is stored as late
and never paged. A store that refuses a batch (a full disk) is waited out with the batch held, unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl
import sys
import time
from collections.abc import Awaitable, Callable

import aiomqtt

from quaywatch.alerting.dispatch import Incoming
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.screen import EventRules, Rejected, Screened, printable, screen
from quaywatch.config.mqtt import MqttConfig

log = logging.getLogger(__name__)
SHARE_GROUP = "quaywatch-alerting"
MAX_BATCH = 500
HOLD_FIRST_S, HOLD_MAX_S = 0.2, 5.0  # retrying a batch the store refused: first delay, cap
POISON_AFTER = 3  # an event whose handling fails this often, alone and not for the store, is set aside


def events_topic(prefix: str, site: str, shared: bool = True) -> str:
    """Shared so two instances split the stream; the embedded broker (amqtt) knows no `$share`, and with
    it there is only ever one instance on the machine anyway."""
    topic = f"{prefix}/{site}/+/events"
    return f"$share/{SHARE_GROUP}/{topic}" if shared else topic


def store_unavailable(exc: BaseException) -> bool:
    """The store itself failing (disk full, locked, connection lost), not this batch: hold the batch and try
    again, however long it takes, rather than set an event aside. A constraint an event breaks is not."""
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return True
    psycopg = sys.modules.get("psycopg")  # only loaded when the store is PostgreSQL
    return psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class Intake:
    def __init__(self, mqtt: MqttConfig, host: str, port: int, site_id: str, client_id: str, metrics: Metrics,
                 handle: Callable[[list[Incoming]], Awaitable[None]], password: str | None = None,
                 shared: bool = True, rules: EventRules | None = None,
                 keep_late: Callable[[list[Incoming]], Awaitable[None]] | None = None,
                 set_aside: Callable[[list[Rejected]], Awaitable[None]] | None = None):
        """`handle` stores and pages valid events, `keep_late` stores late ones (never paged), `set_aside` stores
        rejections (best effort: a rejection is acknowledged even when it cannot be stored, or it would come
        back for ever)."""
        self.mqtt = mqtt
        self.host, self.port = host, port
        self.topic = events_topic(mqtt.topic_prefix, site_id, shared)
        self.client_id = client_id
        self.metrics = metrics
        self.handle = handle
        self.keep_late = keep_late
        self.set_aside = set_aside
        self.rules = rules
        self.password = password
        self.connected = asyncio.Event()
        # While a batch cannot be stored: since when, and why (health names it; the batch is held, unacked).
        self.holding_since: float | None = None
        self.holding_error: BaseException | None = None

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
                # Nothing a payload or the store does ends up here (both are handled in _consume); this is
                # the last guard. Nothing of the batch was acked, so after reconnecting the broker delivers
                # it again. Never let intake die with the service still up.
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
                await self._take(screen(raws, self.metrics, self.rules), stop)
                for m in batch:  # committed (or rejected for good): now the broker may forget them
                    client._client.ack(m.mid, m.qos)
        finally:
            stopping.cancel()

    async def _take(self, screened: Screened, stop: asyncio.Event) -> None:
        """Store (and page) what the batch holds. A store that fails is waited out with the batch held and
        the connection kept (the broker keeps the rest; health names the store, not MQTT); an event that
        alone keeps failing for any other reason is set aside rather than let it wedge intake."""
        if screened.valid:
            screened.rejected += await self._until_taken(self.handle, screened.valid, stop)
        if screened.late and self.keep_late is not None:
            screened.rejected += await self._until_taken(self.keep_late, screened.late, stop)
        if screened.rejected and self.set_aside is not None:
            try:
                await self.set_aside(screened.rejected)
            except Exception as exc:  # logged and counted already; acked all the same
                log.error("intake: %d rejected payloads could not be stored aside (%s); acknowledged anyway",
                          len(screened.rejected), printable(str(exc)))

    async def _until_taken(self, call: Callable[[list[Incoming]], Awaitable[None]], items: list[Incoming],
                           stop: asyncio.Event) -> list[Rejected]:
        """Call until it succeeds; returns the items set aside as poison (see _take)."""
        failures, delay = 0, HOLD_FIRST_S
        while True:
            try:
                await call(items)
            except Exception as exc:
                failures += 1
                if stop.is_set():
                    raise
                if not store_unavailable(exc) and failures >= POISON_AFTER:
                    if len(items) > 1:  # find the one that fails, take the rest
                        poison: list[Rejected] = []
                        for item in items:
                            poison += await self._until_taken(call, [item], stop)
                        return poison
                    return [self._poison(items[0], exc)]
                if self.holding_since is None:
                    self.holding_since = time.time()
                self.holding_error = exc
                log.warning("intake: storing %d events failed (%s); holding them unacknowledged, trying again in "
                            "%.1fs", len(items), printable(f"{type(exc).__name__}: {exc}"), delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, HOLD_MAX_S)
            else:
                self.holding_since = self.holding_error = None
                return []

    def _poison(self, item: Incoming, exc: BaseException) -> Rejected:
        ev = item.payload
        self.metrics.rejected.labels("handling_failed").inc()
        log.error("intake: event %s (%s on %s) failed %d times alone (%s): set aside, not paged",
                  ev.get("event_id"), ev.get("kind"), ev.get("camera"), POISON_AFTER,
                  printable(f"{type(exc).__name__}: {exc}"), exc_info=exc)
        raw = item.raw or ""
        return Rejected(time.time(), "handling_failed", printable(f"{type(exc).__name__}: {exc}", 1000),
                        f"{ev.get('site')}/{ev.get('camera')}", len(raw.encode()), printable(raw[:1024], 4096))
