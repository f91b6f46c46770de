"""End to end through every real part (issue 7):

  camera-sim (live simulated Aalborg scene, real ONVIF + RTSP) -> `quaywatch edge` -> Mosquitto
    -> `quaywatch alerting` (the control room mounted) -> Twilio stand-in (recording) -> Prism (Twilio's contract)
                                                      -> the control-room page in headless Chromium

Each scenario runs its own harbour (fresh broker, store, camera); one Prism and one Chromium serve the module.
Nothing is timed as an assertion: latencies are measured against the camera-sim's truth lines and printed.

    .venv/bin/python -m pytest tests/test_e2e.py -q -s
"""

from __future__ import annotations

import json
import time
import zoneinfo
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from quaywatch.alerting.notify.gsm7 import septets
from tests.camsim_peer import CameraSim
from tests.harbour import Harbour
from tests.peers import (
    ARTIFACTS,
    REPO,
    AlertingProcess,
    Mosquitto,
    MqttRecorder,
    TwilioStandIn,
    wait_until,
)

SITE, CAMERA = "demo-harbour", "cam-1"
POLICE, RESCUE, CONTROL = "+4520000002", "+4520000003", "+4520000001"
ALERTS = ("water_entry", "person_in_water")
TZ = zoneinfo.ZoneInfo("Europe/Copenhagen")
POSITION = " ca. 57.0502,9.9217 (150 m) "  # the edge sends no ground position yet: the camera's, approximate
EVIDENCE_LINK = " https://alerts.example.test/p/"
OPERATOR, PASSWORD = "olga", "olga-operator-pw1"  # a throwaway test login, not a secret

# Records, in the page itself, the wall-clock moment each alert card first appears and each change of a
# camera tile's state: [camera, state, ms].
OBSERVER = """() => {
  window.__seen = {};
  window.__tiles = [];
  const last = {};
  const note = () => {
    for (const el of document.querySelectorAll('article.alert[data-id]'))
      if (!(el.dataset.id in window.__seen)) window.__seen[el.dataset.id] = Date.now();
    for (const el of document.querySelectorAll('.cam-tile[data-camera]')) {
      if (last[el.dataset.camera] === el.dataset.state) continue;
      last[el.dataset.camera] = el.dataset.state;
      window.__tiles.push([el.dataset.camera, el.dataset.state, Date.now()]);
    }
  };
  new MutationObserver(note).observe(document.body, {childList: true, subtree: true, attributes: true});
  note();
}"""


class E2EHarbour(Harbour):
    """The harness's harbour (the control room is served by `quaywatch alerting`), with a control-room login and
    the camera started last, so the scene's first fall (~15 s after the camera starts) happens with everything
    else already listening."""

    def __init__(self, workdir: Path, prism_url: str, overrides: dict | None = None):
        from quaywatch.controlroom.users import UserStore

        users_db = Path(workdir) / "users.db"
        Path(workdir).mkdir(parents=True, exist_ok=True)
        store = UserStore(users_db)
        store.add(OPERATOR, "operator", PASSWORD)
        store.close()
        base = {"alerting": {"delivery_timeout_s": 600},  # Prism never calls back: no escalation on silence
                "controlroom": {"users_db": str(users_db), "stale_after_s": 30}}
        for k, v in (overrides or {}).items():
            base.setdefault(k, {}).update(v)
        super().__init__(workdir, prism_url=prism_url, alerting_overrides=base)

    def start(self) -> E2EHarbour:
        try:
            self.mosquitto = Mosquitto().start()  # its own dir, reachable by user mosquitto: sessions persist
            self.twilio = TwilioStandIn(upstream=self.prism_url).start()
            # `quaywatch alerting --site FILE`, which serves the control room at /controlroom/ itself.
            self.alerting = AlertingProcess(self.dir / "alerting", self.mosquitto.port, self.overrides,
                                            self.twilio.url)
            self.alerting.start(timeout=120)  # 2 cores shared with much else: imports alone can take 20 s
        except BaseException:
            self.stop()
            raise
        return self

    def start_camera_and_edge(self) -> float:
        """Start the simulated camera and the edge; returns the camera's start (wall clock)."""
        t0 = time.time()
        try:
            self.camera = CameraSim(self.dir / "camera", scene=self.scene).start()
            self.start_edge()
        except BaseException:
            self.stop()
            raise
        return t0

    def logs(self) -> str:
        parts = [("edge", self.edge), ("alerting", self.alerting and self.alerting.process),
                 ("camera", self.camera and self.camera.process)]
        return "\n".join(f"--- {name} ---\n{p.output()[-2500:]}" for name, p in parts if p is not None)

    def incidents(self) -> list[dict]:
        return httpx.get(f"{self.alerting.url}/api/incidents", timeout=10).json()

    def incident(self, incident_id: str) -> dict:
        return httpx.get(f"{self.alerting.url}/api/incidents/{incident_id}", timeout=10).json()




def local_hms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, TZ).strftime("%H:%M:%S")


def local_date_hm(epoch: float) -> str:
    """As the SMS says it: day/month and hours:minutes in the site's zone."""
    return datetime.fromtimestamp(epoch, TZ).strftime(" %-d/%-m %H:%M ")


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()






@pytest.fixture
def harbour(tmp_path, prism):
    started: list[E2EHarbour] = []

    def start(overrides: dict | None = None) -> E2EHarbour:
        h = E2EHarbour(tmp_path / f"harbour{len(started)}", prism.url, overrides)
        started.append(h)
        return h.start()

    yield start
    for h in started:
        h.stop()


def open_page(browser, h: E2EHarbour, path: str = "", context=None):
    """Log in as the operator and open a control-room page with its live stream connected."""
    ctx = context or browser.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{h.alerting.url}/controlroom/{path}")
    if "/controlroom/login" in page.url:
        page.fill("input[name=user]", OPERATOR)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{h.alerting.url}/controlroom/{path}")
    # The arrow form: an expression string is polled through eval, which the page's CSP refuses.
    page.wait_for_function("() => window.quaywatch && window.quaywatch.events"
                           " && window.quaywatch.events.readyState === 1", timeout=30_000)
    page.evaluate(OBSERVER)
    return ctx, page


def water_incidents(h: E2EHarbour) -> list[dict]:
    return [i for i in h.incidents() if i["category"] == "water"]


def test_a_fall_pages_police_and_rescue_through_prism_and_appears_live_on_the_page(harbour, browser):
    h = harbour()
    ctx, page = open_page(browser, h)
    try:
        h.start_camera_and_edge()
        # The first water incident the harbour raises; the scene's falls come about once a minute.
        inc = wait_until(lambda: water_incidents(h) and water_incidents(h)[-1], 150, "a water incident", h.logs)
        detail = h.incident(inc["id"])
        event = detail["events"][0]["payload"]
        assert event["camera"] == CAMERA and event["kind"] in ALERTS and not event.get("drill")
        fall = max((f for f in h.falls() if f <= epoch(event["time"]) + 1.0), default=None)
        assert fall is not None, f"an alert with no simulated fall before it: {event['time']}\n{h.logs()}"

        # Every contact of the first step got its SMS request, Prism accepted each one, worded right.
        def first_step() -> list[dict]:
            return [r for r in h.sms() if r["wall"] >= fall and r["form"].get("To") in (POLICE, RESCUE)]
        sent = wait_until(lambda: len(first_step()) >= 2 and first_step(), 30, "SMS to police and rescue", h.logs)
        assert sorted(r["form"]["To"] for r in sent) == sorted([POLICE, RESCUE]), sent
        for r in sent:
            assert r["status"] in (200, 201), f"Prism refused the SMS request: {r['status']} {r['response']!r}"
            assert json.loads(r["response"])["sid"]  # Twilio's answer, as its contract shapes it
            body = r["form"]["Body"]
            assert body.startswith("DRUKNEALARM ") and " cam-1: " in body, body  # the place gives way to the link
            assert POSITION in body and EVIDENCE_LINK in body, body  # the camera's position; the signed link
            assert local_date_hm(epoch(event["time"])) in body, (event["time"], body)
            assert f"Svar {inc['ack_code']} for at kvittere" in body, body
            assert septets(body) is not None and septets(body) <= 160, body
            assert r["form"]["From"] == "+4520000000" and r["form"]["ValidityPeriod"] == "600"
        assert not [r for r in h.sms() if r["form"].get("To") == CONTROL]  # the control room is step 3

        # The page, opened before the fall and never reloaded, shows the alert with its evidence snapshot.
        card = page.locator(f'article.alert.needs-ack[data-id="{inc["id"]}"]')
        card.wait_for(timeout=30_000)
        snap = card.locator(".frame img")
        snap.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=snap.element_handle(),
                               timeout=15_000)
        assert page.evaluate("img => [img.naturalWidth, img.naturalHeight]", snap.element_handle()) == \
            event["frame_size"] == [384, 288]  # the edge's false-colour evidence frame, not a placeholder
        assert card.locator(".where").inner_text() == "Honnørkajen, looking west"
        assert local_hms(epoch(event["time"])) in card.locator(".when").inner_text()
        card.locator("table.pages tbody tr").first.wait_for(timeout=15_000)
        paged = card.locator("table.pages").inner_text()
        assert "Demo police dispatch" in paged and "Demo rescue" in paged
        assert page.locator("#banner").is_visible() and "DRUKNEALARM" in page.locator("#banner").inner_text()
        shot = ARTIFACTS / "e2e-fall-alert.png"
        page.screenshot(path=str(shot))

        seen_ms = page.evaluate("id => window.__seen[id]", inc["id"])
        sms_at = min(r["wall"] for r in sent)
        print(f"\nfall at {fall:.2f} ({event['kind']}): detector decision +{epoch(event['time']) - fall:.2f} s, "
              f"SMS request +{sms_at - fall:.2f} s (both {max(r['wall'] for r in sent) - fall:.2f} s), "
              f"page card +{seen_ms / 1000 - fall:.2f} s; falls seen by the camera so far: "
              f"{[round(f - fall, 1) for f in h.falls()]} s; screenshot {shot.relative_to(REPO)}")
    finally:
        ctx.close()


def edge_alerts(h: E2EHarbour) -> list[str]:
    """Event ids of the alerts the edge has raised so far, in its log's order."""
    import re

    return re.findall(r"(?:water_entry|person_in_water) at t=\S+ \(event ([0-9a-f-]{36})\)", h.edge.output())


def recorded(rec: MqttRecorder, suffix: str) -> list[dict]:
    from quaywatch.config.wire import decode

    kind = "event" if suffix == "/events" else "status"
    return [decode(kind, p) for t, p, _ in list(rec.messages) if t.endswith(suffix) and p]


def test_broker_restart_during_a_fall_loses_nothing_and_pages_once(harbour):
    """Mosquitto is SIGKILLed the moment the camera's truth line for a fall appears and comes back 2 s later
    (longer if the edge has not raised the fall's alert by then, so the alert is raised while the broker is
    down): the edge's outbox, the persisted sessions and event ids must carry it to exactly one page each."""
    h = harbour()
    rec = MqttRecorder(h.mosquitto.port, f"quaywatch/{SITE}/+/+", client_id="e2e-audit")
    try:
        h.start_camera_and_edge()
        fall = wait_until(lambda: h.falls() and h.falls()[0], 90, "the scene's first fall", h.logs)
        before = set(edge_alerts(h))
        h.mosquitto.kill()
        killed = time.time()
        time.sleep(2)
        # Keep it down until the edge has decided (a few seconds after the fall), at most 20 s.
        wait_until(lambda: set(edge_alerts(h)) - before or time.time() - killed > 20, 25, "the edge's decision")
        raised_down = [e for e in edge_alerts(h) if e not in before]
        h.mosquitto.start()
        back = time.time()

        # Every alert the edge raised for this fall reaches the broker (the audit subscriber's plain persistent
        # subscription has it) and then the alerting store, by event id.
        wait_until(lambda: set(edge_alerts(h)) - before, 30, "the edge's alert for the fall", h.logs)
        ids = [e for e in edge_alerts(h) if e not in before]
        assert rec.wait_for(lambda m: set(ids) <= {e["event_id"] for e in recorded(rec, "/events")}, 30), (
            f"alerts missing on the broker: {set(ids) - {e['event_id'] for e in recorded(rec, '/events')}}\n"
            f"{h.logs()}")

        def stored() -> set[str]:
            return {e["event_id"] for i in water_incidents(h) for e in h.incident(i["id"])["events"]}
        wait_until(lambda: set(ids) <= stored(), 30,
                   f"alerting to store event ids {ids}: they reached the broker but not the alerting service (its "
                   "subscription is shared, `$share/...`, and Mosquitto does not persist shared subscriptions: an "
                   "event published after the broker restarts and before alerting re-subscribes is dropped)",
                   h.logs)
        inc = wait_until(lambda: [i for i in water_incidents(h) if i["first_time"] >= fall - 1.0], 30,
                         "the fall's incident", h.logs)[0]
        wait_until(lambda: len({r["form"]["To"] for r in h.sms() if r["wall"] >= fall}) >= 2, 30, "the fall's SMS",
                   h.logs)
        time.sleep(5)  # time for a duplicate page to show itself, if there were to be one

        incidents = [i for i in water_incidents(h) if i["first_time"] >= fall - 1.0]
        assert [i["id"] for i in incidents] == [inc["id"]], f"one fall, one incident: {incidents}"
        events = h.incident(inc["id"])["events"]
        assert set(ids) <= {e["event_id"] for e in events}
        sms = [r for r in h.sms() if r["form"].get("To") in (POLICE, RESCUE)]
        assert sorted(r["form"]["To"] for r in sms) == sorted([POLICE, RESCUE]), (
            f"paged once per contact: {[(r['form']['To'], r['form']['Body']) for r in sms]}")
        assert all(r["status"] in (200, 201) for r in sms), [(r["status"], r["response"]) for r in sms]
        assert all(f"Svar {inc['ack_code']} " in r["form"]["Body"] for r in sms), [r["form"]["Body"] for r in sms]
        outbound = [m for m in h.incident(inc["id"])["messages"] if m["direction"] == "out"]
        assert sorted(m["to_number"] for m in outbound) == sorted([POLICE, RESCUE]), outbound
        on_broker = [e["event_id"] for e in recorded(rec, "/events") if e["event_id"] in ids]
        print(f"\nfall at {fall:.2f}: broker down {back - killed:.1f} s (killed +{killed - fall:.2f} s after the "
              f"fall); {len(raised_down)} of {len(ids)} alert(s) raised while it was down; on the broker "
              f"{len(on_broker)} deliveries of {len(set(on_broker))} id(s); one incident with {len(events)} "
              f"event(s); SMS {[r['form']['To'] for r in sms]} at +{min(r['wall'] for r in sms) - fall:.2f} s "
              f"(+{min(r['wall'] for r in sms) - back:.2f} s after the broker was back)")
    finally:
        rec.close()


def test_a_dead_camera_reaches_the_control_room_not_the_police(harbour, browser):
    h = harbour()
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        _, alerts = open_page(browser, h, context=ctx)
        _, grid = open_page(browser, h, "cameras", context=ctx)
        h.start_camera_and_edge()
        grid.wait_for_selector(f'.cam-tile[data-camera="{CAMERA}"][data-state="online"]', timeout=90_000)
        h.camera.kill()  # SIGKILL the camera's whole group: no goodbye on RTSP or ONVIF
        killed = time.time()

        tile = grid.locator(f'.cam-tile[data-camera="{CAMERA}"][data-state="offline"]')
        tile.wait_for(timeout=60_000)
        inc = wait_until(lambda: [i for i in h.incidents() if i["kind"] == "camera_offline"], 60,
                         "a camera_offline incident", h.logs)[0]
        assert inc["category"] == "camera" and CAMERA in inc["cameras"], inc
        card = alerts.locator(f'article.alert.needs-ack[data-id="{inc["id"]}"]')
        card.wait_for(timeout=30_000)
        assert "Honnørkajen, looking west" in card.locator(".where").inner_text()
        assert alerts.locator("#banner").is_visible()
        water = water_incidents(h)
        if not water:  # only the camera is waiting: the banner is the amber camera one
            assert "camera" in (alerts.locator("#banner").get_attribute("class") or "")

        control = wait_until(lambda: [r for r in h.sms() if r["form"].get("To") == CONTROL], 30,
                             "the control room's SMS", h.logs)
        time.sleep(3)  # room for a wrong page to the police to show itself
        offline_sms = [r for r in h.sms() if r["wall"] >= killed]
        assert [r["form"]["To"] for r in offline_sms] == [CONTROL], [(r["form"]["To"], r["form"]["Body"])
                                                                    for r in offline_sms]
        assert control[0]["status"] in (200, 201), control[0]["response"]
        assert "kamera offline" in control[0]["form"]["Body"], control[0]["form"]["Body"]
        assert not [r for r in h.sms() if r["form"].get("To") in (POLICE, RESCUE) and "offline" in r["form"]["Body"]]
        outbound = [m for m in h.incident(inc["id"])["messages"] if m["direction"] == "out"]
        assert [m["to_number"] for m in outbound] == [CONTROL], outbound
        edge_status = grid.locator(f'.cam-tile[data-camera="{CAMERA}"]').inner_text()
        grid.screenshot(path=str(ARTIFACTS / "e2e-camera-offline-grid.png"))
        alerts.screenshot(path=str(ARTIFACTS / "e2e-camera-offline-alert.png"))
        tile_ms = min(ms for cam, state, ms in grid.evaluate("window.__tiles")
                      if cam == CAMERA and state == "offline" and ms >= killed * 1000)
        card_ms = alerts.evaluate("id => window.__seen[id]", inc["id"])
        print(f"\ncamera killed at {killed:.2f}: health tile offline +{tile_ms / 1000 - killed:.2f} s, "
              f"camera_offline card +{card_ms / 1000 - killed:.2f} s, control-room SMS "
              f"+{control[0]['wall'] - killed:.2f} s (edge offline_after_s 5); water incidents meanwhile: "
              f"{len(water)}; tile says {edge_status!r}")
    finally:
        ctx.close()
