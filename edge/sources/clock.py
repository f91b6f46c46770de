"""Frame times from the camera's own clock: a stream's presentation timestamps (PTS) put on the wall clock.

A camera stamps each frame when its sensor takes it, at a steady rate. When the frame *arrives* depends on
the network and on this machine: a congested link, a TCP retransmission or a capture thread that waited for
the CPU hands several frames over within a few milliseconds, after a gap. The detector tracks bodies by
velocity x dt, so arrival times that bunch up (dt of 2 ms, then 400 ms) make a walker look like a gull and
lose a falling body (measured: docs/cameras.md, "Frame times"). So a live frame's time is

    t = pts + offset

where `offset` (wall clock minus stream clock) is the smallest delay seen over the last `window_s` seconds of
stream time: the frame that came through quickest tells the true transport delay best, and the others were
held up, not taken later. The offset moves by at most half a frame interval per frame, so frame times keep
their spacing while it settles (after opening, FFmpeg's probe hands the first frames over late). It follows
a camera clock that drifts, and it jumps when the stream clock and the wall clock disagree by more than
`max_skew_s` (the camera restarted its clock, stood still, or jumped), or when the PTS goes backwards.
Without a PTS the arrival time is all there is.
"""

from __future__ import annotations

from collections import deque


class StreamClock:
    def __init__(self, window_s: float = 10.0, max_skew_s: float = 3.0):
        self.window_s = window_s
        self.max_skew_s = max_skew_s
        self.resyncs = 0  # times the stream clock and the wall clock had to be re-anchored (after the first)
        self.reset()

    def reset(self) -> None:
        """A new session: the stream clock starts afresh (call at every (re)open)."""
        self._delays: deque[tuple[float, float]] = deque()  # (pts, arrival - pts), delays increasing
        self._offset: float | None = None
        self._last_pts: float | None = None

    @property
    def offset(self) -> float | None:
        """Wall clock minus stream clock now in use (None before the first frame with a PTS)."""
        return self._offset

    def stamp(self, pts: float | None, arrival: float) -> float:
        """The wall-clock time of the frame with this PTS (stream seconds) that arrived at `arrival` (epoch s)."""
        if pts is None:
            return arrival
        delay = arrival - pts
        last = self._last_pts
        if self._offset is None or last is None or pts < last:
            return self._anchor(pts, delay, again=self._offset is not None)
        # the smallest delay over the window: a deque of increasing delays (a sliding-window minimum)
        while self._delays and self._delays[-1][1] >= delay:
            self._delays.pop()
        self._delays.append((pts, delay))
        while self._delays[0][0] < pts - self.window_s:
            self._delays.popleft()
        target = self._delays[0][1]
        step = 0.5 * (pts - last)  # slew: frame times keep at least half their spacing while the offset moves
        self._offset = min(max(target, self._offset - step), self._offset + step)
        self._last_pts = pts
        t = pts + self._offset
        if abs(arrival - t) > self.max_skew_s:
            return self._anchor(pts, delay, again=True)
        return t

    def _anchor(self, pts: float, delay: float, *, again: bool) -> float:
        self.resyncs += again
        self._delays = deque([(pts, delay)])
        self._offset = delay
        self._last_pts = pts
        return pts + delay
