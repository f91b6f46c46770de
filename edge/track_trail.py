"""The detector's boxes, frame by frame, for the last few seconds of one camera.

An alert's clip is cut later from the camera's own encoded stream, with no overlay drawn into it. So that the
control room can still show the person's box on every frame of it, each camera keeps what the detector saw
(time -> its tracks) for as long as the evidence ring, and the clip writer takes the alert's track out of it
for the clip's span. The detection thread appends; the clip thread reads a copy: one small lock.
"""

from __future__ import annotations

import threading
from collections import deque

from quaywatch.detector.types import BBox, Track


class TrackTrail:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._frames: deque[tuple[float, list[Track]]] = deque()
        self._lock = threading.Lock()

    def add(self, t: float, tracks: list[Track]) -> None:
        """The detector's tracks of the frame at t (the list is kept as is: Tracks are frozen)."""
        with self._lock:
            self._frames.append((t, tracks))
            while self._frames and self._frames[0][0] < t - self.seconds:
                self._frames.popleft()

    def boxes(self, track_id: int, t0: float, t1: float) -> list[tuple[float, BBox]]:
        """(t, box) of one track on every frame from t0 to t1 it was seen in."""
        with self._lock:
            frames = list(self._frames)
        return [(t, tr.bbox) for t, tracks in frames if t0 <= t <= t1 for tr in tracks if tr.id == track_id]
