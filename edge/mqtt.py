"""The edge's link to the MQTT broker: events from the outbox, in order, QoS 1; retained status; last will.

Topics (documented in docs/mqtt.md):
    <prefix>/<site>/<camera>/events        QoS 1, one event per message (event.schema.json)
    <prefix>/<site>/<camera>/status        QoS 1, retained (status.schema.json)
    <prefix>/<site>/edge/<worker>/status   QoS 1, retained; the last will says `offline`

The link runs its own asyncio loop in a thread so detection threads never wait on the network. It uses
a stable client id and clean_session=False. A fresh aiomqtt client is made for every connection: the
outbox, not paho's in-memory queue, is what gets resent, so a reconnect never sends a message twice
from two queues. An event leaves the outbox only after its PUBACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

import aiomqtt

from quaywatch.config.mqtt import MqttConfig, broker_password
from quaywatch.config.wire import encode
from quaywatch.edge.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str

    def events(self, camera: str) -> str:
        return f"{self.prefix}/{self.site}/{camera}/events"

    def camera_status(self, camera: str) -> str:
        return f"{self.prefix}/{self.site}/{camera}/status"

    def worker_status(self, worker: str) -> str:
        return f"{self.prefix}/{self.site}/edge/{worker}/status"

    def preview(self, camera: str, leaf: str = "preview") -> str:
        return f"{self.prefix}/{self.site}/{camera}/{leaf}"


def utc_iso(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds, as the schemas' date-time wants."""
    ms = round(epoch * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def worker_status(site: str, worker: str, state: str, reason: str, now: float | None = None) -> bytes:
    return encode("status", {
        "version": 1, "site": site, "worker": worker, "state": state,
        "time": utc_iso(time.time() if now is None else now), "reason": reason,
    })


@dataclass
class LinkStats:
    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    published: int = 0  # events acknowledged by the broker
    resent: int = 0  # events published again after an earlier attempt (outage or restart)
    statuses: int = 0
    previews: int = 0  # live-view frames sent (QoS 0)
    buried: int = 0  # events the broker kept refusing, moved to the outbox's dead table
    last_error: str = ""
    outages_s: list[float] = field(default_factory=list)  # link down -> up again, per reconnect
    connected_at: float | None = None  # time.monotonic() of the latest CONNACK

    def as_dict(self) -> dict:
        return {
            "connected": self.connected, "connects": self.connects, "disconnects": self.disconnects,
            "published": self.published, "resent": self.resent, "statuses": self.statuses, "buried": self.buried,
            "previews": self.previews,
            "last_error": self.last_error,
            "last_outage_s": round(self.outages_s[-1], 3) if self.outages_s else None,
        }


class MqttLink:
    def __init__(self, cfg: MqttConfig, site: str, worker: str, outbox: Outbox, host: str, port: int,
                 credentials: tuple[str | None, str | None] | None = None):
        """`credentials`: (username, password) of this worker's account (quaywatch.mqtt_accounts);
        None = mqtt.username and mqtt.password_env."""
        self.cfg = cfg
        self.site = site
        self.worker = worker
        self.outbox = outbox
        self.host = host
        self.port = port
        self.topics = Topics(cfg.topic_prefix, site)
        self.client_id = f"quaywatch-edge-{site}-{worker}"[:128]
        self.stats = LinkStats()
        self._username, self._password = credentials if credentials else (cfg.username, broker_password(cfg))
        self._statuses: dict[str, bytes] = {}  # topic -> latest retained payload
        self._dirty: set[str] = set()
        self._previews: dict[str, bytes] = {}  # topic -> newest live-view JPEG not yet sent
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._lost_at: float | None = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="mqtt-link", daemon=True)

    # --- called from any thread -------------------------------------------------------------------
    def start(self) -> MqttLink:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Say `offline` (stopped) on the worker status, disconnect cleanly; unacked events stay in the outbox."""
        self._stopping = True
        self.notify()
        self._thread.join(timeout)

    def notify(self) -> None:
        """Something new is in the outbox or a status changed."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                loop.call_soon_threadsafe(wake.set)

    def set_status(self, topic: str, payload: bytes) -> None:
        """Publish retained; only the latest payload per topic matters and it is republished on reconnect."""
        with self._lock:
            self._statuses[topic] = payload
            self._dirty.add(topic)
        self.notify()

    def set_preview(self, topic: str, jpeg: bytes) -> None:
        """A live-view frame: QoS 0, not retained, never queued. Only the newest per topic is sent; one
        superseded (or lost while disconnected) is worth nothing to the control room."""
        with self._lock:
            self._previews[topic] = jpeg
        self.notify()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # --- the link's own thread ----------------------------------------------------------------------
    def _thread_main(self) -> None:
        asyncio.run(self._run())

    def _client(self) -> aiomqtt.Client:
        tls = aiomqtt.TLSParameters(ca_certs=self.cfg.ca_file) if self.cfg.tls else None
        will = aiomqtt.Will(
            self.topics.worker_status(self.worker),
            worker_status(self.site, self.worker, "offline", "connection lost (last will)"),
            qos=1, retain=True,
        )
        return aiomqtt.Client(
            self.host, self.port, identifier=self.client_id, clean_session=False,
            username=self._username, password=self._password, tls_params=tls, will=will,
            keepalive=self.cfg.keepalive_s, timeout=self.cfg.publish_timeout_s,
        )

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        delay = self.cfg.reconnect_min_s
        down_since: float | None = None
        while not self._stopping:
            self._lost_at = None
            try:
                async with self._client() as client:
                    if down_since is not None:
                        self.stats.outages_s.append(time.monotonic() - down_since)
                        log.info("MQTT reconnected to %s:%d after %.2fs", self.host, self.port,
                                 self.stats.outages_s[-1])
                    else:
                        log.info("MQTT connected to %s:%d as %s", self.host, self.port, self.client_id)
                    self.stats.connected = True
                    self.stats.connects += 1
                    self.stats.connected_at = time.monotonic()
                    self._connected.set()
                    delay = self.cfg.reconnect_min_s
                    await self._session(client)
                    return  # _session returns only when stopping
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
                if self.stats.connected:
                    self.stats.disconnects += 1
                    down_since = self._lost_at or time.monotonic()
                    log.warning("MQTT link to %s:%d lost: %s", self.host, self.port, exc)
                elif down_since is None:
                    down_since = time.monotonic()
                    log.warning("MQTT broker %s:%d unreachable: %s (retrying)", self.host, self.port, exc)
            finally:
                self.stats.connected = False
                self._connected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stopping(), delay)
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    async def _wait_stopping(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _session(self, client: aiomqtt.Client) -> None:
        """Drain until stopped; the watcher turns a lost connection into MqttError at once."""
        drain = asyncio.create_task(self._drain(client))
        watch = asyncio.create_task(self._watch(client))
        try:
            done, _ = await asyncio.wait({drain, watch}, return_when=asyncio.FIRST_COMPLETED)
            self._lost_at = time.monotonic()  # before the slow part: closing the dead client
        finally:
            for task in (drain, watch):
                task.cancel()
            await asyncio.gather(drain, watch, return_exceptions=True)
        for task in done:
            task.result()  # re-raise MqttError so _run reconnects

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # we subscribe to nothing: this only ends by raising on disconnect
            pass

    async def _drain(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.worker_status(self.worker),
                             worker_status(self.site, self.worker, "online", "running"), qos=1, retain=True)
        with self._lock:
            self._dirty = set(self._statuses)  # a new connection republishes every known status
        while True:
            self._wake.clear()
            await self._publish_statuses(client)
            await self._publish_previews(client)
            while batch := self.outbox.pending(limit=100):
                for item in batch:
                    if item.attempts >= self.cfg.max_publish_attempts:
                        reason = f"not acknowledged after {item.attempts} attempts ({self.stats.last_error})"
                        self.outbox.bury(item.seq, reason)
                        self.stats.buried += 1
                        log.error("event %s set aside in the outbox's dead table: %s", item.event_id, reason)
                        continue
                    if item.attempts:
                        self.stats.resent += 1
                    self.outbox.attempted(item.seq)
                    await client.publish(item.topic, item.payload, qos=1)  # returns on PUBACK
                    self.outbox.ack(item.seq)
                    self.stats.published += 1
                await self._publish_statuses(client)
            if self._stopping:
                await client.publish(self.topics.worker_status(self.worker),
                                     worker_status(self.site, self.worker, "offline", "stopped"),
                                     qos=1, retain=True)
                return
            await self._wake.wait()

    async def _publish_previews(self, client: aiomqtt.Client) -> None:
        with self._lock:
            previews, self._previews = self._previews, {}
        for topic, jpeg in previews.items():
            await client.publish(topic, jpeg, qos=0, retain=False)
            self.stats.previews += 1

    async def _publish_statuses(self, client: aiomqtt.Client) -> None:
        while True:
            with self._lock:
                if not self._dirty:
                    return
                topic = self._dirty.pop()
                payload = self._statuses[topic]
            try:
                await client.publish(topic, payload, qos=1, retain=True)
            except BaseException:
                with self._lock:
                    self._dirty.add(topic)  # still owed on the next connection
                raise
            self.stats.statuses += 1
