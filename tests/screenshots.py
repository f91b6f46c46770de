"""The README's control-room screenshots, taken from Chromium against the real service:

    python -m tests.screenshots            # writes docs/controlroom-alert.png, -map.png, -alert-phone.png

Starts Mosquitto and `quaywatch alerting` (dry-run pager) on loopback, runs the fixture fall through the
edge's own pipeline for a real evidence snapshot, serves the fixture clip from the edge's own evidence
server (token required; the control room relays only from there, by event id), publishes the
fall (placed in the water as a ground calibration would) and an older acknowledged one, and photographs
the alarm at 1920x1080, its map, and the alarm card at phone width (390 px).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.peers import CHROMIUM_ARGS, REPO, AlertingProcess, Mosquitto, wait_until

DOCS = REPO / "docs"
FALL_CLIP = REPO / "recordings_fixtures" / "fall-aalborg-winter-night-1.mp4"
PASSWORD = "screenshot-operator-pw"
IN_THE_WATER = {"lat": 57.05075, "lon": 9.92105}
TOKEN_ENV, TOKEN = "QW_SHOTS_EVIDENCE_TOKEN", "screenshots-evidence-token"


def real_fall_event(evidence, t: float, location: dict) -> dict:
    """The fixture fall at time t; its clip kept on the edge's evidence server (`evidence`) under its id."""
    from quaywatch.config.loader import load_site
    from quaywatch.edge.clips import read_frames
    from quaywatch.edge.evidence import snapshot_b64
    from quaywatch.edge.pipeline import CameraPipeline
    from tests.test_controlroom_browser import utc_iso

    truth = json.loads(FALL_CLIP.with_suffix(".json").read_text())
    site = load_site(FALL_CLIP.parent / truth["site"])
    camera = site.camera(truth["camera"])
    pipeline = CameraPipeline(site, camera, fps=9.0)
    for ft, frame in read_frames(FALL_CLIP):
        alerts = pipeline.process(ft, frame)
        if alerts:
            det = alerts[0].detection
            event_id = f"shot-{int(t * 1000)}"
            (evidence.dir / f"{event_id}.mp4").write_bytes(FALL_CLIP.read_bytes())
            return {
                "version": 1, "event_id": event_id, "kind": det.kind, "site": "demo-harbour",
                "camera": "cam-1", "time": utc_iso(t), "detected_time": utc_iso(t), "track_id": int(det.track_id),
                "bbox": [max(0, int(v)) for v in det.bbox], "confidence": round(float(det.confidence), 3),
                "frame_size": [frame.shape[1], frame.shape[0]], "location": location,
                "evidence": {"snapshot_jpeg_b64": snapshot_b64(frame, camera, det),
                             "clip_url": evidence.clip_url(event_id)},
            }
    raise SystemExit("the detector found no fall in the fall fixture")


def main() -> int:
    import paho.mqtt.client as paho
    from playwright.sync_api import sync_playwright

    from quaywatch.config.edge import EvidenceConfig
    from quaywatch.controlroom.users import UserStore
    from quaywatch.edge.evidence import EvidenceStore
    from quaywatch.edge.evidence_http import EvidenceServer

    work = Path(tempfile.mkdtemp(prefix="qw-shots-"))
    store = EvidenceStore(work / "edge-evidence", EvidenceConfig(http_port=0))
    evidence = EvidenceServer(store, "127.0.0.1", 0, TOKEN).start()
    evidence.dir = store.dir
    broker = Mosquitto(work / "mosquitto").start()
    users = UserStore(work / "users.db")
    users.add("alice", "operator", PASSWORD)
    users.close()
    os.environ[TOKEN_ENV] = TOKEN
    service = AlertingProcess(work / "alerting", broker.port, overrides={
        "alerting": {"grouping_window_s": 0}, "edge": {"evidence": {"token_env": TOKEN_ENV}},
        "controlroom": {"users_db": str(work / "users.db"), "evidence_servers": {"cam-1": evidence.base_url}}}).start()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="screenshots")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        now = time.time()
        older = real_fall_event(evidence, now - 240, {"lat": 57.0502, "lon": 9.9217})
        newest = real_fall_event(evidence, now, IN_THE_WATER)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = ctx.new_page()
            page.emulate_media(reduced_motion="reduce")   # the banner's steady red, not a random flash phase
            page.goto(f"{service.url}/controlroom/login")
            page.fill("input[name=user]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{service.url}/controlroom/")
            client.publish("quaywatch/demo-harbour/cam-1/events", json.dumps(older), qos=1).wait_for_publish(5)
            page.wait_for_selector("article.alert.needs-ack button.ack")
            page.click("article.alert.needs-ack button.ack")
            page.wait_for_selector("article.alert .badge.acknowledged")
            client.publish("quaywatch/demo-harbour/cam-1/events", json.dumps(newest), qos=1).wait_for_publish(5)
            wait_until(lambda: page.locator("article.alert.needs-ack").count() == 1, 15)
            card = page.locator("article.alert.needs-ack")
            card.locator(".leaflet-box path.fall-spot").wait_for()
            card.locator(".crop img").wait_for()
            page.evaluate("() => document.querySelector('article.alert.needs-ack video').play()")
            wait_until(lambda: page.evaluate(
                "() => { const v = document.querySelector('article.alert.needs-ack video'); return v.currentTime > 1.5; }"), 20)
            page.evaluate("() => document.querySelector('article.alert.needs-ack video').pause()")
            time.sleep(0.5)  # images decoded, map drawn
            page.screenshot(path=str(DOCS / "controlroom-alert.png"))
            card.locator(".map").screenshot(path=str(DOCS / "controlroom-map.png"))
            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        storage_state=ctx.storage_state()).new_page()
            phone.emulate_media(reduced_motion="reduce")
            phone.goto(f"{service.url}/controlroom/")
            phone.wait_for_selector("article.alert.needs-ack .leaflet-box path.fall-spot")
            time.sleep(0.5)
            phone.screenshot(path=str(DOCS / "controlroom-alert-phone.png"))
            browser.close()
    finally:
        client.loop_stop()
        client.disconnect()
        service.stop()
        broker.stop()
        evidence.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("wrote", ", ".join(f"docs/{n}" for n in ("controlroom-alert.png", "controlroom-map.png",
                                                   "controlroom-alert-phone.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
