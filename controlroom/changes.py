"""Fan-out of changes to every open page: published from any thread, consumed by asyncio handlers.

Each subscriber has its own bounded queue on its own event loop; a page too slow to keep up is told to
reload everything (`resync`) rather than holding memory for it or slowing everybody else down.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator

from quaywatch.controlroom.backend import Change

QUEUE_LIMIT = 256


BYE = Change("alert", None, 0.0, {"bye": True})   # the service is stopping: end the stream


class ChangeHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.closed = False

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, change: Change) -> None:
        if not change.at:
            change = Change(change.what, change.id, time.time(), change.extra)
        with self._lock:
            targets = list(self._subscribers)
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # that page's loop is already closed
                loop.call_soon_threadsafe(_offer, queue, change)

    def close(self) -> None:
        """Every subscription ends (after what it has queued), and new ones end at once: the service stops."""
        with self._lock:
            self.closed = True
            targets = list(self._subscribers)
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_offer, queue, BYE)

    async def subscribe(self) -> AsyncIterator[Change]:
        entry = (asyncio.get_running_loop(), asyncio.Queue(QUEUE_LIMIT))
        with self._lock:
            if self.closed:
                return
            self._subscribers.add(entry)
        try:
            while True:
                change = await entry[1].get()
                if change is BYE:
                    return
                yield change
        finally:
            with self._lock:
                self._subscribers.discard(entry)


def _offer(queue: asyncio.Queue, change: Change) -> None:
    try:
        queue.put_nowait(change)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(change if change is BYE else Change("alert", None, change.at, {"resync": True}))
