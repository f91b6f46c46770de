"""Frame times from the camera's clock (edge/sources/clock.py): bursty arrival must not bunch frame times."""

from __future__ import annotations

import numpy as np
import pytest

from quaywatch.edge.sources.clock import StreamClock

FPS = 9.0
EPOCH = 1_800_000_000.0


def bursty_arrivals(n: int, burst: int, latency: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A camera taking frames at 9 fps (pts) whose link hands them over `burst` at a time, within a few ms."""
    rng = np.random.default_rng(seed)
    pts = np.arange(n) / FPS + 12.5  # a stream clock with its own origin
    taken = EPOCH + np.arange(n) / FPS
    released = taken[np.minimum((np.arange(n) // burst + 1) * burst - 1, n - 1)]  # when its burst's last is taken
    arrival = released + latency + 0.002 * (np.arange(n) % burst) + rng.uniform(0, 0.003, n)
    return pts, arrival


def stamp_all(clock: StreamClock, pts, arrival) -> np.ndarray:
    return np.array([clock.stamp(float(p), float(a)) for p, a in zip(pts, arrival, strict=True)])


def test_bursty_arrival_keeps_the_cameras_frame_spacing():
    pts, arrival = bursty_arrivals(200, burst=4)
    assert np.diff(arrival).min() < 0.01  # what the old wall-clock times gave the tracker: dt of a few ms...
    t = stamp_all(StreamClock(), pts, arrival)
    settled = np.diff(t)[8:]
    assert np.allclose(settled, 1 / FPS, atol=1e-3)  # ...the camera's own 111 ms, every frame
    assert np.all(np.diff(t) > 0.5 / FPS - 1e-6)  # never bunched, not even while the offset settles
    # the times are the wall clock of capture plus the link's least delay: never later than arrival
    assert np.all(t[8:] <= arrival[8:] + 1e-6)
    assert np.abs(t[8:] - (EPOCH + np.arange(200)[8:] / FPS + 0.05)).max() < 0.01


def test_a_late_first_frame_settles_without_bunching():
    """FFmpeg's probe hands the first frames over late and together: the offset comes down at half a frame
    interval per frame, so the frame times keep at least half their spacing."""
    pts = np.arange(60) / FPS
    arrival = EPOCH + pts + 0.02
    arrival[:5] = arrival[4] + 0.6 + 0.001 * np.arange(5)  # the first five arrive 0.6 s late, together
    clock = StreamClock()
    t = stamp_all(clock, pts, arrival)
    assert np.all(np.diff(t) >= 0.5 / FPS - 1e-6)
    assert abs(clock.offset - (EPOCH + 0.02)) < 1e-6  # settled on the true delay
    assert np.allclose(np.diff(t)[-20:], 1 / FPS)


def test_a_drifting_camera_clock_is_followed():
    """A camera clock 0.1 % fast or slow (far worse than a real one) stays on the wall clock."""
    for rate in (1.001, 0.999):
        pts = np.arange(9 * 600) / FPS * rate  # ten minutes
        arrival = EPOCH + np.arange(9 * 600) / FPS + 0.03
        t = stamp_all(StreamClock(), pts, arrival)
        assert np.abs(t - arrival).max() < 0.2, rate
        assert np.all(np.diff(t) > 0)


def test_stream_clock_restarted_or_jumped_reanchors():
    clock = StreamClock(max_skew_s=3.0)
    for i in range(20):
        clock.stamp(100 + i / FPS, EPOCH + i / FPS)
    assert clock.stamp(5.0, EPOCH + 20 / FPS) == pytest.approx(EPOCH + 20 / FPS)  # pts went back: new clock
    assert clock.stamp(5.0 + 60, EPOCH + 21 / FPS) == pytest.approx(EPOCH + 21 / FPS)  # jumped a minute
    assert clock.resyncs == 2
    clock.reset()
    assert clock.offset is None


def test_stalled_link_backlog_keeps_capture_times():
    """A link that stalls for 2 s then delivers the backlog at once: the frames keep the times they were taken."""
    pts = np.arange(90) / FPS
    arrival = EPOCH + pts + 0.02
    arrival[40:58] = arrival[58] + 0.001 * np.arange(18)  # 2 s of frames held up, then all at once
    t = stamp_all(StreamClock(), pts, arrival)
    assert np.allclose(np.diff(t)[2:], 1 / FPS)
    assert np.abs(t - (EPOCH + pts + 0.02)).max() < 1e-6


def test_no_pts_means_arrival_time():
    assert StreamClock().stamp(None, EPOCH) == EPOCH
