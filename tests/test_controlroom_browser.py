"""The control-room page in real headless Chromium, against the real alerting service (dry-run pager) and
Mosquitto: a real fall from the fixtures published on the broker appears live with its snapshot and the
alarm; acknowledging in one page updates every open page and stops escalation; the health grid follows
camera status; the statistics render. Screenshots go to test-artifacts/ (and are looked at).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.peers import ARTIFACTS, REPO, AlertingProcess, missing

FALL_CLIP = REPO / "recordings_fixtures" / "fall-aalborg-winter-night-1.mp4"
CSP_VIOLATIONS: list[str] = []
PASSWORDS = {"alice": "alice-operator-pw", "bob": "bob-operator-pw1", "vera": "vera-viewer-pw1"}
ADMIN_PASSWORD = "admin-password-1"
EVIDENCE_TOKEN_ENV, EVIDENCE_TOKEN = "QW_BROWSER_EVIDENCE_TOKEN", "browser-test-evidence-token"


def utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def real_fall():
    """The fall fixture through the live edge's own pipeline: the first alert's frame, drawn as the edge
    draws its evidence snapshot (false colour, quay line, box)."""
    from quaywatch.config.loader import load_site
    from quaywatch.edge.clips import read_frames
    from quaywatch.edge.evidence import snapshot_b64
    from quaywatch.edge.pipeline import CameraPipeline

    if not FALL_CLIP.exists():
        missing(f"{FALL_CLIP} is absent")
    truth = json.loads(FALL_CLIP.with_suffix(".json").read_text())
    site = load_site(FALL_CLIP.parent / truth["site"])
    camera = site.camera(truth["camera"])
    pipeline = CameraPipeline(site, camera, fps=9.0)
    for t, frame in read_frames(FALL_CLIP):
        alerts = pipeline.process(t, frame)
        if alerts:
            det = alerts[0].detection
            return {"snapshot": snapshot_b64(frame, camera, det), "kind": det.kind, "bbox": [max(0, int(v)) for v in det.bbox],
                    "confidence": round(float(det.confidence), 3), "frame_size": [frame.shape[1], frame.shape[0]],
                    "track_id": int(det.track_id)}
    pytest.fail("the detector found no fall in the fall fixture")


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory):
    """The edge's real evidence HTTP server (token required) over a directory the test puts clips in."""
    from quaywatch.config.edge import EvidenceConfig
    from quaywatch.edge.evidence import EvidenceStore
    from quaywatch.edge.evidence_http import EvidenceServer

    store = EvidenceStore(tmp_path_factory.mktemp("edge-evidence"), EvidenceConfig(http_port=0))
    server = EvidenceServer(store, "127.0.0.1", 0, EVIDENCE_TOKEN).start()
    server.dir = store.dir
    yield server
    server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    from tests.peers import Mosquitto

    b = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, broker, clip_server):
    """`quaywatch alerting --site FILE` (dry-run pager), which serves the control room at /controlroom/."""
    from quaywatch.controlroom.users import UserStore

    work = tmp_path_factory.mktemp("alerting")
    users_db = work / "users.db"
    store = UserStore(users_db)
    store.add("alice", "operator", PASSWORDS["alice"])
    store.add("bob", "operator", PASSWORDS["bob"])
    store.add("vera", "viewer", PASSWORDS["vera"])
    store.close()
    proc = AlertingProcess(work, broker.port, overrides={
        "controlroom": {"users_db": str(users_db), "login_attempts": 3, "login_window_s": 10, "stale_after_s": 30,
                        "evidence_servers": {"cam-1": clip_server.base_url}},
        "edge": {"evidence": {"token_env": EVIDENCE_TOKEN_ENV}},
    })
    os.environ["QUAYWATCH_ADMIN_PASSWORD"] = ADMIN_PASSWORD  # the first admin, as in production
    os.environ[EVIDENCE_TOKEN_ENV] = EVIDENCE_TOKEN
    try:
        proc.start()
    finally:
        os.environ.pop("QUAYWATCH_ADMIN_PASSWORD", None)
        os.environ.pop(EVIDENCE_TOKEN_ENV, None)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def publisher(broker):
    import paho.mqtt.client as paho

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="controlroom-test-edge")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()




def login(browser, service, user: str, password: str, viewport=(1600, 1000)):
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    # Anything of ours the Content-Security-Policy blocks would break the page for real: collect it.
    ctx.on("console", lambda m: CSP_VIOLATIONS.append(m.text) if "Content Security Policy" in m.text else None)
    page = ctx.new_page()
    page.goto(f"{service.url}/")  # the service's bare address opens the control room
    assert "/controlroom/login" in page.url  # every page needs a login
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}/controlroom/")
    return ctx, page


def wait_js(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JS expression with page.evaluate. Not wait_for_function with an expression string: Playwright
    evals that inside the page, which the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses
    once it has to poll (the arrow-function form, "() => ...", is not affected). The CSP stays on in tests."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {expression}")
        time.sleep(0.05)


def publish_event(client, event: dict) -> None:
    info = client.publish(f"quaywatch/{event['site']}/{event['camera']}/events", json.dumps(event), qos=1)
    info.wait_for_publish(5)


def fall_event(real_fall, clip_server=None) -> dict:
    """The fall as the edge would send it; the edge keeps its clip under the event's id (no clip without
    a `clip_server`, the edge's evidence server stand-in above)."""
    now = time.time()
    event_id = f"test-{uuid.uuid4()}"
    evidence = {"snapshot_jpeg_b64": real_fall["snapshot"]}
    if clip_server is not None:
        (clip_server.dir / f"{event_id}.mp4").write_bytes(FALL_CLIP.read_bytes())
        evidence["clip_url"] = clip_server.clip_url(event_id)
    return {
        "version": 1, "event_id": event_id, "kind": real_fall["kind"], "site": "demo-harbour",
        "camera": "cam-1", "time": utc_iso(now), "detected_time": utc_iso(now),
        "track_id": real_fall["track_id"], "bbox": real_fall["bbox"], "confidence": real_fall["confidence"],
        "frame_size": real_fall["frame_size"], "location": {"lat": 57.0502, "lon": 9.9217},
        "message": "water entry at Honnørkajen, looking west",
        "evidence": evidence,
    }


def test_login_refuses_a_wrong_password_and_throttles(browser, service):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    try:
        page.goto(f"{service.url}/controlroom/stats")
        assert "/controlroom/login" in page.url
        for _ in range(3):  # login_attempts: 3 for this site
            page.fill("input[name=user]", "vera")
            page.fill("input[name=password]", "not-her-password")
            page.click("button[type=submit]")
            assert page.locator(".error").inner_text() == "Forkert bruger eller adgangskode."
        # Throttled now: even the right password is refused until the window passes.
        page.fill("input[name=user]", "vera")
        page.fill("input[name=password]", PASSWORDS["vera"])
        page.click("button[type=submit]")
        message = page.locator(".error").inner_text()
        assert "For mange forsøg" in message
        page.screenshot(path=str(ARTIFACTS / "controlroom-login-throttled.png"))
        time.sleep(int(re.search(r"om (\d+) sekunder", message).group(1)) + 0.2)  # as the page says
        page.fill("input[name=user]", "vera")
        page.fill("input[name=password]", PASSWORDS["vera"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{service.url}/controlroom/stats")  # back where she was going
        assert page.locator("#stats").is_visible()
    finally:
        ctx.close()


def test_the_service_ignores_x_forwarded_for_from_a_peer_that_is_no_trusted_proxy(service):
    """X-Forwarded-For sent from 127.0.0.1 once reset the throttle (uvicorn believed it from loopback)."""
    with httpx.Client(base_url=service.url, follow_redirects=False) as c:
        def attempt(i: int) -> int:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/controlroom/login").text).group(1)
            return c.post("/controlroom/login", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                          data={"user": "xff-guesser", "password": f"guess-{i}", "csrf": token}).status_code

        assert [attempt(i) for i in range(4)] == [401, 401, 401, 429]  # login_attempts: 3 for this site


def test_a_fall_on_the_broker_appears_live_alarms_and_ack_updates_every_page(
        browser, service, publisher, real_fall, clip_server):
    ctx_a, alice = login(browser, service, "alice", PASSWORDS["alice"])
    ctx_b, bob = login(browser, service, "bob", PASSWORDS["bob"])
    ctx_p, phone = login(browser, service, "vera", PASSWORDS["vera"], viewport=(390, 844))
    try:
        for page in (alice, bob, phone):  # each page has its live stream open before the fall
            wait_js(page, "window.quaywatch && window.quaywatch.events && window.quaywatch.events.readyState === 1")
        event = fall_event(real_fall, clip_server)
        publish_event(publisher, event)

        card = "article.alert.needs-ack"
        for page in (alice, bob, phone):
            page.wait_for_selector(card, timeout=10_000)
        alert_id = alice.locator(card).first.get_attribute("data-id")
        latency = [p.evaluate("window.quaywatch.pushLatency") for p in (alice, bob, phone)]
        print(f"\npush latency, event time -> page (ms), alice/bob/phone: {[got[0]['ms'] for got in latency if got]}")

        # The evidence: the snapshot decoded in the browser, camera name, local time, map spot, who was paged.
        snap = alice.locator(f'article[data-id="{alert_id}"] .frame img')
        snap.wait_for()
        wait_js(alice, f"(() => {{ const i = document.querySelector('article[data-id=\"{alert_id}\"] .frame img'); "
                       "return i.complete && i.naturalWidth > 0; })()")
        assert alice.locator(f'article[data-id="{alert_id}"] .where').inner_text() == "Honnørkajen, looking west"
        local = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).astimezone(
            __import__("zoneinfo").ZoneInfo("Europe/Copenhagen")).strftime("%H:%M:%S")
        assert local in alice.locator(f'article[data-id="{alert_id}"] .when').inner_text()
        alice.wait_for_selector(f'article[data-id="{alert_id}"] .map path.fall-spot')
        alice.wait_for_selector(f'article[data-id="{alert_id}"] table.pages tbody tr')
        paged = alice.locator(f'article[data-id="{alert_id}"] table.pages').inner_text()
        assert "Demo police dispatch" in paged and "Demo rescue" in paged

        # Twilio reports the police page delivered (a signed status callback): every page shows it live.
        inc = httpx.get(f"{service.url}/api/incidents/{alert_id}").json()
        police = next(m for m in inc["messages"] if m["person"] == "Demo police dispatch")
        status_callback(service, police, "delivered")
        for page in (alice, bob):
            page.wait_for_selector(f'article[data-id="{alert_id}"] td.status-delivered', timeout=5000)

        # The alarm: the banner and the beep loop, on every page, until someone acknowledges.
        for page in (alice, bob, phone):
            assert page.locator("#banner").is_visible()
            assert "DRUKNEALARM" in page.locator("#banner").inner_text()
            wait_js(page, "window.quaywatch.alarm.audible && window.quaywatch.alarm.beeps > 0")
        alice.screenshot(path=str(ARTIFACTS / "controlroom-alert.png"))
        phone.screenshot(path=str(ARTIFACTS / "controlroom-alert-phone.png"), full_page=True)

        # A viewer sees no buttons; an operator acknowledges; every open page follows without a reload.
        assert phone.locator(f'article[data-id="{alert_id}"] button[data-act=ack]').count() == 0
        alice.click(f'article[data-id="{alert_id}"] button[data-act=ack]')
        for page in (alice, bob, phone):
            page.wait_for_selector(f'article[data-id="{alert_id}"] .badge.acknowledged', timeout=5000)
            wait_js(page, "!window.quaywatch.alarm.playing")
            assert page.locator("#banner").is_hidden()
        assert "alice" in bob.locator(f'article[data-id="{alert_id}"]').inner_text()
        bob.screenshot(path=str(ARTIFACTS / "controlroom-acknowledged.png"))

        # Through the alerting lifecycle: audited with the operator's name, escalation stopped.
        inc = httpx.get(f"{service.url}/api/incidents/{alert_id}").json()
        assert inc["state"] == "acknowledged" and inc["acked_by"] == "alice"
        assert inc["next_due_at"] is None
        assert any(t["actor"] == "alice (control room)" and t["to_state"] == "acknowledged" for t in inc["transitions"])

        # A note from alice reaches bob's page (in the card's audit trail) without a reload.
        card_a = alice.locator(f'article[data-id="{alert_id}"]')
        card_a.locator("textarea.note").fill("vagtbåd sendt")
        card_a.locator("button[data-act=note]").click()
        wait_js(bob, f"document.querySelector('article[data-id=\"{alert_id}\"] .audit').textContent"
                     ".includes('alice (kontrolrum) · kvitteret → kvitteret · vagtbåd sendt')")

        # Bob closes it as a false alarm with a note; it leaves the open list on every page.
        card_b = bob.locator(f'article[data-id="{alert_id}"]')
        card_b.locator("select.outcome").select_option("false_alarm")
        card_b.locator("textarea.note").fill("måge på kajkanten")
        card_b.locator("button[data-act=close]").click()
        for page in (alice, bob):
            page.wait_for_selector(f'#history tr[data-id="{alert_id}"]', timeout=5000)
            assert page.locator(f'article[data-id="{alert_id}"]').count() == 0
        inc = httpx.get(f"{service.url}/api/incidents/{alert_id}").json()
        assert inc["state"] == "closed" and inc["closed_as"] == "false_alarm"
        assert any(t["actor"] == "bob (control room)" and "måge på kajkanten" in (t["note"] or "")
                   for t in inc["transitions"])

        # The false alarm becomes a test: clip + ground truth with no events, valid for recordings_fixtures/.
        with bob.expect_download() as dl:
            bob.click(f'#history tr[data-id="{alert_id}"] a')
        data = Path(dl.value.path()).read_bytes()
        check_fixture_zip(data, FALL_CLIP.read_bytes())
        assert CSP_VIOLATIONS == []
    finally:
        for c in (ctx_a, ctx_b, ctx_p):
            c.close()


def status_callback(service, message: dict, status: str) -> None:
    from urllib.parse import quote

    from twilio.request_validator import RequestValidator

    query = f"m={quote(message['id'], safe='')}"
    form = {"MessageSid": message["provider_sid"] or "SM0", "MessageStatus": status}
    signature = RequestValidator(AlertingProcess.TOKEN).compute_signature(
        f"{service.site['alerting']['twilio']['public_url']}/twilio/status?{query}", form)
    resp = httpx.post(f"{service.url}/twilio/status?{query}", data=form, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 204, resp.text


def check_fixture_zip(data: bytes, clip: bytes) -> None:
    from quaywatch.config.recording import GroundTruth

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = sorted(z.namelist())
        assert len(names) == 2 and names[0].endswith(".json") and names[1].endswith(".mp4")
        assert names[0][:-5] == names[1][:-4]  # <stem>.json beside <stem>.mp4
        truth = GroundTruth.model_validate_json(z.read(names[0]))
        assert truth.events == [] and truth.camera == "cam-1" and "false_alarm" in truth.tags
        assert z.read(names[1]) == clip


def status(state: str, camera: str, fps: float, age: float | None, reason: str = "") -> bytes:
    payload = {"version": 1, "site": "demo-harbour", "camera": camera, "state": state, "time": utc_iso(time.time()),
               "fps": fps, "last_frame_age_s": age}
    if reason:
        payload["reason"] = reason
    return json.dumps(payload).encode()


def test_health_grid_follows_camera_status_and_live_view_shows_frames(browser, service, publisher, real_fall):
    for cam in ("cam-1", "cam-2"):
        publisher.publish(f"quaywatch/demo-harbour/{cam}/status", status("online", cam, 9.0, 0.1),
                          qos=1, retain=True).wait_for_publish(5)
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"])
    try:
        page.goto(f"{service.url}/controlroom/cameras")
        page.wait_for_selector('.cam-tile[data-camera="cam-2"][data-state="online"]')
        assert page.locator('.cam-tile[data-camera="cam-1"][data-state="online"]').count() == 1
        # The edge says cam-2 went dark: the grid changes without a reload.
        publisher.publish("quaywatch/demo-harbour/cam-2/status",
                          status("offline", "cam-2", 0.0, 42.0, "no frames for 42 s"), qos=1,
                          retain=True).wait_for_publish(5)
        page.wait_for_selector('.cam-tile[data-camera="cam-2"][data-state="offline"]', timeout=5000)
        assert "ingen billeder fra kameraet" in page.locator('.cam-tile[data-camera="cam-2"]').inner_text()
        assert page.locator('.cam-tile[data-camera="cam-1"][data-state="online"]').count() == 1
        page.screenshot(path=str(ARTIFACTS / "controlroom-health.png"))

        # The edge's camera_offline event: an amber banner and a soft tone, not the drowning alarm.
        now = time.time()
        publish_event(publisher, {"version": 1, "event_id": f"test-{uuid.uuid4()}", "kind": "camera_offline",
                                  "site": "demo-harbour", "camera": "cam-2", "time": utc_iso(now),
                                  "message": "no frames for 42 s"})
        alerts = ctx.new_page()
        alerts.goto(f"{service.url}/controlroom/")
        alerts.wait_for_selector("#banner.camera", timeout=10_000)
        assert "KAMERA OFFLINE" in alerts.locator("#banner").inner_text()
        wait_js(alerts, "window.quaywatch.alarm.playing && window.quaywatch.alarm.mode === 'camera'")
        alerts.click("article.alert.needs-ack button[data-act=ack]")
        wait_js(alerts, "!window.quaywatch.alarm.playing")
        alerts.close()

        # Live view: it opens on the camera's last evidence snapshot, then shows the edge's preview frames
        # (here half size, so the test can tell them apart) as they arrive, as MJPEG.
        import cv2
        import numpy as np

        full = cv2.imdecode(np.frombuffer(base64.b64decode(real_fall["snapshot"]), np.uint8), cv2.IMREAD_COLOR)
        width = real_fall["frame_size"][0] // 2
        preview = cv2.imencode(".jpg", cv2.resize(full, (width, full.shape[0] // 2)))[1].tobytes()
        page.click('.cam-tile[data-camera="cam-1"] button[data-live]')
        size = "document.querySelector('#liveview img').naturalWidth"
        wait_js(page, f"{size} === {real_fall['frame_size'][0]}")  # the snapshot of the fall
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and page.evaluate(size) != width:
            publisher.publish("quaywatch/demo-harbour/cam-1/preview", preview, qos=0)
            time.sleep(0.2)
        assert page.evaluate(size) == width
        assert page.locator("#liveview img").is_visible()
        page.screenshot(path=str(ARTIFACTS / "controlroom-liveview.png"))
    finally:
        ctx.close()


def test_statistics_page_renders_with_chart_and_csv(browser, service):
    ctx, page = login(browser, service, "vera", PASSWORDS["vera"])
    try:
        page.goto(f"{service.url}/controlroom/stats?lang=en")
        month = datetime.now(__import__("zoneinfo").ZoneInfo("Europe/Copenhagen")).strftime("%Y-%m")
        row = page.locator("#stats tbody tr").first
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == month
        assert int(cells[1]) >= 1 and int(cells[3]) >= 1  # the fall above, closed as a false alarm
        assert cells[7].endswith(" s") and cells[8].endswith(" s")  # its page delivery and acknowledgement
        bars = page.evaluate("[...document.querySelectorAll('svg.chart rect title')].map(t => t.textContent)")
        assert f"Alerts {month}: {cells[1]}" in bars and f"False alarms {month}: {cells[3]}" in bars
        assert "False alarms per camera-hour" in page.locator("#stats thead").inner_text()
        page.screenshot(path=str(ARTIFACTS / "controlroom-stats.png"), full_page=True)
        with page.expect_download() as dl:
            page.click("a[href$='stats.csv']")
        lines = Path(dl.value.path()).read_text().splitlines()
        assert lines[0].startswith("site,month,alerts,real_incidents,false_alarms")
        assert any(line.startswith(f"demo-harbour,{month},") for line in lines[1:])
    finally:
        ctx.close()


def test_an_old_event_is_shown_as_late_on_the_camera_page_and_never_alarms(browser, service, publisher):
    """A replayed or long-delayed event (frame time years ago) is stored and listed as late, never paged."""
    event_id = f"test-late-{uuid.uuid4()}"
    publish_event(publisher, {"version": 1, "event_id": event_id, "kind": "water_entry", "site": "demo-harbour",
                              "camera": "cam-1", "time": "2001-09-09T01:46:40Z", "confidence": 0.9})
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"])
    try:
        page.goto(f"{service.url}/controlroom/cameras")
        page.wait_for_selector(f'#late-events li[data-event="{event_id}"]', timeout=15_000)
        text = page.locator(f'#late-events li[data-event="{event_id}"]').inner_text()
        assert "2001-09-09" in text and "cam-1" in text, text
        assert page.locator("#service-problems").is_hidden()  # nothing wrong with the service itself
        page.screenshot(path=str(ARTIFACTS / "controlroom-late-events.png"))
        import httpx

        opened = httpx.get(f"{service.url}/api/incidents", timeout=10).json()
        assert [i["id"] for i in opened if i["first_time"] == 1_000_000_000.0] == []  # it opened no alert
    finally:
        ctx.close()
