"""Detection in processes of their own (`edge.detection_in: processes`, edge/detect_process.py): a fall is
still found and published, and a detection process that is killed or stops answering is started again,
counted, and its cameras go on being watched."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import numpy as np

from quaywatch.config import site_from_dict
from quaywatch.config.wire import decode
from quaywatch.edge.clips import ClipWriter
from quaywatch.edge.worker import EdgeWorker
from tests.peers import MqttRecorder
from tests.test_edge_fall import fall_clip
from tests.test_edge_worker import EVIDENCE_TOKEN, site_dict


def quiet_clip(path, frames: int) -> None:
    """Warm-water noise the detector really processes, with nothing in it."""
    rng = np.random.default_rng(5)
    with ClipWriter(path, 9, 384, 288) as w:
        for _ in range(frames):
            w.write((90 + rng.normal(0, 3, (288, 384))).clip(0, 255).astype(np.uint8))


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def processed(worker: EdgeWorker, camera: str = "cam-0") -> int:
    return worker.stats()["cameras"][camera]["processed"]


def test_a_fall_is_found_by_a_detector_in_its_own_process(mosquitto, tmp_path, monkeypatch):
    monkeypatch.setenv("QW_TEST_EVIDENCE_TOKEN", EVIDENCE_TOKEN)
    clip, cam = fall_clip(tmp_path)
    cams = [{"id": "cam-0", "source": str(clip), "resolution": [384, 288], "fps": 9, "water": cam.water,
             "quay_line": cam.quay_line, "exclude": cam.exclude}]
    site = site_from_dict(site_dict(tmp_path, mosquitto.port, cams, detection_threads=1, detection_in="processes"))
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="alerting-detect-process")
    worker = EdgeWorker(site, ("127.0.0.1", mosquitto.port)).start()
    try:
        def alerts(msgs) -> list[dict]:
            events = [decode("event", p) for t, p, _ in msgs if t.endswith("/cam-0/events")]
            return [e for e in events if e["kind"] in ("water_entry", "person_in_water")]

        assert rec.wait_for(alerts, timeout=90), f"no alert on the broker: {worker.stats()['cameras']}"
        stats = worker.stats()
        (proc,) = stats["detection_processes"]
        assert proc["pid"] != os.getpid() and proc["cpu_s"] > 0  # the detector ran there, not here
        assert stats["cameras"]["cam-0"]["errors"] == 0 and stats["cameras"]["cam-0"]["dropped"] == 0
        event = alerts(list(rec.messages))[0]
        assert event["evidence"]["snapshot_jpeg_b64"] and event["frame_size"] == [384, 288]
    finally:
        worker.stop()
        rec.close()


def test_a_killed_or_frozen_detection_process_is_started_again_and_its_camera_stays_watched(
        mosquitto, tmp_path, monkeypatch):
    monkeypatch.setenv("QW_TEST_EVIDENCE_TOKEN", EVIDENCE_TOKEN)
    clip = tmp_path / "quiet.mp4"
    quiet_clip(clip, 9 * 40)  # 40 s in real time: outlives both faults
    cams = [{"id": "cam-0", "source": str(clip), "fps": 9}]
    site = site_from_dict(site_dict(tmp_path, mosquitto.port, cams, detection_threads=1, detection_in="processes",
                                    detection_stall_s=1.5))
    worker = EdgeWorker(site, ("127.0.0.1", mosquitto.port)).start()
    try:
        wait(lambda: processed(worker) >= 9, 30, "a second of frames detected")
        first = worker.stats()["detection_processes"][0]["pid"]

        os.kill(first, signal.SIGKILL)  # out of memory, a crash in native code
        second = wait(lambda: (p := worker.stats()["detection_processes"][0]["pid"]) != first and p, 15,
                      "the killed detection process replaced")
        at = processed(worker)
        wait(lambda: processed(worker) >= at + 9, 15, "frames detected again after the kill")

        os.kill(second, signal.SIGSTOP)  # frozen: alive, answering nothing
        try:
            wait(lambda: worker.stats()["detection_processes"][0]["pid"] != second, 15,
                 "the frozen detection process replaced")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(second, signal.SIGCONT)  # if it was not killed, do not leave it stopped
        at = processed(worker)
        wait(lambda: processed(worker) >= at + 9, 15, "frames detected again after the freeze")

        stats = worker.stats()
        assert stats["detection_processes"][0]["restarts"] == 2
        cam = stats["cameras"]["cam-0"]
        assert cam["detector_restarts"] == 2 and cam["errors"] >= 2, cam
        assert worker.runners["cam-0"].capture.stats().state == "online"
        assert not os.path.exists(f"/proc/{first}") and not os.path.exists(f"/proc/{second}")  # reaped, no zombies
    finally:
        worker.stop()
