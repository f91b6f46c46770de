"""The control-room page as an operator at 3 a.m. uses it, in headless Chromium against the real alerting
service (dry-run pager) and Mosquitto: the newest waiting alarm on top and in view, a banner that links to
it and covers nothing, evidence readable at a glance (the person zoomed, the clip in place with the box),
the harbour map with the fall's spot, honest camera health, the audit trail in Danish, and an alerting
process that stops at once on Ctrl-C with a page open.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.peers import ARTIFACTS, AlertingProcess
from tests.test_controlroom_browser import (  # noqa: F401 - fixtures, shared with the other browser tests
    EVIDENCE_TOKEN,
    EVIDENCE_TOKEN_ENV,
    PASSWORDS,
    broker,
    clip_server,
    fall_event,
    login,
    publish_event,
    publisher,
    real_fall,
    status,
    utc_iso,
    wait_js,
)

HD = (1920, 1080)
CAM1 = (57.0502, 9.9217)          # cam-1's own position in demo.yaml: what the edge sends today
IN_THE_WATER = (57.05075, 9.92105)  # a spot in the Limfjord north-west of cam-1, as a calibration would give


@pytest.fixture(scope="module")
def service(tmp_path_factory, broker, clip_server):  # noqa: F811
    """Every event its own incident (no 30 s grouping), so a burst gives a burst of alarms. The clip relay
    fetches only from cam-1's configured evidence server (the edge's real one, token required)."""
    from quaywatch.controlroom.users import UserStore

    work = tmp_path_factory.mktemp("alerting-operator")
    users_db = work / "users.db"
    store = UserStore(users_db)
    store.add("alice", "operator", PASSWORDS["alice"])
    store.close()
    proc = AlertingProcess(work, broker.port, overrides={
        "alerting": {"grouping_window_s": 0},
        "controlroom": {"users_db": str(users_db), "stale_after_s": 30,
                        "evidence_servers": {"cam-1": clip_server.base_url}},
        "edge": {"evidence": {"token_env": EVIDENCE_TOKEN_ENV}},
    })
    os.environ[EVIDENCE_TOKEN_ENV] = EVIDENCE_TOKEN
    try:
        proc.start()
    finally:
        os.environ.pop(EVIDENCE_TOKEN_ENV, None)
    yield proc
    proc.stop()


def water_event(real_fall, clip_server=None, t: float | None = None,  # noqa: F811
                where: tuple[float, float] = CAM1, snapshot: str | None = None, bbox: list | None = None) -> dict:
    """A fall at time t and position `where`; with the fall clip on `clip_server` (the edge's evidence
    server, which the relay fetches from by event id) when one is given, else without a clip."""
    ev = fall_event(real_fall, clip_server)
    t = time.time() if t is None else t
    ev["time"] = ev["detected_time"] = utc_iso(t)
    ev["location"] = {"lat": where[0], "lon": where[1]}
    if snapshot is not None:
        ev["evidence"]["snapshot_jpeg_b64"] = snapshot
    if bbox is not None:
        ev["bbox"] = bbox
    return ev


def alert_id_at(page, t: float) -> str:
    """The id of the page's alert whose event time is t (to the millisecond the event carries)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = page.evaluate(f"[...window.quaywatch.alerts.values()].filter(a => Math.abs(a.time - {t}) < 0.002)"
                            ".map(a => a.id)")
        if ids:
            return ids[0]
        time.sleep(0.05)
    raise AssertionError(f"no alert at {t} on the page")


def in_viewport(page, selector: str) -> bool:
    return page.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; }""",
                         selector)


def uncovered(page, selector: str) -> bool:
    """What the operator would click at the button's centre is the button itself, not the banner."""
    return page.evaluate("""(sel) => { const b = document.querySelector(sel); const r = b.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return hit === b || b.contains(hit); }""", selector)


def card(alert_id: str) -> str:
    return f'article.alert[data-id="{alert_id}"]'


def test_burst_of_alarms_newest_waiting_on_top_in_view_and_the_banner_leads_to_it(
        browser, service, publisher, real_fall):  # noqa: F811
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    try:
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        t0 = round(time.time(), 3)
        # The first alarm's frame is newer than two of the burst's: acknowledged, it still goes below them.
        publish_event(publisher, water_event(real_fall, t=t0 + 2.5))
        first = alert_id_at(page, t0 + 2.5)
        page.wait_for_selector(f"{card(first)}.needs-ack")

        # A burst of three while alice acknowledges the first.
        times = [t0 + 1, t0 + 2, t0 + 3]
        for t in times:
            publisher.publish("quaywatch/demo-harbour/cam-1/events",
                              json.dumps(water_event(real_fall, t=t)), qos=1)
        page.click(f"{card(first)} button[data-act=ack]")
        burst = [alert_id_at(page, t) for t in times]
        page.wait_for_selector(f"{card(first)} .badge.acknowledged")
        expected = [burst[2], burst[1], burst[0], first]   # waiting newest first, then the acknowledged
        wait_js(page, f"JSON.stringify(window.quaywatch.order().slice(0, 4)) === '{json.dumps(expected, separators=(',', ':'))}'")

        newest = card(burst[2])
        assert in_viewport(page, f"{newest} header"), "the newest waiting alarm is not on screen at 1080p"
        assert in_viewport(page, f"{newest} button.ack") and uncovered(page, f"{newest} button.ack")
        assert page.get_attribute("#banner a.banner-text", "href") == f"#alert-{burst[2]}"
        page.screenshot(path=str(ARTIFACTS / "controlroom-burst.png"))

        # Scrolled away (to the history), the banner brings the operator back, the button clear of it.
        page.evaluate("document.getElementById('scroller').scrollTop = 1e6")
        assert not in_viewport(page, f"{newest} button.ack")
        page.click("#banner a.banner-text")
        wait_js(page, f"(() => {{ const r = document.querySelector('{newest} header').getBoundingClientRect(); "
                      "return r.top >= 0 && r.bottom <= window.innerHeight; })()")
        assert uncovered(page, f"{newest} button.ack") and uncovered(page, f"{newest} header .what")

        # Scrolled away again, a new alarm comes into view by itself.
        page.evaluate("document.getElementById('scroller').scrollTop = 1e6")
        t4 = t0 + 4
        publish_event(publisher, water_event(real_fall, t=t4))
        fifth = alert_id_at(page, t4)
        wait_js(page, f"(() => {{ const r = document.querySelector('{card(fifth)} header').getBoundingClientRect(); "
                      "return r.top >= 0 && r.bottom <= window.innerHeight; })()")
        assert uncovered(page, f"{card(fifth)} button.ack")

        # A fresh load shows the same order as the pushed cards did.
        page.reload()
        wait_js(page, "window.quaywatch.order && window.quaywatch.order().length >= 5")
        order = page.evaluate("window.quaywatch.order()")
        assert order[:5] == [fifth, *expected], order
        assert in_viewport(page, f"{card(fifth)} button.ack")

        # The audit trail in the page's language (Danish here), not the service's English.
        page.click(f"{card(first)} details summary")
        trail = page.locator(f"{card(first)} .audit").inner_text()
        assert "alice (kontrolrum) · " in trail and " → kvitteret · kvitteret på kontrolrumssiden" in trail, trail
        assert "eskalering · ny → kaldt" in trail and "faldt i vandet på cam-1" in trail
        assert "trin 1/3, runde 1: SMS til police, rescue: 2 sendt, 0 fejlet" in trail
        assert "acknowledged" not in trail and "control room" not in trail and "escalation" not in trail
    finally:
        ctx.close()


def synthetic_snapshot(bbox: list[int], size=(384, 288)) -> str:
    """A dim frame with one bright box exactly at bbox: where it lands in the crop is measurable."""
    import cv2
    import numpy as np

    img = np.full((size[1], size[0], 3), 50, np.uint8)
    x, y, w, h = bbox
    img[y:y + h, x:x + w] = 255
    return base64.b64encode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()).decode()


def test_evidence_crop_zoomed_on_the_person_and_the_clip_plays_in_place_with_the_box(
        browser, service, publisher, real_fall, clip_server):  # noqa: F811
    bbox = [150, 200, 12, 18]
    t = round(time.time(), 3)
    ev = water_event(real_fall, clip_server, t=t, snapshot=synthetic_snapshot(bbox), bbox=bbox)
    ev["frame_size"] = [384, 288]
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    try:
        page.emulate_media(reduced_motion="reduce")  # the banner's flash off: its colours are checked below
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        publish_event(publisher, ev)
        c = card(alert_id_at(page, t))
        page.wait_for_selector(f"{c} .crop img")
        wait_js(page, f"(() => {{ const i = document.querySelector('{c} .crop img'); return i.complete && i.naturalWidth > 0; }})()")
        # The bright box measured in the crop's own pixels, as the browser decoded it.
        got = page.evaluate("""(sel) => { const img = document.querySelector(sel);
            const cv = document.createElement('canvas'); cv.width = img.naturalWidth; cv.height = img.naturalHeight;
            const g = cv.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, cv.width, cv.height).data;
            let x0 = 1e9, y0 = 1e9, x1 = -1, y1 = -1;
            for (let y = 0; y < cv.height; y++) for (let x = 0; x < cv.width; x++) {
              if (d[(y * cv.width + x) * 4] > 160) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); } }
            return {w: cv.width, h: cv.height, x0, y0, x1, y1}; }""", f"{c} .crop img")
        box_w, box_h = got["x1"] - got["x0"] + 1, got["y1"] - got["y0"] + 1
        assert 4 <= box_w / bbox[2] <= 8.5 and 4 <= box_h / bbox[3] <= 8.5, got
        assert abs((got["x0"] + got["x1"]) / 2 - got["w"] / 2) <= 8 and abs((got["y0"] + got["y1"]) / 2 - got["h"] / 2) <= 8
        # Beside the full frame, on screen at the same height.
        crop_box = page.locator(f"{c} .crop img").bounding_box()
        frame_box = page.locator(f"{c} .frame img").bounding_box()
        assert abs(crop_box["y"] - frame_box["y"]) < 2 and crop_box["x"] + crop_box["width"] <= frame_box["x"]

        # The clip plays in the card (no new tab), muted, with the entry box drawn over it by the page.
        video = f"{c} .clip video"
        assert page.locator(f"{c} a[target=_blank]").count() == 0
        page.evaluate("(sel) => document.querySelector(sel).play()", video)
        wait_js(page, f"(() => {{ const v = document.querySelector('{video}'); "
                      "return v.readyState >= 2 && v.error === null && v.currentTime > 0.2; })()", timeout=20)
        assert page.evaluate(f"document.querySelector('{video}').muted")
        v = page.locator(video).bounding_box()
        b = page.locator(f"{c} .clip .bbox").bounding_box()
        assert b["x"] - v["x"] == pytest.approx(v["width"] * bbox[0] / 384, abs=3)
        assert b["y"] - v["y"] == pytest.approx(v["height"] * bbox[1] / 288, abs=3)
        assert b["width"] == pytest.approx(max(6, v["width"] * bbox[2] / 384), abs=3)

        # Plain words, and every label readable (contrast >= 4.5:1), the banner's flash colour too.
        assert page.locator(f"{c} header .what").inner_text() == "faldt i vandet"
        assert "faldt i vandet" in page.locator("#banner").inner_text()
        ratios = page.evaluate(CONTRAST_JS, [f"{c} header .what", f"{c} .badge", "#banner a.banner-text",
                                             f"{c} button.ack", f"{c} .clip .bbox span", f"{c} .map .position"])
        assert all(r >= 4.5 for r in ratios.values()), ratios
        flash = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--alarm-2')")
        assert page.evaluate(f"(() => {{ {CONTRAST_FN}; return contrast('rgb(255,255,255)', hexToRgb('{flash.strip()}')); }})()") >= 4.5
        page.screenshot(path=str(ARTIFACTS / "controlroom-evidence.png"))
    finally:
        ctx.close()


def test_the_clips_box_follows_the_person_frame_by_frame_from_the_edges_boxes(
        browser, service, publisher, real_fall, clip_server):  # noqa: F811
    """The clip is the camera's own stream; beside it the edge keeps the alert's box on each frame
    (`<id>.boxes.json`). The page moves the box with the video, hides it between the person's frames, and says
    "went in here" only around the entry. Boxes that are not boxes are refused by the relay."""
    t = round(time.time(), 3)
    ev = water_event(real_fall, clip_server, t=t)
    ev["frame_size"] = [384, 288]
    # Every 0.2 s from 0.4 to 2.0 s he moves 10 px right and 5 px down: x = 100 + 50 s, y = 60 + 25 s.
    boxes = [[round(s, 1), round(100 + 50 * s), round(60 + 25 * s), 14, 28] for s in [0.4 + 0.2 * k for k in range(9)]]
    (clip_server.dir / f"{ev['event_id']}.boxes.json").write_text(
        json.dumps({"version": 1, "frame_size": [384, 288], "entry_t": 1.6, "boxes": boxes}))
    bad = water_event(real_fall, clip_server, t=t + 0.5)
    (clip_server.dir / f"{bad['event_id']}.boxes.json").write_text(
        '{"version": 1, "frame_size": [384, 288], "entry_t": 1, "boxes": [[0.1, "<script>", 1, 2, 3]]}')
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    try:
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        publish_event(publisher, ev)
        publish_event(publisher, bad)
        c, c_bad = card(alert_id_at(page, t)), card(alert_id_at(page, t + 0.5))
        video, box = f"{c} .clip video", f"{c} .clip .bbox"
        wait_js(page, f"document.querySelector('{video}').dataset.boxes === '9'")
        wait_js(page, f"document.querySelector('{video}').readyState >= 2", timeout=20)

        def at(seconds: float) -> dict:
            page.evaluate("([sel, s]) => { const v = document.querySelector(sel); v.pause(); v.currentTime = s; }",
                          [video, seconds])
            wait_js(page, f"(() => {{ const v = document.querySelector('{video}'); "
                          f"return !v.seeking && Math.abs(v.currentTime - {seconds}) < 0.01; }})()")
            page.wait_for_timeout(100)
            v, b = page.locator(video).bounding_box(), page.locator(box).bounding_box()
            return {"x": (b["x"] - v["x"]) * 384 / v["width"], "y": (b["y"] - v["y"]) * 288 / v["height"],
                    "shown": page.evaluate(f"getComputedStyle(document.querySelector('{box}')).visibility") == "visible",
                    "label": page.locator(f"{box} span").is_visible()}

        early, entry, late, after = at(0.6), at(1.6), at(2.0), at(3.5)
        assert early["shown"] and early["x"] == pytest.approx(130, abs=3) and early["y"] == pytest.approx(75, abs=3)
        assert not early["label"]                          # not yet in: no "went in here"
        assert entry["shown"] and entry["x"] == pytest.approx(180, abs=3) and entry["label"]
        assert late["x"] == pytest.approx(200, abs=3) and late["y"] == pytest.approx(110, abs=3)
        assert not after["shown"]                          # 1.5 s past his last frame: no box on nobody
        # The malformed boxes: refused by the relay (named, no echo of what was sent); the entry box stays.
        bad_url = page.evaluate(f"document.querySelector('{c_bad}').dataset.id")
        got = page.request.get(f"{service.url}/controlroom/alerts/{bad_url}/boxes.json")
        assert got.status == 502 and "boxes.0.1" in got.text() and "script" not in got.text()
        wait_js(page, f"document.querySelector('{c_bad} .clip video').dataset.boxes === 'none'")
        assert page.locator(f"{c_bad} .clip .bbox[data-follow]").count() == 0
        assert page.locator(f"{c_bad} .clip .bbox span").is_visible()
    finally:
        ctx.close()


CONTRAST_FN = """
function lum(rgb) { const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => { v /= 255;
  return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
function contrast(a, b) { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); }
function hexToRgb(h) { const n = parseInt(h.replace('#', ''), 16); return `rgb(${n >> 16},${(n >> 8) & 255},${n & 255})`; }
function background(el) { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
  const alpha = c.startsWith('rgba') ? Number(c.match(/[\\d.]+/g)[3]) : 1; if (alpha > 0.5) return c; } return 'rgb(255,255,255)'; }
"""
CONTRAST_JS = "(sels) => {" + CONTRAST_FN + """
  const out = {}; for (const s of sels) { const el = document.querySelector(s); if (!el) { out[s] = 0; continue; }
    out[s] = Math.round(contrast(getComputedStyle(el).color, background(el)) * 100) / 100; } return out; }"""


def test_an_alarm_pushed_while_the_page_reloads_its_list_stays_on_the_page(
        browser, service, publisher, real_fall):  # noqa: F811
    """A reconnect reloads the whole list. When a new alarm is pushed while that reload is in flight, the
    list the server answers was read before the alarm existed: it must not wipe the alarm off the screen."""
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    try:
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        held = []
        page.route(re.compile(r".*/api/alerts$"), lambda route: held.append((route, route.fetch())))
        page.evaluate("() => { window.reloading = loadAlerts(); }")   # as the stream's hello does
        deadline = time.monotonic() + 10
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        assert held, "the page did not ask for its list"
        t = round(time.time(), 3)
        publish_event(publisher, water_event(real_fall, t=t))
        pushed = alert_id_at(page, t)                 # it came by the stream
        route, stale = held[0]
        route.fulfill(response=stale)                 # the list from before it existed
        page.evaluate("window.reloading")
        assert page.evaluate(f"window.quaywatch.alerts.has({json.dumps(pushed)})")
        page.wait_for_selector(f"{card(pushed)}.needs-ack")
    finally:
        ctx.close()


def test_the_map_draws_the_quays_the_cones_and_the_falls_spot(browser, service, publisher, real_fall):  # noqa: F811
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    page.on("response", lambda r: print("NOTFOUND", r.url) if r.status == 404 else None)
    try:
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        t1, t2 = round(time.time(), 3), round(time.time() + 0.5, 3)
        publish_event(publisher, water_event(real_fall, t=t1, where=IN_THE_WATER))  # projected to the ground
        publish_event(publisher, water_event(real_fall, t=t2, where=CAM1))          # the camera's own position
        ground, at_cam = alert_id_at(page, t1), alert_id_at(page, t2)
        for a in (ground, at_cam):
            page.wait_for_selector(f"{card(a)} .leaflet-box path.fall-spot")
            # The harbour from the site's GeoJSON (no tiles: nothing but our own paths), both cameras' cones.
            assert page.locator(f"{card(a)} path.harbour-water").count() == 1
            assert page.locator(f"{card(a)} path.harbour-quay").count() == 2
            assert page.locator(f"{card(a)} path.harbour-bridge").count() == 1
            assert page.locator(f"{card(a)} path.view-cone").count() == 2
            assert page.locator(f"{card(a)} .leaflet-tile").count() == 0
        # The spot is drawn where the event says the person is, and it lies on the water.
        for a, (lat, lon) in ((ground, IN_THE_WATER), (at_cam, CAM1)):
            drawn = page.evaluate("""([id, lat, lon]) => { const m = window.quaywatch.maps.get(id);
                const p = m.latLngToContainerPoint([lat, lon]); const box = m.getContainer().getBoundingClientRect();
                const r = document.querySelector(`article[data-id="${id}"] path.fall-spot`).getBoundingClientRect();
                return [r.left + r.width / 2 - box.left - p.x, r.top + r.height / 2 - box.top - p.y,
                        p.x > 0 && p.y > 0 && p.x < box.width && p.y < box.height]; }""", [a, lat, lon])
            assert abs(drawn[0]) < 2 and abs(drawn[1]) < 2 and drawn[2], drawn
        assert "Personens position: 57.05075, 9.92105" in page.locator(f"{card(ground)} .map .position").inner_text()
        # At the camera's position the map says how unsure it is: a circle of the camera's range (120 m).
        assert page.locator(f"{card(at_cam)} path.fall-area").count() == 1
        assert page.locator(f"{card(ground)} path.fall-area").count() == 0
        assert "inden for ca. 120 m" in page.locator(f"{card(at_cam)} .map .position").inner_text()
        page.locator(f"{card(ground)} .map").screenshot(path=str(ARTIFACTS / "controlroom-map.png"))
    finally:
        ctx.close()


def test_an_offline_camera_says_when_it_was_last_seen_in_words_with_no_frame_rate(
        browser, service, publisher):  # noqa: F811
    publisher.publish("quaywatch/demo-harbour/cam-1/status", status("online", "cam-1", 9.0, 0.1),
                      qos=1, retain=True).wait_for_publish(5)
    raw = "rtsp://192.0.2.10:554/stream: Connect call failed ('192.0.2.10', 554)"
    publisher.publish("quaywatch/demo-harbour/cam-2/status", status("offline", "cam-2", 9.1, 185.0, raw),
                      qos=1, retain=True).wait_for_publish(5)
    ctx, page = login(browser, service, "alice", PASSWORDS["alice"], viewport=HD)
    try:
        page.goto(f"{service.url}/controlroom/cameras")
        tile = page.locator('.cam-tile[data-camera="cam-2"][data-state="offline"]')
        tile.wait_for()
        text = tile.inner_text()
        assert "Sidst set" in text and "for 3 min siden" in text, text
        assert "kameraet svarer ikke" in text
        assert "9.1" not in text and "billeder/s" not in text          # no frame rate when offline
        assert "Connect call failed" not in text and "192.0.2.10" not in text   # never the raw exception
        online = page.locator('.cam-tile[data-camera="cam-1"]').inner_text()
        assert "9" in online and "billeder/s" in online
        page.goto(f"{service.url}/controlroom/cameras?lang=en")
        text = page.locator('.cam-tile[data-camera="cam-2"]').inner_text()
        assert "the camera does not answer" in text and "3 min ago" in text
        page.screenshot(path=str(ARTIFACTS / "controlroom-health-offline.png"))
    finally:
        ctx.close()


def test_ctrl_c_with_a_page_open_stops_alerting_at_once(browser, broker, tmp_path):  # noqa: F811
    from quaywatch.controlroom.users import UserStore

    users_db = tmp_path / "users.db"
    store = UserStore(users_db)
    store.add("alice", "operator", PASSWORDS["alice"])
    store.close()
    proc = AlertingProcess(tmp_path, broker.port, overrides={"controlroom": {"users_db": str(users_db)}}).start()
    ctx = None
    try:
        ctx, page = login(browser, proc, "alice", PASSWORDS["alice"])
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")  # the live stream
        page.goto(f"{proc.url}/controlroom/cameras")   # and a second page kind with its own stream
        wait_js(page, "window.quaywatch.events && window.quaywatch.events.readyState === 1")
        proc.process.signal(signal.SIGINT)
        # The demo's supervisor kills what has not stopped 8 s after the signal; alerting must be done first.
        try:
            code = proc.process.proc.wait(7.5)
        except subprocess.TimeoutExpired:
            pytest.fail("alerting still runs 7.5 s after SIGINT with a page open")
        assert code == 0, proc.process.output()[-2000:]
    finally:
        if ctx is not None:
            ctx.close()
        proc.stop()

