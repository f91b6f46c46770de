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


class ChangeHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()

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

    async def subscribe(self) -> AsyncIterator[Change]:
        entry = (asyncio.get_running_loop(), asyncio.Queue(QUEUE_LIMIT))
        with self._lock:
            self._subscribers.add(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._subscribers.discard(entry)


def _offer(queue: asyncio.Queue, change: Change) -> None:
    try:
        queue.put_nowait(change)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(Change("alert", None, change.at, {"resync": True}))
