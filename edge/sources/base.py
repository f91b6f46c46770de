"""What every frame source (RTSP, ONVIF, file replay, live simulation) looks like to the capture loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quaywatch.errors import QuaywatchError


class SourceError(QuaywatchError):
    """Opening or reading a camera failed. The message is already redacted (no passwords)."""


class SourceTimeout(SourceError):
    """The camera did not answer within the open or read timeout (hung, frozen, unreachable)."""


class EndOfStream(SourceError):
    """A finite source (a clip replayed once) has no more frames; not a fault, nothing to reconnect."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    t: float  # wall-clock epoch seconds for live sources; clip seconds for fast replay
    frame: np.ndarray  # uint8 grey or uint16 centikelvin, shape (height, width)
    pts: float | None = None  # the stream's own presentation time, when it has one: stale if it stops advancing
    decode_s: float | None = None  # CPU time decoding it, apart from waiting for the network (when known)


class FrameSource(Protocol):
    """Opened, read and closed by one thread (the camera's capture thread). Only `interrupt` may be called
    from another thread: it asks a blocked or pacing `read` to return soon (FFmpeg reads end at their
    read timeout instead, since closing a container under a running decode is not safe)."""

    description: str  # redacted, safe to log
    nominal_fps: float | None  # what the stream announces, once opened
    live: bool  # False for finite replay: end of stream is the end, not a fault

    def open(self) -> None: ...

    def read(self) -> RawFrame: ...

    def close(self) -> None: ...

    def interrupt(self) -> None: ...
