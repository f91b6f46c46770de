"""The whole edge path through real peers: a simulated fall, served by the simulated ONVIF/RTSP camera, read
by `quaywatch edge`, arrives on Mosquitto as a valid event carrying its snapshot and a playable clip."""

from __future__ import annotations

import base64
import sys
import urllib.request

import av
import cv2
import numpy as np
import yaml

from quaywatch.config import load_site
from quaywatch.config.wire import decode
from tests.camsim_peer import CameraSim
from tests.peers import MqttRecorder, Process

ALERTS = ("water_entry", "person_in_water")


def test_fall_through_the_onvif_camera_arrives_as_an_event_with_evidence(mosquitto, tmp_path):
    from quaywatch.simulator.clip import ClipSpec, write_clip

    clip = tmp_path / "fall.mp4"
    _, truth = write_clip(ClipSpec("fall", "config/sites/demo.yaml", "cam-1", seed=3, seconds=16, fps=9), clip)
    assert truth.events  # the clip really has a fall in it
    sim = CameraSim(tmp_path / "camsim", clip=clip, fps=9).start()
    demo = load_site("demo").camera("cam-1")  # the geometry the clip was rendered with
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "e2e-harbour", "name": "E2E Harbour"},
        "cameras": [{"id": "quay-1", "name": "Quay one", "source": sim.onvif_url, "password_env": "QW_E2E_CAM_PW",
                     "resolution": [384, 288], "fps": 9, "water": demo.water, "quay_line": demo.quay_line,
                     "exclude": demo.exclude, "location": {"lat": 57.05, "lon": 9.92}}],
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
        "edge": {"worker_id": "edge-e2e", "data_dir": str(tmp_path / "edge"),
                 "evidence": {"http_port": 0, "pre_s": 3, "post_s": 2}},
    }))
    rec = MqttRecorder(mosquitto.port, "quaywatch/#", client_id="alerting-e2e")
    edge = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site)], tmp_path / "edge.log",
                   env={"QW_E2E_CAM_PW": sim.password, "PYTHONUNBUFFERED": "1"})
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

        with urllib.request.urlopen(event["evidence"]["clip_url"], timeout=30) as resp:
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
