"""Twilio pager: SMS via Messages, voice via Calls with inline TwiML, through the official `twilio` client.

The client is synchronous, so each send runs in a small thread pool (one client and HTTP connection
pool per thread) and the event loop never waits on the network. Only transient failures are retried,
with doubling backoff: HTTP 5xx and 429, Twilio 30001/30008 and refused connections. A 4xx (a bad number, a
bad request) will not get better by asking again. A failure after which the page may exist (a read timeout,
a connection lost after the request was written) is never retried here: it is handed back at once as
ambiguous, and the page is sent again only after Twilio's list API says it does not have it
(alerting/reconcile.py, as for a page left in flight). Before each request the page's claim is fenced
(`Page.fence`): a node that no longer holds the claim sends nothing.

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
from urllib3.exceptions import NewConnectionError

from quaywatch.alerting.notify.pager import (
    NO_ANSWER,
    TRANSIENT_TWILIO_CODES,
    Fenced,
    Found,
    LineBusy,
    LookupFailed,
    Page,
    SendError,
    Sent,
)
from quaywatch.config.alerting import TwilioConfig

log = logging.getLogger(__name__)
# A lookup reads the messages (or calls) to one number from ours, newest first, a page of this many at a time,
# until it is past the page's time (less Twilio's queueing, below), or at most LOOKUP_MAX_RECORDS. Reading only
# the newest page was not enough: when one number is paged for many incidents (a burst, two nodes catching up
# after a restart), a page left in flight fell out of the newest 50 and was sent a second time.
LOOKUP_PAGE_SIZE = 50
LOOKUP_MAX_RECORDS = 2000


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TwilioRestException):
        return exc.status >= 500 or exc.status == 429 or (exc.code in TRANSIENT_TWILIO_CODES)
    return isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError)


def is_ambiguous(exc: BaseException) -> bool:
    """Whether the request may have reached Twilio although no answer came: a read timeout, or a connection
    lost after the request was written. A refused or timed-out connect never sent anything, and an HTTP answer
    (even a 500) is Twilio's word."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.Timeout):
        return True  # the read timed out: the request was sent
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)  # refused / unreachable: never connected
    return False


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
        if page.fence is not None and not page.fence():  # checked here, the last moment before the request
            raise Fenced(f"{page.channel} to {page.to}: claim no longer held by this node (lease ran out or "
                         "taken over): not sent")
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
        # The pages to this number from ours are read newest first, filtered here by creation time. Twilio sorts
        # by the time sent, which is at most validity_period_s after creation (it drops an SMS queued longer), so
        # a record created that much before `since` is listed after every record created since: reading stops
        # there. A Call resource does not carry its TwiML: the number, the sender and the time must do.
        api = self._client().api.v2010.accounts(self.cfg.account_sid)
        if page.channel == "sms":
            listing = api.messages.stream(to=page.to, from_=self.cfg.from_number, page_size=LOOKUP_PAGE_SIZE)
        else:
            listing = api.calls.stream(to=page.to, from_=self.cfg.from_number, page_size=LOOKUP_PAGE_SIZE)
        stop_before = since - self.cfg.validity_period_s
        found: list[Found] = []
        for read, r in enumerate(listing, 1):
            created = r.date_created.timestamp() if r.date_created is not None else None
            if created is not None and created < stop_before:
                break
            if r.sid and created is not None and created >= since and (page.channel != "sms" or r.body == page.body):
                found.append(Found(sid=r.sid, status=str(r.status or "queued"), created_at=created))
            if read >= LOOKUP_MAX_RECORDS:
                raise LookupFailed(f"{read} records to {page.to} since the page's claim: gave up reading")
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
            except (Fenced, LineBusy) as exc:  # nothing left: not a failure of the provider to retry here
                exc.attempts = attempt - 1
                raise
            except Exception as exc:
                code = str(getattr(exc, "code", None) or getattr(exc, "status", None) or type(exc).__name__)
                if not is_transient(exc):
                    raise SendError(f"{page.channel} to {page.to}: {exc}", transient=False, code=code,
                                    attempts=attempt) from None
                if is_ambiguous(exc):  # it may have been created: never resent before Twilio is asked
                    raise SendError(f"{page.channel} to {page.to}: no answer, it may have left ({exc}); Twilio "
                                    "is asked before it is sent again", transient=True, code=NO_ANSWER,
                                    attempts=attempt, ambiguous=True) from None
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
