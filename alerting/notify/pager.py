"""What a pager is: something that sends one Page (SMS or voice call) and says how it went."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

# Twilio error codes worth a second try: 30001 queue overflow, 30008 unknown error (carrier hiccup).
TRANSIENT_TWILIO_CODES = frozenset({30001, 30008})
# The error code recorded for a send that got no answer (read timeout, connection lost after sending): the page
# may exist, so it is looked up (not before twilio.answer_wait_s) before it is sent again.
NO_ANSWER = "no_answer"
# The error code of a call not sent because another call to the same number may have left and is not settled
# (LineBusy): retried shortly, never counted as the provider failing.
LINE_BUSY = "line_busy"


@dataclass(frozen=True)
class Page:
    key: str                                  # idempotency key; also the message's id in the store
    channel: Literal["sms", "voice"]
    to: str                                   # E.164
    body: str                                 # SMS text, or TwiML for a call
    status_callback: str | None = None        # where Twilio reports delivery; carries `key`
    drill: bool = False
    person: str = ""
    received_at: float | None = field(default=None, compare=False)  # perf_counter of the triggering event
    # The claim's fencing check, called right before each request leaves (in the pager's worker thread): False
    # when this node no longer holds the page's claim (its lease ran out, say while the process was frozen,
    # and another node took it over). The pager then sends nothing and raises Fenced.
    fence: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    # When a request for this page may first have reached the provider, before this send (messages.left_at):
    # None if none can have. A send refused outright leaves it as it was (Escalator.record_refusal).
    left_before: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str        # the provider's first status, e.g. queued
    attempts: int


class SendError(Exception):
    """A send that failed for good (`transient` False) or kept failing transiently until retries ran out."""

    def __init__(self, message: str, *, transient: bool, code: str | None = None, attempts: int = 1,
                 ambiguous: bool = False):
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.attempts = attempts
        # The request may have reached the provider (a read timeout, a connection lost after sending): the page
        # may exist. It is never sent again before the provider is asked (alerting/reconcile.py).
        self.ambiguous = ambiguous


class LineBusy(SendError):
    """Not sent, for now: another page's call to the same number may have reached the provider and is not
    settled (its request got no answer, or its node died with it in flight). A Call resource carries no text,
    so were this call made meanwhile, the lookup that settles the other page could not tell the two apart: it
    would take this call for the other page's, and the other page's would never be made (bench/chaos.py found
    the police called twice for one incident and never for the other). So calls to one number leave one at a
    time while one of them is in doubt; this one is owed and retried once that one is settled."""

    def __init__(self, message: str):
        super().__init__(message, transient=True, code=LINE_BUSY, attempts=0)


class Fenced(SendError):
    """Not sent: this node no longer holds the page's claim (Page.fence said so). Whoever took the claim over
    records the page's outcome; nothing is recorded by this node."""

    def __init__(self, message: str, attempts: int = 0):
        super().__init__(message, transient=False, code="fenced", attempts=attempts)


@dataclass(frozen=True)
class Found:
    """A message or call the provider already has for a page, as its list API reports it."""

    sid: str
    status: str
    created_at: float  # epoch seconds, the provider's clock


class LookupFailed(Exception):
    """The provider could not be asked (down, a timeout, an error answer): nothing is known either way."""


class Pager(Protocol):
    async def send(self, page: Page) -> Sent: ...

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        """What the provider created for `page` at or after `since` (same number and sender; for SMS the same
        text), oldest first. Raises LookupFailed when it cannot tell."""
        ...

    async def close(self) -> None: ...
