"""Whether the paging provider (Twilio) answers, as this node sees its sends and lookups.

A transient failure (refused, timing out, 5xx) marks it failing from that moment; the next send or lookup it
answers marks it back. Health (`/healthz`'s `paging`) and the control room show it with the pages owed, so an
outage is said loudly rather than found in the log the next morning.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PagingState:
    ok: bool
    failing_since: float | None  # epoch seconds of the first failure of this outage
    last_error: str | None
    owed: int  # pages that failed and are retried until delivered (shared store: every node's)
    problem: str | None  # one line for people: "pages failing: Twilio unreachable since 22:41:07; ..."


class ProviderHealth:
    def __init__(self, name: str = "Twilio"):
        self.name = name
        self._lock = threading.Lock()
        self.failing_since: float | None = None
        self.last_error: str | None = None

    def failed(self, error: str, now: float) -> None:
        with self._lock:
            if self.failing_since is None:
                log.error("pages failing: %s unreachable (%s); every failed page is owed and retried until "
                          "delivered or acknowledged", self.name, error)
                self.failing_since = now
            self.last_error = error

    def answered(self, now: float) -> bool:
        """The provider answered; True if that ends an outage (owed pages can all be retried now)."""
        with self._lock:
            if self.failing_since is None:
                return False
            log.warning("%s answers again after %.0f s of failures", self.name, now - self.failing_since)
            self.failing_since, self.last_error = None, None
            return True

    def state(self, owed: int, timezone: str) -> PagingState:
        with self._lock:
            since, error = self.failing_since, self.last_error
        problem = None
        if since is not None:
            at = datetime.fromtimestamp(since, ZoneInfo(timezone)).strftime("%H:%M:%S")
            problem = f"pages failing: {self.name} unreachable since {at} ({error})"
        elif owed:
            problem = "pages failing"
        if owed and problem:
            problem += f"; {owed} page(s) owed, retried until delivered or acknowledged"
        return PagingState(ok=since is None and owed == 0, failing_since=since, last_error=error, owed=owed,
                           problem=problem)
