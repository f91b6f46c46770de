"""The alerting service wired together: intake -> dispatch -> escalation -> pager, the store under all of
it, and the web app (webhooks, /metrics, /healthz; the control room adds its routers) in the same loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable

import uvicorn
from fastapi import APIRouter

from quaywatch.alerting.cap_webhook import CapWebhook
from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.dispatch import Dispatcher, Incoming, epoch
from quaywatch.alerting.escalation import Escalator
from quaywatch.alerting.intake import Intake
from quaywatch.alerting.lifecycle import transition
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.notify.pager import TRANSIENT_TWILIO_CODES, Pager
from quaywatch.alerting.replies import Replies
from quaywatch.alerting.screen import EventRules, Rejected
from quaywatch.alerting.store import OPEN_STATES, AlertStore
from quaywatch.alerting.web import create_app
from quaywatch.config.site import Site
from quaywatch.errors import QuaywatchError
from quaywatch.mqtt_accounts import credentials

log = logging.getLogger(__name__)
# A write that failed for lack of space is named in health until an event commit succeeds after it, or, with
# no events held, this long after the last such failure (escalation's writes fail again while it lasts).
DISK_FULL_MEMORY_S = 60.0


class AlertingService:
    def __init__(self, site: Site, *, dry_run: bool | None = None, pager: Pager | None = None,
                 extra_routers: Iterable[APIRouter] = ()):
        self.site = site
        cfg = site.alerting
        self.dry_run = cfg.dry_run if dry_run is None else dry_run
        self.auth_token = os.environ.get(cfg.twilio.auth_token_env) or None
        self.metrics = Metrics()
        self.changes = ChangeFeed()
        self.store = AlertStore(cfg.store_url, int(cfg.store_reserve_mb * 2**20))
        self.pager = pager or self._pager()
        self.escalator = Escalator(site, self.store, self.pager, self.metrics, self.changes)
        self.dispatcher = Dispatcher(site, self.store, self.metrics, self.changes)
        self.replies = Replies(self.escalator, self.store, self.metrics, self.changes)
        self.cap_webhook = CapWebhook(site, self.store, cfg.instance_id, metrics=self.metrics)  # never holds up paging
        self.app = create_app(self, extra_routers)
        self.intake: Intake | None = None
        self._events_stored_at: float | None = None  # the last event commit that succeeded (health)
        self.web_port: int | None = None
        self._tasks: set[asyncio.Task] = set()
        # Called as the service stops, before the web server waits for its open responses: whatever holds a
        # response open for long (the control room's live stream) ends it here, so Ctrl-C stops at once.
        self.on_stop: list[Callable[[], None]] = []

    def _pager(self) -> Pager:
        if self.dry_run:
            return DryRunPager()
        if not self.auth_token:
            raise QuaywatchError(
                f"alerting.twilio.auth_token_env: environment variable {self.site.alerting.twilio.auth_token_env} "
                "is not set (or use --dry-run to print messages instead of sending them)")
        from quaywatch.alerting.notify.twilio_pager import TwilioPager

        return TwilioPager(self.site.alerting.twilio, self.auth_token, on_request=self._observe_latency)

    def _observe_latency(self, page, t: float) -> None:
        if page.received_at is not None:
            self.metrics.latency.observe(t - page.received_at)

    # --- the work -----------------------------------------------------------------------------------------
    async def handle_batch(self, items: list[Incoming]) -> None:
        """Commit a batch of valid events, then page every new incident at once (concurrently). This is the
        first page's normal path, carrying the event's receive time for the latency metric; the escalation loop
        leaves a new incident alone for FIRST_PAGE_GRACE_S (dispatch.py) and pages it only if this fire failed
        or the process died between the commit and the fire."""
        if not items:
            return
        opened_now, notices = await asyncio.to_thread(self.dispatcher.commit, items)
        self._store_took_events()
        self.dispatcher.announce(notices)
        for opened in opened_now:
            task = asyncio.create_task(self.escalator.fire(opened.incident_id, "first page", opened.received))
            self._tasks.add(task)
            task.add_done_callback(self._page_done)

    async def keep_late(self, items: list[Incoming]) -> None:
        """Store events too old to page (alerting.intake.max_event_age_s): kept, shown as late, never paged."""
        def commit() -> None:
            with self.store.db.tx():
                for item in items:
                    ev = item.payload
                    if not self.store.insert_event(ev, epoch(ev["time"]), item.received_wall, item.raw, late=True):
                        self.metrics.duplicates.inc()

        await asyncio.to_thread(commit)
        self._store_took_events()

    async def set_aside(self, rejected: list[Rejected]) -> None:
        await asyncio.to_thread(self.store.set_aside, [r.row() for r in rejected])

    def _store_took_events(self) -> None:
        self._events_stored_at = time.time()

    def _page_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The escalation loop pages the incident once its first-page grace runs out; this only must not
            # pass silently.
            log.error("first page failed: %r", task.exception(), exc_info=task.exception())

    async def delivery_status(self, key: str, status: str, error_code: str | None, sid: str | None) -> None:
        """A Twilio status callback. Keyed by our idempotency key (`?m=` in the callback URL), so it finds its
        message even when it arrives before the send's own answer (and the SID) is recorded: the row is claimed
        before the request leaves. Without a key, by the SID. The status is recorded only if it moves the
        message forward (a late 'queued' or 'sent' never overwrites 'delivered'); message_events keeps it."""
        msg = self.store.message(key) if key else None
        if msg is None and sid:
            msg = self.store.message_by_sid(sid)
        if msg is None:
            log.warning("status callback for unknown message %r (sid %s): %s", key, sid, status)
            return
        self.store.update_message(msg["id"], time.time(), status, provider_sid=sid, error_code=error_code)
        self.metrics.delivery.labels(status).inc()
        if msg["incident_id"]:
            self.changes.publish(msg["incident_id"], "delivery")
        # Resent only while this failure is the message's word: not after a delivery was confirmed. (A webhook
        # retry of the same failure resends nothing new: the redelivery's key is claimed once.)
        current = self.store.message(msg["id"])
        if current and current["status"] == status and status in ("failed", "undelivered") and error_code \
                and error_code.isdigit() and int(error_code) in TRANSIENT_TWILIO_CODES:
            await self.escalator.redeliver({**msg, "status": status})

    def act(self, incident_id: str, to: str, actor: str, note: str | None = None,
            closed_as: str | None = None) -> bool:
        """An operator's move (control room): acknowledge, resolve, close as ...; audited with `actor`.
        Raises LifecycleError (a QuaywatchError) naming what is not allowed."""
        moved = transition(self.store, incident_id, to, actor=actor, now=time.time(), note=note, closed_as=closed_as)
        if moved:
            self.changes.publish(incident_id, to)
        return moved

    # --- state for the web app ----------------------------------------------------------------------------
    def health(self) -> dict[str, bool]:
        store_ok = self.store_problem() is None
        return {"store": store_ok, "mqtt": bool(self.intake and self.intake.connected.is_set()),
                "paging": store_ok and self.paging().ok}

    def store_problem(self) -> str | None:
        """Why the store cannot take events, in words, or None. A full disk refuses writes while reads (and so
        a `SELECT 1`) still work: named from the last write that failed for lack of space (DISK_FULL_MEMORY_S)."""
        reserve = self.store.db.reserve
        if reserve is not None and reserve.released_at is not None:
            reserve.remake_if_room()
        if reserve is not None and reserve.released_at is not None:
            return (f"disk full: running on the {reserve.size // 2**20} MB reserve released at "
                    f"{time.strftime('%H:%M:%SZ', time.gmtime(reserve.released_at))}; free space now")
        full_at = self.store.db.disk_full_at
        holding = bool(self.intake and self.intake.holding_since is not None)
        if full_at is not None and (self._events_stored_at is None or self._events_stored_at < full_at) \
                and (holding or time.time() - full_at < DISK_FULL_MEMORY_S):
            return f"disk full (a write refused at {time.strftime('%H:%M:%SZ', time.gmtime(full_at))}): events held, not stored"
        if self.intake and self.intake.holding_since is not None:
            return f"refusing writes: {str(self.intake.holding_error)[:200]}"
        try:
            self.store.db.one("SELECT 1 AS x")
        except Exception as exc:
            return f"unreachable: {str(exc)[:200]}"
        return None

    def problems(self) -> list[str]:
        """What health says is wrong, in words for people (/healthz `problems`, the control room)."""
        out = []
        store = self.store_problem()
        if store:
            out.append(f"store: {store}")
        if not (self.intake and self.intake.connected.is_set()):
            out.append("mqtt: not connected to the broker")
        paging = self.paging()
        if not paging.ok and paging.problem:
            out.append(paging.problem)
        return out

    def paging(self):
        """Whether pages go out: Twilio answering (as this node sees it) and no page owed (alerting/escalation.py).
        Its `problem` says what is wrong, for /healthz and the control room."""
        return self.escalator.paging_state()

    def refresh_gauges(self) -> None:
        self.metrics.open_incidents.set(len(self.store.incidents(states=OPEN_STATES, limit=100000)))

    # --- running ------------------------------------------------------------------------------------------
    def _broker(self) -> tuple[str, int, object | None]:
        # No broker named: the one on loopback (the demo's), or the embedded one, started here.
        from quaywatch.broker import ensure_site_broker

        return ensure_site_broker(self.site)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if self.site.alerting.policies is None:
            log.error("alerting.policies is not configured: events are stored but nobody will be paged")
        # Pages this node was sending when it last stopped are reconciled with the provider by the escalation
        # loop's first round (alerting/reconcile.py), beside intake rather than before it.
        host, port, broker = self._broker()
        username, password = credentials(self.site, "alerting")  # its own account: reads only
        mqtt = self.site.mqtt.model_copy(update={"username": username})
        cfg = self.site.alerting
        self.intake = Intake(mqtt, host, port, self.site.site.id, f"quaywatch-{self.site.site.id}-{cfg.instance_id}",
                             self.metrics, self.handle_batch, password,
                             shared=bool(mqtt.host) and cfg.subscription == "shared", rules=EventRules.of(self.site),
                             keep_late=self.keep_late, set_aside=self.set_aside)
        # proxy_headers off: uvicorn would take the client address from X-Forwarded-For of any loopback peer;
        # the control room trusts that header only from its configured proxies (config/controlroom.py).
        # A response still open 3 s after a stop is cut (any the on_stop hooks did not end).
        server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.web.host, port=cfg.web.port,
                                               log_level="warning", lifespan="off", proxy_headers=False,
                                               timeout_graceful_shutdown=3))
        tasks = [asyncio.create_task(self.intake.run(stop)), asyncio.create_task(self.escalator.run(stop)),
                 asyncio.create_task(server.serve()), asyncio.create_task(self.cap_webhook.run(stop))]
        try:
            while not server.started and not tasks[2].done():
                await asyncio.sleep(0.02)
            if tasks[2].done():
                tasks[2].result()
                raise QuaywatchError(f"alerting.web: cannot listen on {cfg.web.host}:{cfg.web.port}")
            self.web_port = server.servers[0].sockets[0].getsockname()[1]
            log.info("alerting %s: web on http://%s:%d, pager %s, store %s", cfg.instance_id, cfg.web.host,
                     self.web_port, type(self.pager).__name__, self.store.db.dialect)
            print(f"alerting ready: http://{cfg.web.host}:{self.web_port}", flush=True)
            await stop.wait()
        finally:
            stop.set()
            server.should_exit = True
            for hook in self.on_stop:
                try:
                    hook()
                except Exception:  # a stop hook's failure must not keep the service from stopping
                    log.exception("alerting: a stop hook failed")
            await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)
            await self.pager.close()
            self.store.close()
            if broker is not None:
                broker.stop()
