"""Login throttling in a sliding window: at most N failed attempts per (user name, client address), and
4N per address whatever the names.

The pair key stops guessing one password; the address key stops walking through many names. The name is
not throttled alone, so a stranger elsewhere cannot lock an operator out of the control room by failing
on purpose (Argon2 makes guessing from many addresses slow anyway).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    def __init__(self, attempts: int, window_s: float, max_keys: int = 10_000):
        self.attempts = attempts
        self.window_s = window_s
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

    def limit(self, key: str) -> int:
        return self.attempts * (4 if key.startswith("addr:") else 1)

    def retry_after(self, keys: list[str], now: float | None = None) -> float:
        """0 when a login may be tried; else seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [q[-self.limit(k)] + self.window_s - now for k in keys
                     if len(q := self._recent(k, now)) >= self.limit(k)]
        return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        """A right password clears that name's failures from that address (not the address's total)."""
        with self._lock:
            for k in keys:
                if k.startswith("pair:"):
                    self._failures.pop(k, None)
