"""Login throttling in a sliding window, keyed by (user name, client address), never by address alone.

- A (name, address) pair with `attempts` failures in the window waits until the oldest leaves it, even
  with the right password: otherwise the throttle would tell a guesser when he got it right. (OWASP's
  standard account throttling; the name is not throttled alone, so a stranger elsewhere cannot lock an
  operator out by failing on purpose.)
- An address is never locked as a whole: twenty failures from a control room's shared address (NAT, one
  proxy) once locked every operator behind it out. Past a high ceiling of failures from one address
  (`address_ceiling`, default 20x `attempts`) every name that has failed from there in the window waits
  for the window; a name that has not (the colleague at the next desk) may still log in. A walk through
  many names from one address thus gets at most one guess per name past the ceiling.

The address is the TCP peer, or X-Forwarded-For's client when the peer is a configured trusted proxy
(controlroom/security.py client_address); a client cannot pick the address its failures count against.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    def __init__(self, attempts: int, window_s: float, address_ceiling: int | None = None, max_keys: int = 10_000):
        self.attempts = attempts
        self.window_s = window_s
        self.address_ceiling = address_ceiling or 20 * attempts
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            if len(self._failures) >= self.max_keys:  # bounded memory under a flood of names
                self._failures.pop(next(iter(self._failures)))
            q = self._failures[key] = deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    @staticmethod
    def keys(user: str, address: str) -> list[str]:
        return [f"pair:{user.lower()}|{address}", f"addr:{address}"]

    def retry_after(self, keys: list[str], now: float | None = None) -> float:
        """0 when a login may be tried; else seconds until it may."""
        now = time.monotonic() if now is None else now
        pair_key, addr_key = keys
        with self._lock:
            pair, addr = self._recent(pair_key, now), self._recent(addr_key, now)
            waits = []
            if len(pair) >= self.attempts:
                waits.append(pair[-self.attempts] + self.window_s - now)
            if len(addr) >= self.address_ceiling and pair:  # past the ceiling: only names that failed here wait
                waits.append(pair[-1] + self.window_s - now)
        return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        """A right password clears that name's failures from that address (not the address's total)."""
        with self._lock:
            self._failures.pop(keys[0], None)
