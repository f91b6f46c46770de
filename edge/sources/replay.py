"""A recorded clip as a camera: paced at its own fps with wall-clock times (realtime: the clip's clock
started at open), or as fast as the CPU allows with clip times (fast replay). Plays once; the end is not a
fault. Read like a live stream (`decode.VideoReader`): the luma plane without conversion, thinned to
`detect_fps`, an H.264 clip's packets kept for evidence."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av

from quaywatch.edge.clips import clip_info
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.sources.base import EndOfStream, RawFrame, SourceError
from quaywatch.edge.sources.decode import VideoReader
from quaywatch.errors import QuaywatchError


class ReplaySource:
    live = False
    thinned = True  # frames come already thinned to detect_fps

    def __init__(self, path: str | Path, *, realtime: bool = True, ring: EncodedRing | None = None,
                 detect_fps: float | None = None):
        self.path = Path(path)
        self.realtime = realtime
        self.ring = ring
        self.detect_fps = detect_fps
        self.description = str(self.path)
        self.nominal_fps: float | None = None
        self._container = None
        self._reader: VideoReader | None = None
        self._count = 0
        self._t0 = 0.0
        self._closed = threading.Event()

    def open(self) -> None:
        self.close()
        try:
            self.nominal_fps = clip_info(self.path).fps
            container = av.open(str(self.path))
        except QuaywatchError as exc:
            raise SourceError(str(exc)) from None
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.path}: cannot open clip: {exc}") from None
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # one camera, one core's share: as a live camera is read
        self._t0 = time.time()
        self._count = 0
        self._closed.clear()
        self._container = container
        self._reader = VideoReader(container, stream, detect_fps=self.detect_fps, ring=self.ring,
                                   unit_time=self._clip_time)

    def _clip_time(self, pts: float | None, arrival: float) -> float:
        t = pts if pts is not None else self._count / (self.nominal_fps or 9.0)
        return self._t0 + t if self.realtime else t

    def read(self) -> RawFrame:
        if self._reader is None:
            raise SourceError(f"{self.description}: not open")
        try:
            frame, pts, _arrived, decode_s = self._reader.read()
        except StopIteration:
            raise EndOfStream(f"{self.description}: end of clip") from None
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.path}: clip is damaged: {exc}") from None
        t = pts if pts is not None else self._count / (self.nominal_fps or 9.0)
        self._count += 1
        if not self.realtime:
            return RawFrame(t, frame, t, decode_s)
        due = self._t0 + t
        # wait on the close event so stop() interrupts a long pause at once
        self._closed.wait(max(0.0, due - time.time()))
        return RawFrame(due, frame, t, decode_s)  # the clip's own clock on the wall clock, not when the wait ended

    def interrupt(self) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        container, self._container, self._reader = self._container, None, None
        if container is not None:
            container.close()
