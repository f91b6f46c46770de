"""A recorded clip as a camera: paced at its own fps with wall-clock times (realtime: the clip's clock
started at open), or as fast as the CPU allows with clip times (fast replay, what `replay` and eval use).
Plays once; the end is not a fault."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from quaywatch.edge.clips import clip_info, read_frames
from quaywatch.edge.sources.base import EndOfStream, RawFrame, SourceError
from quaywatch.errors import QuaywatchError


class ReplaySource:
    live = False

    def __init__(self, path: str | Path, *, realtime: bool = True):
        self.path = Path(path)
        self.realtime = realtime
        self.description = str(self.path)
        self.nominal_fps: float | None = None
        self._frames = None
        self._t0 = 0.0
        self._closed = threading.Event()

    def open(self) -> None:
        try:
            self.nominal_fps = clip_info(self.path).fps
        except QuaywatchError as exc:
            raise SourceError(str(exc)) from None
        self._frames = read_frames(self.path)
        self._t0 = time.time()
        self._closed.clear()

    def read(self) -> RawFrame:
        if self._frames is None:
            raise SourceError(f"{self.description}: not open")
        try:
            t, frame = next(self._frames)
        except StopIteration:
            raise EndOfStream(f"{self.description}: end of clip") from None
        except QuaywatchError as exc:
            raise SourceError(str(exc)) from None
        if not self.realtime:
            return RawFrame(t, frame, t)
        due = self._t0 + t
        # wait on the close event so stop() interrupts a long pause at once
        self._closed.wait(max(0.0, due - time.time()))
        return RawFrame(due, frame, t)  # the clip's own clock on the wall clock, not when the wait ended

    def interrupt(self) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        frames, self._frames = self._frames, None
        if frames is not None:
            frames.close()
