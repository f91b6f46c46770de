"""POST each CAP message (alerting/cap.py) to the configured dispatch endpoints, signed, with retries.

Runs as its own task beside paging and never holds it up: it watches the audit trail (new rows, by id, as the
control room does), renders the incidents that changed, and hands every message not yet handed to each
endpoint. A (message, endpoint) pair is claimed in `cap_deliveries` before it is sent, so two alerting nodes
send it once between them, and a restart sends nothing twice. Each POST is retried on a connection error or
a 5xx/429 answer, `cap.retries` times with a doubling backoff; the outcome is recorded either way.

The signature: `X-Quaywatch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the key in
`$cap.webhook_secret_env`, with the Unix time in `X-Quaywatch-Timestamp` (a receiver refuses old ones: replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time

import httpx

from quaywatch.alerting.cap import CapMessage, rendered
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.store import AlertStore
from quaywatch.config.alerting import CapEndpoint
from quaywatch.config.site import Site
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)
LOOKBACK_S = 3600.0  # at start, messages of the last hour not yet handed on (a restart mid-incident) go out


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class CapWebhook:
    def __init__(self, site: Site, store: AlertStore, instance_id: str, poll_s: float = 0.25,
                 metrics: Metrics | None = None):
        self.site = site
        self.cfg = site.alerting.cap
        self.store = store
        self.instance_id = instance_id
        self.poll_s = poll_s
        self.metrics = metrics
        secret = os.environ.get(self.cfg.webhook_secret_env)
        if self.cfg.endpoints and not secret:
            raise QuaywatchError(
                f"alerting.cap.webhook_secret_env: environment variable {self.cfg.webhook_secret_env} is not set; "
                f"the CAP webhook to {', '.join(e.name for e in self.cfg.endpoints)} must be signed")
        self.secret = (secret or "").encode()
        self._tasks: set[asyncio.Task] = set()
        self._lanes: dict[tuple[str, str], asyncio.Task] = {}

    async def run(self, stop: asyncio.Event) -> None:
        if not self.cfg.endpoints:
            return
        async with httpx.AsyncClient(timeout=self.cfg.timeout_s) as client:
            mark = self._start_mark()
            while not stop.is_set():
                try:
                    mark = await self._pass(client, mark)
                except Exception:  # a database hiccup: the next pass tries again from the same mark
                    log.exception("CAP webhook pass failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
            if self._tasks:  # deliveries under way finish (their own retries are bounded)
                await asyncio.wait(self._tasks, timeout=self.cfg.timeout_s)

    def _start_mark(self) -> int:
        row = self.store.db.one("SELECT MAX(id) AS m FROM transitions WHERE at < ?", (time.time() - LOOKBACK_S,))
        return int((row or {}).get("m") or 0)

    async def _pass(self, client: httpx.AsyncClient, mark: int) -> int:
        rows = self.store.db.all("SELECT id, incident_id FROM transitions WHERE id > ? ORDER BY id LIMIT 500", (mark,))
        if not rows:
            return mark
        for incident_id in dict.fromkeys(r["incident_id"] for r in rows):
            for msg in rendered(self.site, self.store, incident_id):
                for ep in self.cfg.endpoints:
                    if self._claim(msg, ep):
                        self._queue(client, incident_id, msg, ep)
        return rows[-1]["id"]

    def _queue(self, client: httpx.AsyncClient, incident_id: str, msg: CapMessage, ep: CapEndpoint) -> None:
        """Messages of one incident reach one endpoint in the order they were made: a Cancel that overtook
        its Alert (the Alert still retrying a 503) would reach a dispatch system that has no alert to cancel.
        Each (incident, endpoint) is a lane; a message starts when the one before it in its lane is done."""
        lane = (incident_id, ep.name)
        before = self._lanes.get(lane)

        async def in_turn() -> bool:
            if before is not None:
                await asyncio.wait({before})  # its outcome is recorded by itself; only its end matters here
            return await self.deliver(client, msg, ep)

        task = asyncio.create_task(in_turn())
        self._lanes[lane] = task
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._lanes.get(lane) is t:
                del self._lanes[lane]
        task.add_done_callback(done)

    def _claim(self, msg: CapMessage, ep: CapEndpoint) -> bool:
        now = time.time()
        return bool(self.store.db.run(
            "INSERT INTO cap_deliveries (identifier, endpoint, status, attempts, claimed_by, created_at, updated_at) "
            "VALUES (?, ?, 'sending', 0, ?, ?, ?) ON CONFLICT (identifier, endpoint) DO NOTHING",
            (msg.identifier, ep.name, self.instance_id, now, now)))

    async def deliver(self, client: httpx.AsyncClient, msg: CapMessage, ep: CapEndpoint) -> bool:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + msg.xml).encode()
        delay, status, detail = self.cfg.backoff_s, None, ""
        attempt = 0
        for attempt in range(1, self.cfg.retries + 2):
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/cap+xml; charset=utf-8", "X-Quaywatch-Timestamp": ts,
                       "X-Quaywatch-Signature": sign(self.secret, ts, body), "X-Quaywatch-Message": msg.identifier}
            try:
                resp = await client.post(ep.url, content=body, headers=headers)
                status, detail = resp.status_code, resp.text[:200]
                if resp.status_code < 300:
                    self._record(msg, ep, "delivered", attempt, status, None)
                    log.info("CAP %s %s delivered to %s", msg.msg_type, msg.identifier, ep.name)
                    return True
                if resp.status_code < 500 and resp.status_code != 429:
                    break  # the endpoint refuses this message: sending it again will not help
            except httpx.HTTPError as exc:
                status, detail = None, f"{type(exc).__name__}: {exc}"[:200]
            if attempt <= self.cfg.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self._record(msg, ep, "failed", attempt, status, detail)
        log.error("CAP %s %s NOT delivered to %s after %d attempt(s): %s %s", msg.msg_type, msg.identifier,
                  ep.name, attempt, status or "", detail)
        return False

    def _record(self, msg: CapMessage, ep: CapEndpoint, status: str, attempts: int, http_status: int | None,
                detail: str | None) -> None:
        with contextlib.suppress(Exception):  # the outcome is also in the log; a store hiccup loses only this row
            self.store.db.run("UPDATE cap_deliveries SET status = ?, attempts = ?, http_status = ?, detail = ?, "
                              "updated_at = ? WHERE identifier = ? AND endpoint = ?",
                              (status, attempts, http_status, detail, time.time(), msg.identifier, ep.name))
        if self.metrics is not None:
            self.metrics.cap_webhook.labels(ep.name, status).inc()
