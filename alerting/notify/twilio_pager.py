"""Twilio pager: SMS via Messages, voice via Calls with inline TwiML, through the official `twilio` client.

The client is synchronous, so each send runs in a small thread pool (one client and HTTP connection
pool per thread) and the event loop never waits on the network. Only transient failures are retried,
with doubling backoff: HTTP 5xx and 429, Twilio 30001/30008, timeouts and refused connections. A 4xx
(a bad number, a bad request) will not get better by asking again.

`find_sent` asks the Messages / Calls list APIs whether a page left already (reconciliation of a page whose
sender died mid-send): one attempt, no retries; the reconciler asks again in its next round.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from quaywatch.alerting.notify.pager import TRANSIENT_TWILIO_CODES, Found, LookupFailed, Page, SendError, Sent
from quaywatch.config.alerting import TwilioConfig

log = logging.getLogger(__name__)
# The newest messages (or calls) to one number from ours that a lookup reads: a page is looked up within
# minutes of its claim, and one number gets a handful of pages per incident.
LOOKUP_PAGE_SIZE = 50


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TwilioRestException):
        return exc.status >= 500 or exc.status == 429 or (exc.code in TRANSIENT_TWILIO_CODES)
    return isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError)


class TwilioPager:
    def __init__(self, cfg: TwilioConfig, auth_token: str, *, workers: int = 8,
                 on_request: Callable[[Page, float], None] | None = None):
        self.cfg = cfg
        self._token = auth_token
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twilio")
        self.on_request = on_request  # called in the worker thread just before the HTTP request leaves

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http = TwilioHttpClient(timeout=self.cfg.timeout_s)
            client = Client(self.cfg.account_sid, self._token, http_client=http)
            client.api.base_url = self.cfg.api_base_url  # Prism or a stand-in in tests; Twilio in production
            self._local.client = client
        return client

    def _send_once(self, page: Page) -> Sent:
        api = self._client().api.v2010.accounts(self.cfg.account_sid)
        kwargs = {"status_callback": page.status_callback} if page.status_callback else {}
        if self.on_request:
            try:
                self.on_request(page, time.perf_counter())
            except Exception:  # a measuring hook must never stop a page
                log.exception("on_request hook failed")
        if page.channel == "sms":
            msg = api.messages.create(to=page.to, from_=self.cfg.from_number, body=page.body,
                                      validity_period=self.cfg.validity_period_s, **kwargs)
            return Sent(sid=msg.sid or "", status=str(msg.status or "queued"), attempts=1)
        # Twilio calls back on `completed` by default, the one call event escalation needs.
        call = api.calls.create(to=page.to, from_=self.cfg.from_number, twiml=page.body, timeout=30, **kwargs)
        return Sent(sid=call.sid or "", status=str(call.status or "queued"), attempts=1)

    def _find_once(self, page: Page, since: float) -> list[Found]:
        # No DateSent / StartTime filter: Twilio filters those by whole days, and a message still queued has
        # no date_sent yet (a call no start_time) so a filter would hide exactly the page that did leave.
        # The newest page to this number from ours, filtered here by creation time, covers both.
        api = self._client().api.v2010.accounts(self.cfg.account_sid)
        if page.channel == "sms":
            listed = api.messages.list(to=page.to, from_=self.cfg.from_number, limit=LOOKUP_PAGE_SIZE)
            listed = [m for m in listed if m.body == page.body]
        else:  # a Call resource does not carry its TwiML: the number, the sender and the time must do
            listed = api.calls.list(to=page.to, from_=self.cfg.from_number, limit=LOOKUP_PAGE_SIZE)
        found = [Found(sid=r.sid or "", status=str(r.status or "queued"), created_at=r.date_created.timestamp())
                 for r in listed if r.sid and r.date_created is not None and r.date_created.timestamp() >= since]
        return sorted(found, key=lambda f: f.created_at)

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, self._find_once, page, since)
        except Exception as exc:  # Twilio down, a timeout, an error answer, an answer we cannot read
            raise LookupFailed(f"{page.channel} to {page.to}: {type(exc).__name__}: {exc}") from None

    async def send(self, page: Page) -> Sent:
        loop = asyncio.get_running_loop()
        delay = self.cfg.backoff_s
        for attempt in range(1, self.cfg.retries + 2):
            try:
                sent = await loop.run_in_executor(self._pool, self._send_once, page)
                return Sent(sid=sent.sid, status=sent.status, attempts=attempt)
            except Exception as exc:
                code = str(getattr(exc, "code", None) or getattr(exc, "status", None) or type(exc).__name__)
                if not is_transient(exc):
                    raise SendError(f"{page.channel} to {page.to}: {exc}", transient=False, code=code,
                                    attempts=attempt) from None
                if attempt > self.cfg.retries:
                    raise SendError(f"{page.channel} to {page.to}: still failing after {attempt} attempts: {exc}",
                                    transient=True, code=code, attempts=attempt) from None
                log.warning("transient failure sending %s to %s (attempt %d): %s; retrying in %.1fs",
                            page.channel, page.to, attempt, exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
