"""In-process change feed: whoever shows alerts live (the control room's WebSocket/SSE) subscribes here.

A notice says which incident changed and how; the subscriber reads the incident from the store. A slow
subscriber loses old notices (bounded queue), never slows paging down.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    incident_id: str
    what: str  # opened | camera_joined | paged | escalated | delivery | acknowledged | resolved | closed


class ChangeFeed:
    def __init__(self, maxsize: int = 1000):
        self._subscribers: set[asyncio.Queue[Change]] = set()
        self._maxsize = maxsize

    def subscribe(self) -> asyncio.Queue[Change]:
        q: asyncio.Queue[Change] = asyncio.Queue(self._maxsize)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Change]) -> None:
        self._subscribers.discard(q)

    def publish(self, incident_id: str, what: str) -> None:
        change = Change(incident_id, what)
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(change)
