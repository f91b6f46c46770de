"""The simulated camera's RTSP stream read by the edge's capture: frames of the right shape, type and content."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from quaywatch.config import Camera
from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.capture import CameraCapture, CameraHealth, CapturedFrame
from tests.camsim_peer import CameraSim, write_clip

FAST = CaptureConfig(open_timeout_s=3, read_timeout_s=2, max_frame_age_s=2, offline_after_s=3,
                     reconnect_min_s=0.2, reconnect_max_s=1)


def camera(source: str, cam_id: str = "quay-1", password_env: str | None = "QW_TEST_CAM_PW") -> Camera:
    return Camera(id=cam_id, name=cam_id, source=source, password_env=password_env,
                  water=[[0, 60], [160, 60], [160, 120], [0, 120]], quay_line=[[0, 60], [160, 60]])


class Collector:
    def __init__(self):
        self.frames: list[CapturedFrame] = []
        self.health: list[CameraHealth] = []
        self.changed = threading.Condition()

    def frame(self, f: CapturedFrame) -> None:
        with self.changed:
            self.frames.append(f)
            self.changed.notify_all()

    def state(self, h: CameraHealth) -> None:
        with self.changed:
            self.health.append(h)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def states(self) -> list[str]:
        return [h.state for h in self.health]


@pytest.fixture
def clip_sim(tmp_path):
    clip = tmp_path / "ramp.mp4"
    means = write_clip(clip)
    sim = CameraSim(tmp_path / "sim", clip=clip).start()
    yield sim, means
    sim.stop()


def test_rtsp_capture_reads_the_clip_frames(clip_sim, monkeypatch):
    sim, means = clip_sim
    monkeypatch.setenv("QW_TEST_CAM_PW", sim.password)
    got = Collector()
    cap = CameraCapture(camera(sim.rtsp_url), FAST, got.frame, got.state).start()
    try:
        assert got.wait(lambda: len(got.frames) >= 30, 20), f"frames: {len(got.frames)}, health {got.states()}"
    finally:
        cap.stop()
    first = got.frames[0].frame
    assert first.shape == (120, 160) and first.dtype == np.uint8
    assert [f.index for f in got.frames] == list(range(len(got.frames)))
    # the picture is the clip's: each decoded frame's brightness is one of the clip's ramp levels
    for f in got.frames[:30]:
        assert min(abs(f.frame.mean() - m) for m in means) < 3, f.frame.mean()
    # and it moves along the ramp rather than repeating one frame
    assert len({round(f.frame.mean()) for f in got.frames[:30]}) > 10
    assert got.states()[0] == "online"
    stats = cap.stats()
    print(f"\nrtsp capture: {stats.fps} fps measured, decode {stats.decode_ms} ms/frame, frames {stats.frames}")
    assert 5 < stats.fps < 14  # the sim paces at 9 fps: measured rate reflects the stream, not a burst
    assert stats.errors == 0


def test_rtsp_wrong_password_is_offline_with_a_clear_reason(clip_sim, monkeypatch, caplog):
    sim, _ = clip_sim
    monkeypatch.setenv("QW_TEST_CAM_PW", "not-the-password")
    got = Collector()
    cap = CameraCapture(camera(sim.rtsp_url), FAST, got.frame, got.state).start()
    try:
        assert got.wait(lambda: got.health, 10)
        assert got.wait(lambda: cap.stats().errors >= 2, 10)  # keeps retrying, counted, never raises
    finally:
        cap.stop()
    reason = got.health[0].reason
    assert got.health[0].state == "offline"
    assert "refused the credentials" in reason and sim.rtsp_url.split("@")[1].split("/")[0] in reason
    assert "not-the-password" not in reason
    assert "not-the-password" not in caplog.text and "refused the credentials" in caplog.text
    assert not got.frames


def test_missing_password_variable_names_it(monkeypatch):
    from quaywatch.errors import QuaywatchError

    monkeypatch.delenv("QW_TEST_CAM_PW", raising=False)
    with pytest.raises(QuaywatchError, match="QW_TEST_CAM_PW"):
        CameraCapture(camera("rtsp://admin@127.0.0.1:9/stream"), FAST, print, print)


def test_live_simulated_scene_over_rtsp(tmp_path, monkeypatch):
    """The simulator's endless 16-bit Lepton scene, served as a camera does: 8-bit AGC H.264 over RTSP."""
    sim = CameraSim(tmp_path / "sim", scene="sim://lepton?seed=3").start()
    monkeypatch.setenv("QW_TEST_CAM_PW", sim.password)
    got = Collector()
    cap = CameraCapture(camera(sim.rtsp_url), FAST, got.frame, got.state).start()
    try:
        assert got.wait(lambda: len(got.frames) >= 10, 30), (got.states(), sim.output()[-2000:])
    finally:
        cap.stop()
        sim.stop()
    frames = [f.frame for f in got.frames[:10]]
    assert frames[0].shape == (120, 160) and frames[0].dtype == np.uint8
    assert all(f.std() > 5 for f in frames)  # a scene with contrast (AGC-stretched), not a flat grey
    assert got.states() == ["online"]


def test_sim_source_directly_fast():
    got = Collector()
    cap = CameraCapture(camera("sim://aalborg?seed=1", password_env=None), FAST, got.frame, got.state,
                        realtime=False).start()
    try:
        assert got.wait(lambda: len(got.frames) >= 20, 30)
    finally:
        cap.stop()
    assert got.frames[0].frame.shape == (288, 384)
    assert [round(f.t * 9) for f in got.frames[:20]] == list(range(20))  # scene time in fast mode


def test_sigterm_stops_the_whole_camera(tmp_path):
    sim = CameraSim(tmp_path / "sim").start()
    proc = sim.process.proc
    proc.send_signal(signal.SIGTERM)  # to the camera-sim only, not its group: it must take its RTSP child along
    assert proc.wait(10) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the RTSP server outlived the camera-sim")
    sim.stop()
