"""Camera faults against the real simulated camera (GStreamer RTSP + ONVIF in their own process group):
killed -> offline -> back online once restarted (reconnect time measured); frozen with SIGSTOP -> detected
by the read timeout while another camera in the same process keeps flowing."""

from __future__ import annotations

import time

from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.capture import CameraCapture
from tests.camsim_peer import CameraSim
from tests.test_camsim import Collector, camera

FAULTS = CaptureConfig(open_timeout_s=2, read_timeout_s=1.5, max_frame_age_s=2, offline_after_s=3,
                       reconnect_min_s=0.2, reconnect_max_s=1)


def test_killed_camera_goes_offline_then_reconnects_after_restart(tmp_path, monkeypatch):
    sim = CameraSim(tmp_path / "sim").start()
    monkeypatch.setenv("QW_TEST_CAM_PW", sim.password)
    got = Collector()
    cap = CameraCapture(camera(sim.onvif_url), FAULTS, got.frame, got.state).start()
    try:
        assert got.wait(lambda: len(got.frames) >= 10, 20), got.states()
        sim.kill()
        killed = time.monotonic()
        assert got.wait(lambda: got.states()[-1] == "offline", 15), got.states()
        detected = time.monotonic() - killed
        frames_at_death = len(got.frames)
        time.sleep(1.5)  # several reconnect attempts against a dead port: counted, nothing raised
        assert cap.stats().errors >= 2
        assert len(got.frames) == frames_at_death

        sim.start()  # same ports, as a camera that rebooted
        restarted = time.monotonic()
        assert got.wait(lambda: got.states()[-1] == "online" and len(got.frames) > frames_at_death + 5, 30), \
            got.states()
        back = time.monotonic() - restarted
        stats = cap.stats()
        print(f"\nkilled camera: offline detected after {detected:.2f} s; online {back:.2f} s after restart; "
              f"outage (last frame -> first new frame) {stats.last_reconnect_s} s; "
              f"reconnects {stats.reconnects}, errors {stats.errors}")
        assert stats.reconnects >= 1
        assert stats.last_reconnect_s is not None
        states = got.states()
        assert states.index("online") < states.index("offline", states.index("online")) < len(states) - 1
        assert states[-1] == "online"
        indices = [f.index for f in got.frames]
        assert indices == list(range(len(indices)))  # numbering continues across the reconnect
    finally:
        cap.stop()
        sim.stop()


def test_frozen_camera_is_detected_while_the_other_keeps_flowing(tmp_path, monkeypatch):
    frozen_sim = CameraSim(tmp_path / "a").start()
    healthy_sim = CameraSim(tmp_path / "b", password=frozen_sim.password).start()
    monkeypatch.setenv("QW_TEST_CAM_PW", frozen_sim.password)
    a, b = Collector(), Collector()
    cap_a = CameraCapture(camera(frozen_sim.rtsp_url, "cam-a"), FAULTS, a.frame, a.state).start()
    cap_b = CameraCapture(camera(healthy_sim.rtsp_url, "cam-b"), FAULTS, b.frame, b.state).start()
    try:
        assert a.wait(lambda: len(a.frames) >= 5, 20) and b.wait(lambda: len(b.frames) >= 5, 20)
        frozen_sim.freeze()  # SIGSTOP: the TCP connection stays up, nothing more arrives
        froze = time.monotonic()
        b_before = len(b.frames)
        assert a.wait(lambda: a.states()[-1] in ("degraded", "offline"), 10), a.states()
        noticed = time.monotonic() - froze
        assert a.wait(lambda: a.states()[-1] == "offline", 15), a.states()
        offline_after = time.monotonic() - froze
        b_during = len(b.frames) - b_before
        # the healthy camera never stopped (it streams 9 fps; a stall would show as a gap and a state change)
        assert b_during >= 10, (b_during, offline_after)
        assert cap_b.state == "online" and b.states() == ["online"]
        print(f"\nfrozen camera: {a.states()} - first noticed after {noticed:.2f} s, offline after "
              f"{offline_after:.2f} s; the other camera delivered {b_during} frames meanwhile")

        frames_frozen = len(a.frames)
        frozen_sim.thaw()
        thawed = time.monotonic()
        assert a.wait(lambda: a.states()[-1] == "online" and len(a.frames) > frames_frozen + 5, 30), a.states()
        print(f"frozen camera back online {time.monotonic() - thawed:.2f} s after SIGCONT")
    finally:
        cap_a.stop()
        cap_b.stop()
        frozen_sim.stop()
        healthy_sim.stop()


def test_stop_returns_while_the_camera_hangs(tmp_path, monkeypatch):
    sim = CameraSim(tmp_path / "sim").start()
    monkeypatch.setenv("QW_TEST_CAM_PW", sim.password)
    got = Collector()
    slow = FAULTS.model_copy(update={"read_timeout_s": 20, "open_timeout_s": 20})
    cap = CameraCapture(camera(sim.rtsp_url), slow, got.frame, got.state).start()
    try:
        assert got.wait(lambda: len(got.frames) >= 3, 20)
        sim.freeze()
        time.sleep(0.5)  # the capture thread is now blocked in a read that waits up to 20 s
        t0 = time.monotonic()
        cap.stop(timeout=0.5)
        print(f"\nstop() with the camera hung returned after {time.monotonic() - t0:.2f} s")
        assert not cap.finished.is_set()  # the read really was blocked: stop did not wait for it
    finally:
        sim.stop()
    assert cap.finished.wait(25)  # and the thread ends by itself once its read gives up
