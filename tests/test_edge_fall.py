"""The whole edge path through real peers: a simulated fall, served by the simulated ONVIF/RTSP camera, read
by `quaywatch edge`, arrives on Mosquitto as a valid event carrying its snapshot and a playable clip."""

from __future__ import annotations

import base64
import re
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from quaywatch.config import Camera, load_site
from quaywatch.config.recording import load_ground_truth, sidecar_for
from quaywatch.config.wire import decode
from tests.camsim_peer import CameraSim
from tests.peers import Mosquitto, MqttRecorder, Process

ALERTS = ("water_entry", "person_in_water")
EVIDENCE_TOKEN = "edge-fall-test-evidence-token"


FIXTURE = Path(__file__).resolve().parents[1] / "recordings_fixtures" / "fall-aalborg-winter-night-1.mp4"


def fall_clip(tmp_path) -> tuple[Path, Camera]:
    """A recorded fall and the camera geometry it was shot with: the committed fixture (what the detector is
    scored on), or, in a checkout without it, the same scenario rendered by the simulator."""
    if FIXTURE.exists():
        truth = load_ground_truth(sidecar_for(FIXTURE))
        assert truth.events  # the clip really has a fall in it
        return FIXTURE, load_site(truth.site_path(sidecar_for(FIXTURE))).camera(truth.camera)
    from quaywatch.simulator.clip import ClipSpec, write_clip

    clip = tmp_path / "fall.mp4"
    _, truth = write_clip(ClipSpec("fall", "config/sites/demo.yaml", "cam-1", seed=3, seconds=16, fps=9), clip)
    assert truth.events
    return clip, load_site("demo").camera("cam-1")


def start_fall_camera_and_edge(mosquitto, tmp_path) -> tuple[CameraSim, Process]:
    """The simulated ONVIF camera looping a clip with a fall, and `quaywatch edge` reading it."""
    clip, cam = fall_clip(tmp_path)
    sim = CameraSim(tmp_path / "camsim", clip=clip, fps=9).start()
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "e2e-harbour", "name": "E2E Harbour"},
        "cameras": [{"id": "quay-1", "name": "Quay one", "source": sim.onvif_url, "password_env": "QW_E2E_CAM_PW",
                     "resolution": [384, 288], "fps": 9, "water": cam.water, "quay_line": cam.quay_line,
                     "exclude": cam.exclude, "location": {"lat": 57.05, "lon": 9.92}}],
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "keepalive_s": 2, "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5},
        "edge": {"worker_id": "edge-e2e", "data_dir": str(tmp_path / "edge"),
                 "evidence": {"http_port": 0, "pre_s": 3, "post_s": 2, "token_env": "QW_E2E_EVIDENCE_TOKEN"}},
    }))
    edge = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site)], tmp_path / "edge.log",
                   env={"QW_E2E_CAM_PW": sim.password, "QW_E2E_EVIDENCE_TOKEN": EVIDENCE_TOKEN, "PYTHONUNBUFFERED": "1"})
    return sim, edge


def alert_ids(rec: MqttRecorder) -> list[str]:
    out = []
    for t, p, _ in list(rec.messages):
        if t.endswith("/quay-1/events"):
            event = decode("event", p)
            if event["kind"] in ALERTS:
                out.append(event["event_id"])
    return out


def test_fall_through_the_onvif_camera_arrives_as_an_event_with_evidence(mosquitto, tmp_path):
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="alerting-e2e")
    sim, edge = start_fall_camera_and_edge(mosquitto, tmp_path)
    try:
        def alert(msgs):
            return any(t.endswith("/quay-1/events") and any(k.encode() in p for k in ALERTS) for t, p, _ in msgs)

        assert rec.wait_for(alert, timeout=90), f"no alert on the broker\n{edge.output()[-3000:]}"
        raw = next(p for t, p, _ in rec.messages if t.endswith("/quay-1/events") and b"camera_" not in p)
        event = decode("event", raw)  # the alerting service's own check
        assert event["kind"] in ALERTS and event["camera"] == "quay-1" and event["site"] == "e2e-harbour"
        assert event["frame_size"] == [384, 288]

        jpeg = base64.b64decode(event["evidence"]["snapshot_jpeg_b64"])
        assert len(jpeg) <= 40_000
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[:2] == (288, 384)

        asked = urllib.request.Request(event["evidence"]["clip_url"],
                                       headers={"Authorization": f"Bearer {EVIDENCE_TOKEN}"})
        with urllib.request.urlopen(asked, timeout=30) as resp:
            body = resp.read()
        (tmp_path / "evidence.mp4").write_bytes(body)
        with av.open(str(tmp_path / "evidence.mp4")) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in c.decode(video=0)) >= 20  # seconds of footage around the entry
        status = [decode("status", p) for t, p, _ in rec.messages if t.endswith("/quay-1/status")]
        assert any(s["state"] == "online" for s in status)
        print(f"\n{event['kind']} from the ONVIF camera: snapshot {len(jpeg)} bytes, clip {len(body)} bytes")
    finally:
        edge.stop()
        sim.stop()
        rec.close()


def test_broker_killed_during_a_fall_loses_no_alert_and_keeps_their_order(tmp_path):
    """The broker dies before the fall and comes back after it: the alert waits in the edge's outbox and
    arrives once the broker is back; every alert the edge logged arrives, once each by id, in order."""
    broker = Mosquitto()  # its own directory, so the subscriber's persistent session survives the kill
    broker.start()
    rec = MqttRecorder(broker.port, "quaywatch/#", client_id="alerting-e2e")
    sim, edge = start_fall_camera_and_edge(broker, tmp_path)
    try:
        worker_topic = "quaywatch/e2e-harbour/edge/edge-e2e/status"
        assert rec.wait_for(lambda m: any(t == worker_topic for t, _, _ in m), 90), edge.output()[-3000:]
        time.sleep(2.5)  # mosquitto saves sessions every ~1-2 s: the subscriber's must be on disk
        broker.kill()
        killed = time.monotonic()

        def logged() -> list[str]:
            return re.findall(r"(?:water_entry|person_in_water) at t=\S+ \(event ([0-9a-f-]{36})\)", edge.output())

        deadline = time.monotonic() + 60
        while not logged() and time.monotonic() < deadline:
            time.sleep(0.2)
        raised_while_down = logged()
        assert raised_while_down, f"the edge raised no alert while the broker was down\n{edge.output()[-3000:]}"
        broker.start()
        back = time.monotonic()
        assert rec.wait_for(lambda m: set(raised_while_down) <= set(alert_ids(rec)), 30), (
            f"alerts raised during the outage never arrived\n{edge.output()[-3000:]}")
        ids = logged()
        assert rec.wait_for(lambda m: set(ids) <= set(alert_ids(rec)), 30)
        got = alert_ids(rec)
        assert list(dict.fromkeys(got)) == ids[: len(dict.fromkeys(got))], "alerts lost or out of order"
        assert len(got) - len(set(got)) <= 1
        reconnect = re.findall(r"MQTT reconnected to \S+ after ([0-9.]+)s", edge.output())
        assert reconnect
        print(f"\nbroker down {back - killed:.1f}s; {len(raised_while_down)} alert(s) raised meanwhile, all "
              f"delivered after it came back; edge link down {reconnect[-1]} s in all; "
              f"{len(got) - len(set(got))} duplicate(s)")
    finally:
        edge.stop()
        sim.stop()
        rec.close()
        broker.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)
