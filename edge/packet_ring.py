"""The evidence ring: a camera's recent pictures kept *encoded*, from keyframe to keyframe.

A decoded 384x288 frame is 110 KB; the camera's own H.264 packet for it is a few KB. So the ring keeps what
the camera sent (the packets, exactly as they came, Annex B) and an evidence clip is cut from them by
remuxing, never by decoding and re-encoding (edge/evidence_codec.py). Sources that hand over pictures, not
packets (a 16-bit radiometric stream, the in-process simulator), have their frames encoded once, thinned to
the clip rate, into the same kind of ring (`FrameEncoder`: H.264 for 8-bit, lossless FFV1 for 16-bit).

The ring always starts at a keyframe, and holds at least `seconds` before its newest unit: it drops a whole
group of pictures (keyframe to keyframe) only when the next group alone still covers `seconds`. A camera
that sends keyframes rarely costs more memory; `max_bytes` bounds that (whole groups are dropped beyond it,
oldest first, counted). A new session (a reconnect) starts the ring afresh: its timestamps are a new clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

REMUXABLE = ("h264", "hevc")  # what a browser's MP4 can carry as the camera sent it


@dataclass(frozen=True, slots=True)
class Unit:
    t: float  # the frame's time as the detector sees it (wall clock live, clip time in fast replay)
    data: bytes  # one encoded picture (Annex B for H.264/H.265)
    pts: int | None  # in the session's time_base
    dts: int | None
    duration: int
    key: bool  # a keyframe: decoding may start here


@dataclass(frozen=True, slots=True)
class Session:
    codec: str  # FFmpeg codec name: h264, hevc, ffv1
    time_base: Fraction
    extradata: bytes  # parameter sets given out of band (Annex B for H.264/H.265), else b""
    width: int
    height: int

    @property
    def remuxable(self) -> bool:
        return self.codec in REMUXABLE


class EncodedRing:
    """Thread-safe: one capture thread adds, the evidence thread and a detection thread read."""

    def __init__(self, seconds: float, max_bytes: int = 16 * 1024 * 1024):
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.session: Session | None = None
        self.dropped_groups = 0  # whole groups dropped by max_bytes before their time
        self._units: deque[Unit] = deque()
        self._keys = 0  # keyframes in _units
        self._bytes = 0
        self._lock = threading.Lock()

    def begin(self, session: Session) -> None:
        """A new stream session: what came before cannot be continued with it."""
        with self._lock:
            self.session = session
            self._units.clear()
            self._keys = self._bytes = 0

    def add(self, unit: Unit) -> None:
        with self._lock:
            if not self._units and not unit.key:
                return  # nothing decodes before the first keyframe
            self._units.append(unit)
            self._bytes += len(unit.data)
            self._keys += unit.key
            self._prune(unit.t)

    def _prune(self, newest: float) -> None:
        units = self._units
        while self._keys > 1:
            # the second group's start: can the ring begin there and still cover `seconds`?
            second = next(i for i, u in enumerate(units) if i and u.key)
            over_bytes = self._bytes > self.max_bytes
            if units[second].t > newest - self.seconds and not over_bytes:
                return
            for _ in range(second):
                gone = units.popleft()
                self._bytes -= len(gone.data)
                self._keys -= gone.key
            self.dropped_groups += over_bytes and units[0].t > newest - self.seconds

    def window(self, t0: float, t1: float) -> tuple[Session | None, list[Unit]]:
        """The units from the last keyframe at or before `t0` (else the oldest kept) through `t1`."""
        with self._lock:
            units = list(self._units)
            session = self.session
        start = 0
        for i, u in enumerate(units):
            if u.t > t0:
                break
            if u.key:
                start = i
        return session, [u for u in units[start:] if u.t <= t1]

    def latest_t(self) -> float | None:
        with self._lock:
            return self._units[-1].t if self._units else None

    def stats(self) -> dict:
        with self._lock:
            span = self._units[-1].t - self._units[0].t if self._units else 0.0
            return {"units": len(self._units), "bytes": self._bytes, "seconds": round(span, 2),
                    "codec": self.session.codec if self.session else None}

    @property
    def nbytes(self) -> int:
        return self._bytes
