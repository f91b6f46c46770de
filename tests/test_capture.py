"""Capture loop behaviour: file replay both paces, the frozen-picture watchdog (against the real simulated
camera streaming a picture that never changes), no exception ever escaping the thread."""

from __future__ import annotations

import numpy as np

from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.capture import CameraCapture
from quaywatch.edge.clips import ClipWriter
from quaywatch.edge.sources.base import RawFrame, SourceError
from tests.camsim_peer import CameraSim, write_clip
from tests.test_camsim import Collector, camera

WATCHDOG = CaptureConfig(open_timeout_s=3, read_timeout_s=2, max_frame_age_s=1.5, offline_after_s=2,
                         reconnect_min_s=0.2, reconnect_max_s=1)


def test_fast_replay_delivers_every_frame_with_clip_times(tmp_path):
    clip = tmp_path / "ramp.mp4"
    means = write_clip(clip, frames=18)
    got = Collector()
    cap = CameraCapture(camera(str(clip), password_env=None), WATCHDOG, got.frame, got.state, realtime=False)
    cap.start()
    assert cap.finished.wait(20)
    assert [f.index for f in got.frames] == list(range(18))
    assert [round(f.t * 9) for f in got.frames] == list(range(18))  # clip seconds, not wall clock
    assert [abs(f.frame.mean() - m) < 1 for f, m in zip(got.frames, means, strict=True)] == [True] * 18
    assert got.states() == ["online", "offline"] and "end of clip" in got.health[-1].reason
    assert cap.stats().dropped == 0


def test_realtime_replay_stamps_wall_clock(tmp_path):
    import time

    clip = tmp_path / "ramp.mp4"
    write_clip(clip, frames=5)
    got = Collector()
    t0 = time.time()
    cap = CameraCapture(camera(str(clip), password_env=None), WATCHDOG, got.frame, got.state).start()
    assert cap.finished.wait(20)
    ts = [f.t for f in got.frames]
    assert len(ts) == 5 and ts[0] >= t0 and ts == sorted(ts)
    assert ts[-1] - ts[0] > 3 / 9  # paced at the clip's 9 fps, not as fast as possible


def test_frozen_picture_from_a_live_camera_is_degraded_then_offline(tmp_path, monkeypatch):
    # a camera whose picture froze keeps streaming: the same frame, re-encoded, 9 times a second
    clip = tmp_path / "frozen.mp4"
    still = np.clip(np.random.default_rng(1).normal(100, 5, (120, 160)), 0, 255).astype(np.uint8)
    with ClipWriter(clip, 9, 160, 120) as w:
        for _ in range(18):
            w.write(still)
    sim = CameraSim(tmp_path / "sim", clip=clip).start()
    monkeypatch.setenv("QW_TEST_CAM_PW", sim.password)
    got = Collector()
    cap = CameraCapture(camera(sim.rtsp_url), WATCHDOG, got.frame, got.state).start()
    try:
        assert got.wait(lambda: got.states()[-3:] == ["online", "degraded", "offline"], 30), got.states()
        # it keeps reconnecting, but a camera still showing the frozen picture is never called online again
        reconnects = cap.stats().reconnects
        assert got.wait(lambda: cap.stats().reconnects > reconnects, 15)
        assert got.wait(lambda: cap.stats().dropped > 40, 15)
    finally:
        cap.stop()
        sim.stop()
    assert got.states() == ["online", "degraded", "offline"]
    assert "picture frozen" in got.health[1].reason
    # repeats are delivered only until the watchdog calls the picture frozen (1.5 s at 9 fps), then dropped
    assert 1 <= len(got.frames) <= round(9 * WATCHDOG.max_frame_age_s) + 1
    print(f"\nfrozen picture: {got.health[1].reason!r}; stats {cap.stats()}")


class ScriptedSource:
    """A source that fails in the ways a driver can: refused at first, then frames, then an exception no
    driver expected (a camera sending something odd), then frames again after reconnecting."""

    live = True
    nominal_fps = 9.0
    description = "scripted"

    def __init__(self, total: int = 12):
        self.opens = 0
        self.reads = 0
        self.total = total

    def open(self):
        self.opens += 1
        if self.opens == 1:
            raise SourceError("connection refused")

    def read(self):
        self.reads += 1
        if self.reads == 6:
            raise RuntimeError("odd reply from rtsp://admin:hunter2@cam.invalid/x")
        if self.reads > self.total:
            from quaywatch.edge.sources.base import EndOfStream

            raise EndOfStream("done")
        return RawFrame(self.reads / 9, np.full((4, 4), self.reads * 10, np.uint8), None)

    def close(self):
        pass

    def interrupt(self):
        pass


def test_nothing_escapes_the_thread_and_it_reconnects():
    got = Collector()
    src = ScriptedSource()
    cap = CameraCapture(camera("rtsp://cam.invalid/x", password_env=None), WATCHDOG, got.frame, got.state,
                        source=src).start()
    assert cap.finished.wait(10)
    assert got.states() == ["offline", "online", "degraded", "online", "offline"]
    assert "connection refused" in got.health[0].reason
    assert "RuntimeError: odd reply" in got.health[2].reason and "hunter2" not in got.health[2].reason
    assert len(got.frames) == 11 and src.opens == 3
    stats = cap.stats()
    assert (stats.errors, stats.reconnects) == (2, 1)


class NucPause(ScriptedSource):
    """A sensor's flat-field correction: the same picture for half a second, then life goes on."""

    def open(self):
        self.opens += 1

    def read(self):
        self.reads += 1
        if self.reads > 30:
            from quaywatch.edge.sources.base import EndOfStream

            raise EndOfStream("done")
        level = self.reads if not 10 <= self.reads < 15 else 10
        return RawFrame(self.reads / 9, np.full((4, 4), level * 5, np.uint8), None)


def test_a_short_repeat_is_delivered_and_not_called_frozen():
    got = Collector()
    cap = CameraCapture(camera("rtsp://cam.invalid/x", password_env=None), WATCHDOG, got.frame, got.state,
                        source=NucPause()).start()
    assert cap.finished.wait(10)
    assert len(got.frames) == 30 and cap.stats().dropped == 0
    assert got.states() == ["online", "offline"]  # offline only at the end of the script
