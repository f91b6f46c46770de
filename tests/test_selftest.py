"""Camera self-test (issue 7): a synthetic fall composited into copies of a camera's frames makes a second,
real Detector alert; the real detector's frames are untouched; a camera that cannot pass fails loudly; the
schedule fires per camera; and through the real worker and Mosquitto the drill arrives as `drill: true`."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import yaml

from quaywatch.config import load_site
from quaywatch.config.recording import load_ground_truth
from quaywatch.config.selftest import SelfTestConfig
from quaywatch.config.wire import decode
from quaywatch.detector import Detector
from quaywatch.edge.clips import read_frames
from quaywatch.edge.events import to_wire
from quaywatch.edge.selftest import SelfTester, SelfTestRun, SelfTestSchedule, camera_phase, outcome_event
from tests.peers import MqttRecorder, Process

FIXTURES = Path(__file__).resolve().parents[1] / "recordings_fixtures"
ALERTS = ("water_entry", "person_in_water")


def quiet_clip(name: str, seconds: float):
    """A fixture without events, its camera from the sidecar's site, and its first `seconds` of frames
    played forward then backward (a 10 s clip still gives a continuous, event-free 20 s)."""
    sidecar = FIXTURES / f"{name}.json"
    truth = load_ground_truth(sidecar)
    assert truth.events == []  # a quiet scene: any alert below is the drill's
    site = load_site(truth.site_path(sidecar))
    clip = next(p for p in FIXTURES.glob(f"{name}.*") if p.suffix != ".json")
    frames = [f for _, f in islice(read_frames(clip), int(seconds * 9))]
    frames = frames + frames[-2:0:-1]
    return site, site.camera(truth.camera), frames[: int(seconds * 9)]


@pytest.mark.parametrize("name, dtype", [("neg-nuc-aalborg", np.uint8), ("neg-nuc-lepton-16bit", np.uint16)])
def test_synthetic_fall_makes_the_real_detector_alert_and_leaves_the_watched_frames_alone(name, dtype):
    site, camera, frames = quiet_clip(name, 16.0)
    assert frames[0].dtype == dtype
    originals = [f.copy() for f in frames]
    cfg = SelfTestConfig()
    run = SelfTestRun(camera, cfg, started=0.0, seed=4)
    watch = Detector(camera, fps=9, frame_shape=frames[0].shape)  # the real watch, on the same frames
    outcome, watch_alerts = None, []
    for i, frame in enumerate(frames):
        t = 1000.0 + i / 9
        watch_alerts += watch.process(frame, t).detections
        outcome = outcome or run.feed(t, frame, now=t)
    assert outcome is not None and outcome.passed, outcome and outcome.message
    assert outcome.detection.kind in ALERTS
    assert run.fall.near_fall(outcome.detection.bbox, outcome.detection.t - 1000.0)
    assert -0.5 <= outcome.delay_s <= cfg.alert_within_s
    # the drill drew into its own copies: the frames the real detector saw are bit-for-bit the camera's
    assert all(np.array_equal(a, b) for a, b in zip(frames, originals, strict=True))
    assert watch_alerts == []  # ...so the real watch was not fooled by the drill
    assert not np.array_equal(outcome.frame, frames[0])  # the copy does show the synthetic person

    payload = outcome_event(site.site.id, camera, outcome)
    event = decode("event", to_wire(payload))  # valid on the wire, as alerting checks it
    assert event["drill"] is True and event["kind"] in ALERTS and event["evidence"]["snapshot_jpeg_b64"]


def test_all_black_frames_fail_the_self_test_though_the_drill_copy_shows_a_person():
    site, camera, frames = quiet_clip("neg-nuc-aalborg", 0.2)
    run = SelfTestRun(camera, SelfTestConfig(), started=0.0, seed=1)
    black = np.zeros_like(frames[0])
    outcome = None
    for i in range(9 * 30):
        outcome = run.feed(i / 9, black, now=i / 9)
        if outcome is not None:
            break
    assert outcome is not None and not outcome.passed and not outcome.missed  # no retry: the sensor is dead
    assert "flat or frozen" in outcome.message
    event = decode("event", to_wire(outcome_event(site.site.id, camera, outcome)))
    assert event["kind"] == "self_test_failed" and not event.get("drill", False)


def test_a_missed_drill_is_repeated_once_before_self_test_failed():
    site, camera, frames = quiet_clip("neg-nuc-aalborg", 6.0)
    now = [0.0]
    published: list[tuple[str, dict]] = []
    # a detector that cannot alert in time (0.1 s after the entry): every drill is a miss
    cfg = SelfTestConfig(alert_within_s=0.1, attempts=2)
    tester = SelfTester(site, [camera.id], lambda cid, p: published.append((cid, p)), cfg=cfg, clock=lambda: now[0])
    tester.request(camera.id)
    tester.tick()
    for i in range(9 * 40):
        now[0] = i / 9
        tester.frame(camera.id, now[0], frames[i % len(frames)] if (i // len(frames)) % 2 == 0
                     else frames[len(frames) - 1 - i % len(frames)])
        if published:
            break
    assert [(o.passed, o.missed) for o in tester.outcomes] == [(False, True), (False, True)]
    assert len(published) == 1 and not tester.running(camera.id)
    event = decode("event", to_wire(published[0][1]))
    assert event["kind"] == "self_test_failed" and not event.get("drill", False)
    assert "did not alert" in event["message"] and "attempt 2 of 2" in event["message"]


def test_a_camera_with_no_frames_fails_its_due_self_test():
    site, camera, _ = quiet_clip("neg-nuc-aalborg", 0.2)
    now = [5000.0]
    published: list[tuple[str, dict]] = []
    cfg = SelfTestConfig(first_after_s=60, jitter_s=0, no_frames_after_s=10)
    tester = SelfTester(site, [camera.id], lambda cid, p: published.append((cid, p)), cfg=cfg, clock=lambda: now[0])
    tester.tick(5059.0)
    assert not tester.running(camera.id)
    tester.tick(5060.0)  # due: the test starts and waits for frames
    assert tester.running(camera.id) and published == []
    tester.tick(5069.0)
    assert published == []
    tester.tick(5070.0)
    assert [cid for cid, _ in published] == [camera.id]
    event = decode("event", to_wire(published[0][1]))
    assert event["kind"] == "self_test_failed" and "no frames" in event["message"]
    assert not tester.running(camera.id)


def test_schedule_fires_each_camera_on_its_own_interval():
    cfg = SelfTestConfig(interval_s=3600, first_after_s=300, jitter_s=600)
    ids = ["cam-a", "cam-b"]
    sched = SelfTestSchedule(cfg, ids, start=0.0)
    first = {c: 300 + camera_phase(c) * 600 for c in ids}
    assert first["cam-a"] != first["cam-b"]  # jittered per camera
    fired: dict[str, list[float]] = {c: [] for c in ids}
    for minute in range(0, 4 * 60 + 1):  # four hours, one tick a minute
        now = minute * 60.0
        for cid in sched.due(now):
            fired[cid].append(now)
    for c in ids:
        assert len(fired[c]) == 4
        assert all(b - a == pytest.approx(3600, abs=60) for a, b in zip(fired[c], fired[c][1:], strict=False))
        assert first[c] <= fired[c][0] < first[c] + 60
    # a worker that slept through two slots runs one test, not a burst
    assert sched.due(20 * 3600.0) == ids and sched.due(20 * 3600.0) == []
    assert SelfTestSchedule(cfg.model_copy(update={"skip_cameras": ["cam-b"]}), ids, 0.0).next_due.keys() == {"cam-a"}


def test_drill_through_the_real_worker_and_mosquitto_arrives_with_drill_true(mosquitto, tmp_path):
    sidecar = FIXTURES / "neg-nuc-aalborg.json"
    cam = load_site(load_ground_truth(sidecar).site_path(sidecar)).camera("cam-1")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "selftest-harbour", "name": "Self-test Harbour"},
        "cameras": [{"id": "quay-1", "name": "Quay one", "source": str(FIXTURES / "neg-nuc-aalborg.mp4"),
                     "resolution": [384, 288], "fps": 9, "water": cam.water, "quay_line": cam.quay_line,
                     "exclude": cam.exclude}],
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
        "edge": {"worker_id": "edge-selftest", "data_dir": str(tmp_path / "edge"), "evidence": {"http_port": 0}},
    }))
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="selftest-recorder")
    edge = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site), "--selftest-now"],
                   tmp_path / "edge.log", env={"PYTHONUNBUFFERED": "1"})
    try:
        def events(msgs):
            return [decode("event", p) for t, p, _ in msgs if t.endswith("/quay-1/events")]

        assert rec.wait_for(lambda m: any(e.get("drill") for e in events(m)), timeout=60), edge.output()[-3000:]
        found = events(rec.messages)
        drill = next(e for e in found if e.get("drill"))  # decode() validated it against event.schema.json
        assert drill["kind"] in ALERTS and drill["camera"] == "quay-1" and drill["site"] == "selftest-harbour"
        assert "self-test" in drill["message"]
        # the scene is quiet: nothing but the drill was raised, and no self-test failure
        assert [e for e in found if not e.get("drill") and e["kind"] in (*ALERTS, "self_test_failed")] == []
    finally:
        rec.close()
        edge.stop()


def test_selftest_cli_fails_a_camera_that_cannot_be_opened(tmp_path, capsys):
    import json

    from quaywatch.cli import main
    from tests.peers import free_port

    sidecar = FIXTURES / "neg-nuc-aalborg.json"
    cam = load_site(load_ground_truth(sidecar).site_path(sidecar)).camera("cam-1")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "selftest-cli", "name": "Self-test CLI"},
        "cameras": [{"id": "dark-1", "name": "Dark one", "source": f"rtsp://127.0.0.1:{free_port()}/none",
                     "resolution": [384, 288], "fps": 9, "water": cam.water, "quay_line": cam.quay_line}],
    }))
    assert main(["selftest", "--site", str(site), "--camera", "dark-1", "--json"]) == 1
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["passed"] is False and "no frames" in result["message"]
