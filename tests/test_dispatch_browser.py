"""The SMS's evidence link on a phone, and maintenance windows on the page, in real headless Chromium against
`quaywatch alerting` (dry-run pager) and Mosquitto (issue 14).

The link works without a login at phone width, shows its incident (kind, time, position, snapshot, clip) and
nothing else, acknowledges for the agency it was sent to, and is refused when expired or tampered with.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid

import httpx
import pytest

from tests.peers import ARTIFACTS, AlertingProcess, wait_until
from tests.test_controlroom_browser import (  # noqa: F401 - fixtures shared with the control-room tests
    EVIDENCE_TOKEN,
    EVIDENCE_TOKEN_ENV,
    FALL_CLIP,
    broker,
    clip_server,
    publish_event,
    publisher,
    utc_iso,
)

LINK_SECRET = "phone-link-test-secret-not-real"
ADMIN_PASSWORD = "admin-password-1"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def service(tmp_path_factory, broker, clip_server):  # noqa: F811
    work = tmp_path_factory.mktemp("alerting")
    # No grouping: each test's events open their own incidents, whatever the one before left open.
    # Clips come only from cam-1's configured evidence server (the edge's real one, token required).
    proc = AlertingProcess(work, broker.port, overrides={
        "controlroom": {"users_db": str(work / "users.db"), "evidence_servers": {"cam-1": clip_server.base_url}},
        "edge": {"evidence": {"token_env": EVIDENCE_TOKEN_ENV}},
        "alerting": {"grouping_window_s": 0}})
    os.environ["QUAYWATCH_LINK_SECRET"] = LINK_SECRET
    os.environ["QUAYWATCH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    os.environ[EVIDENCE_TOKEN_ENV] = EVIDENCE_TOKEN
    try:
        proc.start()
    finally:
        os.environ.pop("QUAYWATCH_LINK_SECRET", None)
        os.environ.pop("QUAYWATCH_ADMIN_PASSWORD", None)
        os.environ.pop(EVIDENCE_TOKEN_ENV, None)
    yield proc
    proc.stop()


def snapshot_b64() -> str:
    """A false-colour-like frame with the box drawn, as the edge sends it."""
    import cv2
    import numpy as np

    img = np.full((288, 384, 3), (90, 40, 10), np.uint8)
    cv2.rectangle(img, (180, 150), (196, 180), (0, 0, 255), 2)
    return base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()


def fall(camera: str, clip_server, location: dict | None) -> dict:  # noqa: F811
    """A fall; with the fall clip kept on `clip_server` (the edge's evidence server) under its id, if given."""
    now = time.time()
    event_id = f"test-{uuid.uuid4()}"
    ev = {"version": 1, "event_id": event_id, "kind": "water_entry", "site": "demo-harbour",
          "camera": camera, "time": utc_iso(now), "bbox": [180, 150, 16, 30], "frame_size": [384, 288],
          "confidence": 0.9, "evidence": {"snapshot_jpeg_b64": snapshot_b64()}}
    if clip_server is not None:
        (clip_server.dir / f"{event_id}.mp4").write_bytes(FALL_CLIP.read_bytes())
        ev["evidence"]["clip_url"] = clip_server.clip_url(event_id)
    if location:
        ev["location"] = location
    return ev


def incident_of(service, camera: str) -> dict:
    def found():
        for inc in httpx.get(f"{service.url}/api/incidents", timeout=10).json():
            if inc["cameras"] == camera and inc["state"] == "paged":
                return inc
        return None
    inc = wait_until(found, 30, f"an incident on {camera} paged")
    return httpx.get(f"{service.url}/api/incidents/{inc['id']}", timeout=10).json()


def link_in(inc: dict, number: str, service) -> str:
    body = next(m["body"] for m in inc["messages"] if m["to_number"] == number and m["channel"] == "sms")
    link = re.search(r"https://alerts\.example\.test(/p/[A-Za-z0-9_-]+)", body).group(1)
    return service.url + link


def test_the_sms_link_opens_that_incident_on_a_phone_acknowledges_for_its_agency_and_shows_nothing_else(
        browser, service, publisher, clip_server):  # noqa: F811
    publish_event(publisher, fall("cam-1", clip_server, {"lat": 57.05031, "lon": 9.92254}))
    mine = incident_of(service, "cam-1")
    # The other incident's event names its own "clip": the service's incident API, with the ack codes (the
    # SSRF of issue 13). The phone's relay, like the control room's, must not fetch what an event names.
    forged = fall("cam-2", None, None)
    forged["evidence"]["clip_url"] = f"{service.url}/api/incidents"
    publish_event(publisher, forged)
    other = incident_of(service, "cam-2")
    police_link = link_in(mine, "+4520000002", service)
    relayed = httpx.get(link_in(other, "+4520000002", service) + "/clip", timeout=20)
    assert relayed.status_code in (404, 502) and other["ack_code"] not in relayed.text, relayed.text[:300]

    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto(police_link)  # no login
        assert "/login" not in page.url
        assert page.locator("h1.kind").inner_text() == "Person faldt i vandet"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page.locator("dd.time").inner_text())
        assert page.locator("dd.position").inner_text().startswith("57.05031,9.92254")
        page.wait_for_function("() => document.querySelector('img').naturalWidth === 384")  # the snapshot
        video = page.locator("video")
        assert video.count() == 1 and video.get_attribute("src").endswith("/clip")  # plays in the page
        clip = httpx.get(police_link + "/clip", timeout=20)  # relayed from the edge: the phone cannot reach it
        assert clip.status_code == 200 and clip.content == FALL_CLIP.read_bytes()
        html = page.content()
        for secret in (other["id"], other["ack_code"], mine["ack_code"], "+4520000", "controlroom"):
            assert secret not in html, secret  # nothing of another incident, no codes, numbers, or way in
        assert page.locator("a[href*='controlroom'], a[href^='/api'], a[href*='/cap/']").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # fits the phone
        page.screenshot(path=str(ARTIFACTS / "phone-link.png"), full_page=True)

        assert page.locator("button[type=submit]").inner_text() == "Kvittér for politi"
        page.click("button[type=submit]")
        page.wait_for_selector("ul.acks li")
        assert "Kvitteret for politi af police (phone link)" in page.locator("ul.acks").inner_text()
        assert page.locator("button[type=submit]").count() == 0  # police has it; nothing left to press
        detail = httpx.get(f"{service.url}/api/incidents/{mine['id']}", timeout=10).json()
        assert detail["state"] == "paged"  # rescue is still paged until it acknowledges too
        assert any((t["note"] or "").startswith("acknowledged for police (phone link); still paging rescue")
                   for t in detail["transitions"])

        rescue = browser.new_context(viewport=PHONE).new_page()
        rescue.goto(link_in(mine, "+4520000003", service))
        rescue.click("button[type=submit]")
        rescue.wait_for_selector("ul.acks li:nth-child(2)")
        assert httpx.get(f"{service.url}/api/incidents/{mine['id']}", timeout=10).json()["state"] == "acknowledged"
        rescue.context.close()

        # The control room's card says who acknowledged for whom.
        admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        admin.goto(f"{service.url}/controlroom/login")
        admin.fill("input[name=user]", "admin")
        admin.fill("input[name=password]", ADMIN_PASSWORD)
        admin.click("button[type=submit]")
        card = admin.locator(f"article.alert[data-id='{mine['id']}']")
        card.locator(".agency-ack[data-agency='rescue']").wait_for()
        assert "Kvitteret for politi: police (phone link)" in card.locator(".agency-ack[data-agency='police']").inner_text()
        admin.context.close()

        # The same incident as CAP 1.2 for dispatch: Alert, then the two acknowledgements.
        feed = httpx.get(f"{service.url}/cap/feed.atom", timeout=10)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
        assert re.findall(rf"<cap:identifier>({re.escape(mine['id'])}[^<]*)<", feed.text)
        one = re.findall(rf"/cap/messages/({re.escape(mine['id'])}\.[0-9]+)\.xml", feed.text)[-1]
        msg = httpx.get(f"{service.url}/cap/messages/{one}.xml", timeout=10)
        assert msg.status_code == 200 and "<msgType>Alert</msgType>" in msg.text
        assert "<circle>57.050310,9.922540 0.05</circle>" in msg.text
        assert httpx.get(f"{service.url}/cap/feed.atom", headers={"X-Forwarded-For": "203.0.113.7"},
                         timeout=10).status_code == 403  # relayed from elsewhere, and no feed token set

        token = police_link.rsplit("/", 1)[1]
        for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:5] + "x" + token[6:], "x" * 30):
            r = page.goto(f"{service.url}/p/{forged}")
            assert r.status == 403 and mine["id"] not in page.content()
        assert httpx.get(f"{service.url}/p/{token[:-2]}xx/snapshot.jpg", timeout=10).status_code == 403
        refused = [line for line in httpx.get(f"{service.url}/metrics", timeout=10).text.splitlines()
                   if line.startswith('quaywatch_alerting_links_refused_total{reason="bad_signature"}')]
        assert refused and float(refused[0].rsplit(" ", 1)[1]) >= 3  # counted

        # Expiry: a link minted with the service's key two hours and a minute ago, as the SMS was then.
        from quaywatch.alerting.links import LinkSigner

        old = LinkSigner(LINK_SECRET.encode(), 7200, service.url).url(mine["id"], "police",
                                                                        now=time.time() - 7200 - 61)
        r = page.goto(old)
        assert r.status == 410 and "udløbet" in page.content() and mine["id"] not in page.content()
        assert httpx.get(old + "/snapshot.jpg", timeout=10).status_code == 410
        assert httpx.post(old + "/ack", timeout=10).status_code == 410
        page.screenshot(path=str(ARTIFACTS / "phone-link-expired.png"))
    finally:
        ctx.close()


def admin_page(browser, service):
    """A browser context logged in as the admin, on the alerts page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{service.url}/controlroom/login")
    page.fill("input[name=user]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{service.url}/controlroom/")
    return ctx, page


def test_an_admin_mutes_a_camera_it_shows_muted_and_its_events_are_not_paged(browser, service, publisher):  # noqa: F811
    ctx, page = admin_page(browser, service)
    try:
        page.click("nav a[href$='/maintenance']")
        page.select_option("select[name=camera]", "cam-2")
        page.fill("input[name=reason]", "Tall ships race: crane service on the pier")
        page.fill("input[name=minutes]", "780")  # 13 h: refused, a window is at most 12 h
        page.evaluate("document.querySelector('input[name=minutes]').removeAttribute('max')")
        page.click("form.mute button[type=submit]")
        assert "43200" in page.locator(".error").inner_text()
        page.select_option("select[name=camera]", "cam-2")
        page.fill("input[name=reason]", "Tall ships race: crane service on the pier")
        page.fill("input[name=minutes]", "30")
        page.click("form.mute button[type=submit]")
        row = page.locator("tr[data-camera='cam-2']")
        assert "Tall ships race" in row.inner_text() and "admin" in row.inner_text()
        page.goto(f"{service.url}/controlroom/cameras")
        page.wait_for_selector("article.cam-tile[data-camera='cam-2'].muted")
        assert "Tall ships race" in page.locator("article.cam-tile[data-camera='cam-2'] dd.muted").inner_text()
        assert page.locator("article.cam-tile[data-camera='cam-1'].muted").count() == 0
        page.screenshot(path=str(ARTIFACTS / "maintenance-muted-camera.png"))

        publish_event(publisher, fall("cam-2", None, None))

        def muted_incident():
            for inc in httpx.get(f"{service.url}/api/incidents", timeout=10).json():
                d = httpx.get(f"{service.url}/api/incidents/{inc['id']}", timeout=10).json()
                if any((t["note"] or "").startswith("not paged: camera cam-2 muted by admin") for t in d["transitions"]):
                    return d
            return None
        d = wait_until(muted_incident, 30, "the muted camera's event stored, not paged")
        assert d["messages"] == [] and d["state"] == "new"
        page.goto(f"{service.url}/controlroom/")
        card = page.locator(f"article.alert[data-id='{d['id']}']")
        card.wait_for()
        assert "Tall ships race" in card.locator(".muted").inner_text()  # shown, with why it was not paged

        # The same by the JSON API (admin, CSRF header): a zone of cam-1, listed, then ended.
        csrf = page.evaluate("JSON.parse(document.getElementById('qw-config').textContent).csrf")
        api = f"{service.url}/controlroom/api/maintenance"
        refused = page.request.post(api, data={"camera": "cam-1", "reason": "x", "duration_s": 60})
        assert refused.status == 403  # no CSRF token
        made = page.request.post(api, headers={"x-csrf-token": csrf}, data={
            "camera": "cam-1", "reason": "divers at the ladder", "duration_s": 600,
            "zone": [[0, 100], [100, 100], [100, 288]]})
        assert made.status == 200, made.text()
        wid = made.json()["id"]
        listed = page.request.get(api).json()["windows"]
        assert any(x["id"] == wid and x["zone"] and x["created_by"] == "admin" and x["open"] for x in listed)
        ended = page.request.post(f"{api}/{wid}/end", headers={"x-csrf-token": csrf}, data={})
        assert ended.status == 200 and ended.json()["ended_by"] == "admin"
        too_long = page.request.post(api, headers={"x-csrf-token": csrf},
                                     data={"camera": "cam-1", "reason": "x", "duration_s": 13 * 3600})
        assert too_long.status == 400 and "43200" in too_long.text()

        page.goto(f"{service.url}/controlroom/maintenance")  # ended early: paging resumes at once
        page.click("tr[data-camera='cam-2'] button")
        page.goto(f"{service.url}/controlroom/cameras")
        page.wait_for_selector("article.cam-tile[data-camera='cam-2']:not(.muted)")
    finally:
        ctx.close()


def test_a_maintenance_window_expires_on_its_own_the_page_shows_it_and_paging_resumes(
        browser, service, publisher):  # noqa: F811
    """Nobody ends the window: it runs out. The cameras page, left open, drops "muted" by itself (no status
    message comes to push it), and the camera's next fall is paged as any other."""
    ctx, page = admin_page(browser, service)
    try:
        csrf = page.evaluate("JSON.parse(document.getElementById('qw-config').textContent).csrf")
        made = page.request.post(f"{service.url}/controlroom/api/maintenance", headers={"x-csrf-token": csrf},
                                 data={"camera": "cam-1", "reason": "divers at the ladder", "duration_s": 4})
        assert made.status == 200, made.text()
        ends_at = made.json()["ends_at"]
        page.goto(f"{service.url}/controlroom/cameras")
        page.wait_for_selector("article.cam-tile[data-camera='cam-1'].muted")
        page.wait_for_selector("article.cam-tile[data-camera='cam-1']:not(.muted)", timeout=15_000)
        assert time.time() >= ends_at  # it went when the window ended, not before
        assert "divers" not in page.locator("article.cam-tile[data-camera='cam-1']").inner_text()

        before = {i["id"] for i in httpx.get(f"{service.url}/api/incidents", timeout=10).json()}
        publish_event(publisher, fall("cam-1", None, None))

        def paged_after_the_window():
            for inc in httpx.get(f"{service.url}/api/incidents", timeout=10).json():
                if inc["id"] not in before and inc["cameras"] == "cam-1":
                    d = httpx.get(f"{service.url}/api/incidents/{inc['id']}", timeout=10).json()
                    return d if d["messages"] else None
            return None
        d = wait_until(paged_after_the_window, 30, "the fall after the window paged")
        assert {m["to_number"] for m in d["messages"]} >= {"+4520000002", "+4520000003"}
        assert not any((t["note"] or "").startswith("not paged") for t in d["transitions"])
    finally:
        ctx.close()
