"""The edge worker as a whole: the real `quaywatch edge` process against a real Mosquitto (dark camera,
last will, bad config), and in-process: frames flow, and when detection falls behind frames are dropped
and counted rather than queued."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import yaml

from quaywatch.config import site_from_dict
from quaywatch.config.wire import decode
from quaywatch.edge.clips import ClipWriter
from quaywatch.edge.worker import EdgeWorker
from quaywatch.mqtt_accounts import credentials
from tests.peers import Mosquitto, MqttRecorder, Process, free_port

EVIDENCE_TOKEN = "edge-worker-test-evidence-token"  # the evidence server refuses requests without it

AALBORG = {
    "water": [[17, 8], [24, 87], [4, 90], [3, 285], [84, 279], [141, 269], [47, 85], [31, 86], [26, 22], [21, 9]],
    "quay_line": [[15, 0], [152, 287]],
    "location": {"lat": 57.05, "lon": 9.92},
}


def site_dict(tmp_path, port: int, cameras: list[dict], **edge) -> dict:
    return {
        "site": {"id": "test-harbour", "name": "Test Harbour"},
        "cameras": [{"name": f"Camera {c['id']}", **AALBORG, **c} for c in cameras],
        "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 2, "reconnect_min_s": 0.1},
        "edge": {"worker_id": "edge-t", "data_dir": str(tmp_path / "edge"), "offline_after_s": 1.5,
                 "status_interval_s": 1, "evidence": {"http_port": 0, "token_env": "QW_TEST_EVIDENCE_TOKEN"},
                 "capture": {"open_timeout_s": 1, "read_timeout_s": 1, "reconnect_min_s": 0.2,
                             "reconnect_max_s": 1, "offline_after_s": 1},
                 **edge},
    }


def write_site(tmp_path, data: dict):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def edge_process(tmp_path, site_path) -> Process:
    return Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site_path)],
                   tmp_path / "edge.log", env={"PYTHONUNBUFFERED": "1", "QW_TEST_EVIDENCE_TOKEN": EVIDENCE_TOKEN})


def test_dark_camera_raises_camera_offline_and_killed_edge_leaves_its_last_will(mosquitto, tmp_path):
    dead = f"rtsp://127.0.0.1:{free_port()}/stream"  # nothing listens there: the camera is dark
    site = write_site(tmp_path, site_dict(tmp_path, mosquitto.port, [{"id": "cam-dark", "source": dead}]))
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="control-room")
    edge = edge_process(tmp_path, site)
    try:
        worker_topic = "quaywatch/test-harbour/edge/edge-t/status"
        assert rec.wait_for(lambda m: any(t.endswith("/cam-dark/events") for t, _, _ in m), 60), edge.output()
        event = decode("event", next(p for t, p, _ in rec.messages if t.endswith("/cam-dark/events")))
        assert event["kind"] == "camera_offline" and event["camera"] == "cam-dark"
        assert "dark" in event["message"]
        status = [decode("status", p) for t, p, _ in rec.messages if t.endswith("/cam-dark/status")]
        assert status and status[-1]["state"] == "offline" and "cannot open" in status[-1]["reason"]
        assert any(t == worker_topic and decode("status", p)["state"] == "online" for t, p, _ in rec.messages)

        edge.signal(signal.SIGKILL)  # no goodbye: only the broker's last will can tell the control room
        edge.proc.wait(5)
        assert rec.wait_for(lambda m: any(
            t == worker_topic and json.loads(p)["state"] == "offline" for t, p, _ in m), 10)
        will = [decode("status", p) for t, p, _ in rec.messages if t == worker_topic][-1]
        assert will["reason"] == "connection lost (last will)"
        # ...and it is retained: a control room that connects later learns it too.
        late = MqttRecorder(mosquitto.port, worker_topic, client_id="late-viewer")
        try:
            assert late.wait_for(lambda m: m and m[-1][2] and json.loads(m[-1][1])["state"] == "offline", 5)
        finally:
            late.close()
    finally:
        edge.stop()
        rec.close()


def test_edge_killed_before_the_broker_acknowledged_resends_after_restart(tmp_path):
    """Broker down; the edge raises camera_offline into its outbox and is killed (no clean stop). The next
    edge process on the same data dir sends that very event (same id) once the broker is there."""
    broker = Mosquitto()  # not started yet
    dead = f"rtsp://127.0.0.1:{free_port()}/stream"
    site = write_site(tmp_path, site_dict(tmp_path, broker.port, [{"id": "cam-dark", "source": dead}]))
    first = edge_process(tmp_path, site)
    pattern = r"cam-dark: camera cam-dark is dark: .* \(event ([0-9a-f-]{36})\)"
    try:
        deadline = time.monotonic() + 60
        while not re.search(pattern, first.output()) and time.monotonic() < deadline:
            time.sleep(0.2)
        held = re.findall(pattern, first.output())
        assert held, first.output()[-2000:]
        first.signal(signal.SIGKILL)
        first.proc.wait(5)
    finally:
        first.stop()
    broker.start()
    rec = MqttRecorder(broker.port, "quaywatch/#", client_id="control-room")
    second = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site)], tmp_path / "edge-2.log",
                     env={"PYTHONUNBUFFERED": "1", "QW_TEST_EVIDENCE_TOKEN": EVIDENCE_TOKEN})
    try:
        def ids(msgs):
            return [json.loads(p)["event_id"] for t, p, _ in msgs if t.endswith("/cam-dark/events")]

        assert rec.wait_for(lambda m: held[0] in ids(m), 60), second.output()[-2000:]
        assert ids(rec.messages)[0] == held[0]  # the old event first, before anything the new process raised
        assert "unacknowledged event(s) from before" in second.output()
    finally:
        second.stop()
        rec.close()
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)


def test_malformed_site_config_is_a_clear_error_not_a_traceback(tmp_path):
    data = site_dict(tmp_path, 1883, [{"id": "cam-1", "source": "clip.mp4"}], detection_threads=-2)
    data["cameras"][0]["water"] = [[0, 0], [1, 1]]
    site = write_site(tmp_path, data)
    run = subprocess.run([sys.executable, "-m", "quaywatch", "edge", "--site", str(site)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "cameras[0].water: polygon needs at least 3 points" in run.stderr
    assert "edge.detection_threads" in run.stderr
    assert "Traceback" not in run.stderr


def synthetic_clip(path, frames: int = 90) -> None:
    """Featureless warm-water noise: frames the detector really processes, with nothing to alert on."""
    rng = np.random.default_rng(3)
    with ClipWriter(path, 9, 384, 288) as w:
        for _ in range(frames):
            w.write((90 + rng.normal(0, 3, (288, 384))).clip(0, 255).astype(np.uint8))


def test_when_detection_falls_behind_frames_are_dropped_and_counted_not_queued(mosquitto, tmp_path, monkeypatch):
    monkeypatch.setenv("QW_TEST_EVIDENCE_TOKEN", EVIDENCE_TOKEN)
    clip = tmp_path / "quiet.mp4"
    synthetic_clip(clip)
    cams = [{"id": f"cam-{i}", "source": str(clip)} for i in range(6)]
    site = site_from_dict(site_dict(tmp_path, mosquitto.port, cams, detection_threads=1, queue_frames=1))
    # Fast replay: six cameras decode as fast as the CPU allows into one detection thread.
    worker = EdgeWorker(site, ("127.0.0.1", mosquitto.port), realtime=False).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                r.capture.finished.is_set() for r in worker.runners.values()):
            time.sleep(0.1)
        while time.monotonic() < deadline and any(r.scheduled for r in worker.runners.values()):
            time.sleep(0.05)  # let the pool finish what is waiting
        stats = worker.stats()["cameras"]
        for cid, r in worker.runners.items():
            delivered = r.capture.stats().frames
            assert delivered == 90
            s = stats[cid]
            assert s["processed"] > 0, cid
            # every delivered frame was either processed or dropped (replaced by a newer one)
            assert s["processed"] + s["dropped"] == delivered
            assert not r.waiting
        assert sum(s["dropped"] for s in stats.values()) > 0, "one thread kept up with six fast cameras?"
        asked = urllib.request.Request(f"{worker.server.base_url}/stats",
                                       headers={"Authorization": f"Bearer {EVIDENCE_TOKEN}"})
        with urllib.request.urlopen(asked, timeout=5) as resp:
            served = json.loads(resp.read())
        assert served["cameras"]["cam-0"]["processed"] == stats["cam-0"]["processed"]
        print("\n" + ", ".join(f"{c}: {s['processed']} processed / {s['dropped']} dropped"
                               for c, s in stats.items()))
    finally:
        worker.stop()


def test_no_broker_configured_runs_the_embedded_one_and_sigterm_stops_everything(tmp_path):
    port = free_port()
    data = site_dict(tmp_path, port, [{"id": "cam-dark", "source": f"rtsp://127.0.0.1:{free_port()}/x"}])
    # No host: the edge starts amqtt on 127.0.0.1:<port> itself, with this install's generated accounts.
    data["mqtt"] = {"port": port, "credentials_dir": str(tmp_path / "mqtt")}
    user, password = credentials(site_from_dict(data), "alerting")
    edge = edge_process(tmp_path, write_site(tmp_path, data))
    rec = None
    try:
        deadline = time.monotonic() + 60
        while rec is None and time.monotonic() < deadline:
            try:
                rec = MqttRecorder(port, "quaywatch/test-harbour/#", client_id="control-room",
                                   username=user, password=password)
            except (OSError, TimeoutError):
                time.sleep(0.3)
        assert rec is not None, edge.output()[-2000:]
        topic = "quaywatch/test-harbour/edge/edge-t/status"
        assert rec.wait_for(lambda m: any(t == topic and json.loads(p)["state"] == "online" for t, p, _ in m), 60)
        edge.signal(signal.SIGTERM)
        assert edge.proc.wait(20) == 0, edge.output()[-2000:]
        assert rec.wait_for(lambda m: any(t == topic and json.loads(p)["reason"] == "stopped" for t, p, _ in m), 5)
        assert "edge worker edge-t stopped" in edge.output()
        with pytest.raises(OSError):  # the embedded broker went with it
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if rec is not None:
            rec.close()
        edge.stop()


def test_live_view_frames_reach_the_broker_as_jpegs_at_the_configured_rate(mosquitto, tmp_path, monkeypatch):
    """The control room's live view: the detector's false-colour view of each camera, a few per second,
    QoS 0 and never retained (a stale frame is no view at all)."""
    monkeypatch.setenv("QW_TEST_EVIDENCE_TOKEN", EVIDENCE_TOKEN)
    clip = tmp_path / "quiet.mp4"
    synthetic_clip(clip)
    site = site_from_dict(site_dict(tmp_path, mosquitto.port, [{"id": "cam-1", "source": str(clip)}],
                                    preview_fps=4))
    rec = MqttRecorder(mosquitto.port, "quaywatch/test-harbour/+/preview", client_id="live-view")
    worker = EdgeWorker(site, ("127.0.0.1", mosquitto.port), realtime=True).start()
    try:
        assert rec.wait_for(lambda m: len(m) >= 4, timeout=30), "no live-view frames"
        started = time.monotonic()
        first = len(rec.messages)
        time.sleep(3.0)
        rate = (len(rec.messages) - first) / (time.monotonic() - started)
        sent = worker.stats()["link"]["previews"]
    finally:
        worker.stop()
        rec.close()
    topic, jpeg, retained = rec.messages[-1]
    assert topic == "quaywatch/test-harbour/cam-1/preview" and not retained
    import cv2

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.ndim == 3 and image.shape[2] == 3  # false colour, not grey
    print(f"\nlive view: {rate:.1f} frames/s at preview_fps 4, {len(jpeg)} bytes each")
    assert 0 < rate <= 4.5  # never more often than asked
    assert sent >= first
