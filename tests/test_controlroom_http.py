"""The control room over plain HTTP: login, sessions, roles, CSRF, bad input refused and counted (nothing
else lost), actions through the alerting lifecycle, statistics and the false-alarm fixture export.

The app is the real router on the real alerting store (SQLite in a temp dir); incidents are opened by the
alerting service's own Dispatcher, pages recorded with its store, so the rows are what production writes.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import uuid
import zipfile
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.dispatch import Dispatcher, Incoming
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.store import AlertStore
from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.config.edge import EvidenceConfig
from quaywatch.config.loader import load_site
from quaywatch.config.recording import GroundTruth
from quaywatch.controlroom.backend_alerting import AlertingBackend
from quaywatch.controlroom.metrics import ACTIONS, LOGINS, REFUSED, count
from quaywatch.controlroom.router import create_router
from quaywatch.controlroom.users import UserStore
from quaywatch.edge.evidence import EvidenceStore
from quaywatch.edge.evidence_http import EvidenceServer
from tests.peers import REPO

PW = {"olga": "olga-operator-pw", "vic": "vic-viewer-pw-1", "ada": "ada-admin-pw-12"}
FIXTURES = REPO / "recordings_fixtures"
NEG_CLIP = "neg-ducks-pier.mp4"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


class Harbour:
    """The demo site, its alert store and the page, in this process."""

    def __init__(self, tmp_path, clip_base: EdgeStandIn, users_db, in_service_since: float | None = None, **config):
        site = load_site("demo")
        evidence = site.edge.evidence.model_copy(update={"token_env": TOKEN_ENV})
        self.site = site.model_copy(update={"edge": site.edge.model_copy(update={"evidence": evidence})})
        self.store = AlertStore(f"sqlite:///{tmp_path}/alerts.db")
        self.dispatcher = Dispatcher(self.site, self.store, Metrics(), ChangeFeed())
        self.backend = AlertingBackend(self.site, self.store, in_service_since=in_service_since)
        shutil.copy(users_db, tmp_path / "users.db")
        self.users = UserStore(tmp_path / "users.db")
        config.setdefault("evidence_servers", {"cam-1": clip_base.base, "cam-2": clip_base.base})
        self.config = ControlRoomConfig(users_db=str(tmp_path / "users.db"), **config)
        self.app = FastAPI()
        router = create_router(self.backend, self.config, users=self.users,
                               site_file=str(REPO / "config" / "sites" / "demo.yaml"))
        self.app.include_router(router, prefix="/controlroom")
        self.evidence = router.context.evidence  # where the clip relay fetches from, with which token
        self.throttle = router.context.throttle
        self.clip_base = clip_base

    def open_alert(self, kind: str = "water_entry", camera: str = "cam-1", t: float | None = None,
                   clip: str | None = NEG_CLIP, clip_url: str | None = None, clip_bytes: bytes | None = None) -> str:
        """An alert whose event names a clip; the edge stand-in keeps `clip` (a fixture file, when it
        exists) or `clip_bytes` under the event's id. `clip_url`: what the event claims, default the edge's."""
        t = time.time() if t is None else t
        event_id = f"ev-{uuid.uuid4()}"
        event = {"version": 1, "event_id": event_id, "kind": kind, "site": "demo-harbour",
                 "camera": camera, "time": iso(t), "bbox": [10, 20, 8, 16], "confidence": 0.9,
                 "frame_size": [384, 288]}
        if clip:
            event["evidence"] = {"clip_url": clip_url or f"{self.clip_base.base}/evidence/{event_id}.mp4"}
            self.clip_base.keep(event_id, clip_bytes if clip_bytes is not None else
                                (FIXTURES / clip).read_bytes() if (FIXTURES / clip).is_file() else None)
        opened = self.dispatcher.ingest([Incoming(event)])
        return opened[0].incident_id

    def page(self, incident_id: str, person: str, status: str, at: float) -> None:
        """A page as the escalation records it, then its delivery status as the Twilio callback records it."""
        key = f"{incident_id}:0:0:{person}"
        self.store.claim_message({"id": key, "incident_id": incident_id, "direction": "out", "channel": "sms",
                                  "step": 0, "loop": 0, "person": person, "to_number": "+4520000002",
                                  "from_number": "+4520000000", "body": "DRUKNEALARM ..."}, at)
        self.store.update_message(key, at + 0.5, status)


TOKEN_ENV, TOKEN = "QW_TEST_CONTROLROOM_EVIDENCE_TOKEN", "controlroom-test-evidence-token"


class EdgeStandIn:
    """The edge's real evidence server (token required) over an evidence directory the test fills."""

    def __init__(self, directory):
        self.store = EvidenceStore(directory, EvidenceConfig(http_port=0))
        self.server = EvidenceServer(self.store, "127.0.0.1", 0, TOKEN).start()
        self.base = self.server.base_url

    def keep(self, event_id: str, data: bytes | None) -> None:
        if data is not None:
            (self.store.dir / f"{event_id}.mp4").write_bytes(data)


@pytest.fixture(scope="module")
def clip_base(tmp_path_factory):
    saved = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = TOKEN  # the control room reads the token the site names, as in production
    edge = EdgeStandIn(tmp_path_factory.mktemp("edge-evidence"))
    yield edge
    edge.server.stop()
    if saved is None:
        os.environ.pop(TOKEN_ENV, None)
    else:
        os.environ[TOKEN_ENV] = saved


class Recorder(ThreadingHTTPServer):
    """A server that must never be asked anything (an event's hostile clip_url points here)."""

    def __init__(self):
        self.asked: list[str] = []
        page = b"<html><script>fetch('/controlroom/api/alerts')</script></html>"
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                rec.asked.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def users_db(tmp_path_factory):
    """Argon2 is slow on purpose: hash the three users once, copy the file into each test."""
    path = tmp_path_factory.mktemp("users") / "users.db"
    store = UserStore(path)
    for name, role in (("olga", "operator"), ("vic", "viewer"), ("ada", "admin")):
        store.add(name, role, PW[name])
    store.close()
    return path


@pytest.fixture
def harbour(tmp_path, clip_base, users_db):
    h = Harbour(tmp_path, clip_base, users_db)
    yield h
    h.store.close()
    h.users.close()


def client(h: Harbour, base: str = "http://testserver") -> TestClient:
    return TestClient(h.app, base_url=base, follow_redirects=False)


def login(c: TestClient, user: str, password: str | None = None):
    form = c.get("/controlroom/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return c.post("/controlroom/login", data={"user": user, "password": password or PW[user], "csrf": token,
                                              "next": "/controlroom/"})


def csrf_of(c: TestClient) -> str:
    page = c.get("/controlroom/")
    return re.search(r'"csrf": "([^"]+)"', page.text).group(1)


def test_every_page_and_api_needs_a_login(harbour):
    c = client(harbour)
    alert = harbour.open_alert()
    for path in ("/controlroom/", "/controlroom/cameras", "/controlroom/stats", "/controlroom/users"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/controlroom/login?next=")
    for path in ("/controlroom/api/alerts", f"/controlroom/api/alerts/{alert}", "/controlroom/api/health",
                 "/controlroom/api/live", "/controlroom/stats.csv", f"/controlroom/alerts/{alert}/snapshot.jpg",
                 f"/controlroom/alerts/{alert}/fixture.zip", "/controlroom/cameras/cam-1/live.mjpg"):
        assert c.get(path).status_code == 401, path
    assert c.post(f"/controlroom/api/alerts/{alert}/ack").status_code == 401
    assert c.get("/controlroom/static/app.js").status_code == 200  # the script holds no data
    assert harbour.store.incident(alert)["state"] == "new"


def test_login_wrong_password_refused_counted_and_throttled(harbour):
    c = client(harbour)
    failed, throttled = count(LOGINS, "failed"), count(LOGINS, "throttled")
    for _ in range(harbour.config.login_attempts):
        r = login(c, "olga", "wrong password!")
        assert r.status_code == 401 and "Forkert bruger eller adgangskode" in r.text
        assert "quaywatch_session" not in r.cookies
    r = login(c, "olga")  # the right password, but too many failures just now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert count(LOGINS, "failed") - failed == harbour.config.login_attempts
    assert count(LOGINS, "throttled") - throttled == 1
    # Another user from the same address is not locked out by olga's failures.
    assert login(client(harbour), "vic").status_code == 303
    # Unknown names are refused the same way (and cost the same Argon2 verification).
    assert login(client(harbour), "nobody", "whatever-pw").status_code == 401


def test_failures_from_one_address_never_lock_out_another_operator(harbour):
    """Twenty failed logins from one address locked every operator behind it out, the right password too."""
    c = client(harbour)
    names = ["mallory", "admin", "root", "olga", "operator", "ada"]
    for i in range(harbour.throttle.address_ceiling + 5):  # well past the address's ceiling, many names
        assert login(c, names[i % len(names)], f"guess-{i}").status_code in (401, 429)
    assert login(client(harbour), "olga").status_code == 429  # olga's own name was guessed from here: she waits
    assert login(client(harbour), "vic").status_code == 303  # vic, behind the same address, logs in


def test_x_forwarded_for_from_an_untrusted_peer_changes_nothing(harbour):
    c = client(harbour)
    for _ in range(harbour.config.login_attempts):
        login(c, "olga", "wrong password!")
    for spoofed in ("203.0.113.7", "127.0.0.1", "10.0.0.1, 198.51.100.2"):
        c.headers["X-Forwarded-For"] = spoofed
        assert login(c, "olga").status_code == 429, spoofed


def test_behind_a_trusted_proxy_each_client_counts_by_its_own_address(tmp_path, clip_base, users_db):
    h = Harbour(tmp_path, clip_base, users_db, trusted_proxies=["127.0.0.1"])
    try:
        c = TestClient(h.app, base_url="http://testserver", follow_redirects=False, client=("127.0.0.1", 5000))
        c.headers["X-Forwarded-For"] = "203.0.113.7"
        for _ in range(h.config.login_attempts):
            login(c, "olga", "wrong password!")
        assert login(c, "olga").status_code == 429
        # The same name from another client behind the proxy is not held up by the first client's failures.
        c.headers["X-Forwarded-For"] = "198.51.100.2"
        assert login(c, "olga").status_code == 303
    finally:
        h.store.close()
        h.users.close()


def test_login_form_needs_its_csrf_token_and_next_stays_on_the_site(harbour):
    c = client(harbour)
    c.get("/controlroom/login")
    r = c.post("/controlroom/login", data={"user": "olga", "password": PW["olga"], "csrf": "forged"})
    assert r.status_code == 403 and "quaywatch_session" not in r.cookies
    page = c.get("/controlroom/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post("/controlroom/login", data={"user": "olga", "password": PW["olga"], "csrf": token,
                                           "next": "//evil.example/steal"})
    assert r.status_code == 303 and r.headers["location"] == "/controlroom/"
    bad = count(REFUSED, "bad_request")
    r = c.post("/controlroom/login", content=b"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n"
               b"\xff\x00garbage\r\n--x--\r\n", headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and "form" in r.json()["detail"]
    assert c.post("/controlroom/login", content=b"a=" + b"x" * 20000,
                  headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 400
    assert count(REFUSED, "bad_request") - bad == 2


def test_session_cookie_flags_and_logout_ends_the_session(harbour):
    c = client(harbour)
    r = login(c, "olga")
    cookie = r.headers["set-cookie"]
    assert "quaywatch_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/controlroom" in cookie and "Secure" not in cookie  # plain http here
    https = client(harbour, "https://testserver")
    assert "Secure" in login(https, "olga").headers["set-cookie"]
    behind_proxy = client(harbour)
    behind_proxy.headers["X-Forwarded-Proto"] = "https"
    assert "Secure" in login(behind_proxy, "olga").headers["set-cookie"]

    assert c.get("/controlroom/api/alerts").status_code == 200
    token = csrf_of(c)
    stolen = c.cookies.get("quaywatch_session")
    assert c.post("/controlroom/logout", data={"csrf": "wrong"}).status_code == 403  # logout CSRF too
    assert c.post("/controlroom/logout", data={"csrf": token}).status_code == 303
    replay = client(harbour)
    replay.cookies.set("quaywatch_session", stolen, path="/controlroom")
    assert replay.get("/controlroom/api/alerts").status_code == 401  # the server forgot it


def test_actions_need_the_operator_role_and_the_csrf_token(harbour):
    alert = harbour.open_alert()
    viewer = client(harbour)
    login(viewer, "vic")
    r = viewer.post(f"/controlroom/api/alerts/{alert}/ack", headers={"X-CSRF-Token": csrf_of(viewer)})
    assert r.status_code == 403 and "operator" in r.json()["detail"]

    op = client(harbour)
    login(op, "olga")
    csrf = count(REFUSED, "csrf")
    assert op.post(f"/controlroom/api/alerts/{alert}/ack").status_code == 403
    assert op.post(f"/controlroom/api/alerts/{alert}/ack", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert count(REFUSED, "csrf") - csrf == 2
    assert harbour.store.incident(alert)["state"] == "new"  # nothing happened

    acks = count(ACTIONS, "acknowledge")
    r = op.post(f"/controlroom/api/alerts/{alert}/ack", headers={"X-CSRF-Token": csrf_of(op)})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acked_by"] == "olga"
    assert count(ACTIONS, "acknowledge") - acks == 1
    inc = harbour.store.incident(alert)
    assert inc["state"] == "acknowledged" and inc["next_due_at"] is None  # escalation stops
    trail = harbour.store.transitions_of(alert)
    assert trail[-1]["actor"] == "olga (control room)" and trail[-1]["to_state"] == "acknowledged"


def test_bad_input_is_refused_clearly_counted_and_loses_nothing(harbour):
    alert = harbour.open_alert()
    op = client(harbour)
    login(op, "olga")
    h = {"X-CSRF-Token": csrf_of(op)}
    bad = count(REFUSED, "bad_request")
    cases = [
        (f"/controlroom/api/alerts/{alert}/close", b"{not json", 400),
        (f"/controlroom/api/alerts/{alert}/close", b"[1, 2]", 400),
        (f"/controlroom/api/alerts/{alert}/close", b'{"outcome": "shrug"}', 400),
        (f"/controlroom/api/alerts/{alert}/close", b'{"outcome": "false_alarm", "note": 7}', 400),
        (f"/controlroom/api/alerts/{alert}/note", b'{"note": "   "}', 400),
        (f"/controlroom/api/alerts/{alert}/note", b'{"note": "' + b"x" * 3000 + b'"}', 400),
        (f"/controlroom/api/alerts/{alert}/note", b"x" * 20000, 413),
    ]
    for path, body, status in cases:
        r = op.post(path, content=body, headers=h)
        assert r.status_code == status, (path, body[:40], r.text)
        assert "detail" in r.json() and "Traceback" not in r.text
    assert count(REFUSED, "bad_request") - bad == len(cases)
    assert op.post("/controlroom/api/alerts/inc-nope/ack", headers=h).status_code == 404
    assert harbour.store.incident(alert)["state"] == "new"
    assert len(harbour.store.transitions_of(alert)) == 1  # only the intake's "opened"

    # The good requests after all that still work, and the lifecycle's rules hold.
    assert op.post(f"/controlroom/api/alerts/{alert}/note", json={"note": "båd sendt ud"}, headers=h).status_code == 200
    r = op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "real_incident", "note": "reddet"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["outcome"] == "real_incident"
    again = op.post(f"/controlroom/api/alerts/{alert}/ack", headers=h)
    assert again.status_code == 409 and "closed" in again.json()["detail"]
    notes = [(t["actor"], t["note"]) for t in harbour.store.transitions_of(alert)]
    assert ("olga (control room)", "båd sendt ud") in notes
    assert ("olga (control room)", "real_incident: reddet") in notes


def test_admin_manages_users_and_others_may_not(harbour):
    op = client(harbour)
    login(op, "olga")
    assert op.get("/controlroom/users").status_code == 403
    admin = client(harbour)
    login(admin, "ada")
    token = csrf_of(admin)
    assert admin.post("/controlroom/users", data={"name": "nina", "role": "viewer", "password": "short",
                                                  "csrf": token}).status_code == 400
    r = admin.post("/controlroom/users", data={"name": "nina", "role": "viewer", "password": "nina-long-password",
                                               "csrf": token})
    assert r.status_code == 303
    assert "nina" in admin.get("/controlroom/users").text
    assert login(client(harbour), "nina", "nina-long-password").status_code == 303
    assert admin.post("/controlroom/users/nina/remove", data={"csrf": "forged"}).status_code == 403
    assert admin.post("/controlroom/users/nina/remove", data={"csrf": token}).status_code == 303
    assert login(client(harbour), "nina", "nina-long-password").status_code == 401


def test_statistics_per_month_and_csv(tmp_path, clip_base, users_db):
    now = time.time()
    harbour = Harbour(tmp_path, clip_base, users_db, in_service_since=now - 86400)
    op = client(harbour)
    login(op, "olga")
    h = {"X-CSRF-Token": csrf_of(op)}
    outcomes = ["false_alarm", "false_alarm", "real_incident", "drill"]
    for i, outcome in enumerate(outcomes):
        alert = harbour.open_alert(t=now - 100 * (i + 1), camera="cam-2" if i % 2 else "cam-1")
        harbour.page(alert, "Demo police dispatch", "delivered", now - 100 * (i + 1) + 2.0 + i)
        op.post(f"/controlroom/api/alerts/{alert}/ack", headers=h)
        op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": outcome}, headers=h)
    r = op.get("/controlroom/stats.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    header, *rows = r.text.splitlines()
    month = datetime.now().astimezone().strftime("%Y-%m")
    row = dict(zip(header.split(","), next(x for x in rows if f",{month}," in x).split(","), strict=True))
    assert row["alerts"] == "4" and row["false_alarms"] == "2" and row["real_incidents"] == "1"
    # Time to page delivery: the page was claimed 2..5 s after the frame and delivered 0.5 s later.
    assert float(row["time_to_page_delivery_median_s"]) == pytest.approx(3.5 + 0.5, abs=0.01)
    assert float(row["time_to_acknowledge_median_s"]) > 100
    # Two cameras since yesterday (or since the 1st of the month, if that is later).
    month_start = datetime.now().astimezone().replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    assert float(row["camera_hours"]) == pytest.approx(2 * (now - max(now - 86400, month_start)) / 3600, abs=0.05)
    assert float(row["false_alarms_per_camera_hour"]) == pytest.approx(2 / float(row["camera_hours"]), rel=0.05)
    page = op.get("/controlroom/stats")
    assert page.status_code == 200 and "<svg" in page.text and month in page.text


def test_false_alarm_exports_as_a_recording_fixture(harbour, tmp_path):
    from quaywatch.edge.clips import clip_info

    op = client(harbour)
    login(op, "olga")
    h = {"X-CSRF-Token": csrf_of(op)}
    alert = harbour.open_alert(camera="cam-2")
    assert op.get(f"/controlroom/alerts/{alert}/fixture.zip").status_code == 409  # still open
    op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "false_alarm", "note": "ænder"}, headers=h)
    viewer = client(harbour)
    login(viewer, "vic")
    assert viewer.get(f"/controlroom/alerts/{alert}/fixture.zip").status_code == 403
    r = op.get(f"/controlroom/alerts/{alert}/fixture.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = sorted(z.namelist())
        truth = GroundTruth.model_validate_json(z.read(names[0]))
        clip = z.read(names[1])
    assert names[0].startswith("false-alarm-demo-harbour-cam-2-") and names[1] == names[0][:-5] + ".mp4"
    assert truth.events == [] and truth.camera == "cam-2" and "ænder" in truth.description
    assert truth.site == "../config/sites/demo.yaml" and (FIXTURES / truth.site).is_file()
    assert clip == (FIXTURES / NEG_CLIP).read_bytes()
    (tmp_path / names[1]).write_bytes(clip)
    assert clip_info(tmp_path / names[1]).frames

    # A clip the edge no longer has: a clear 502, not a broken fixture.
    gone = harbour.open_alert(clip="no-such-clip.mp4")
    op.post(f"/controlroom/api/alerts/{gone}/close", json={"outcome": "false_alarm"}, headers=h)
    r = op.get(f"/controlroom/alerts/{gone}/fixture.zip")
    assert r.status_code == 502 and "404" in r.json()["detail"]


def test_changes_made_by_another_node_reach_the_page(harbour):
    """No in-process feed here (as for an alert taken in by a second alerting node on a shared store):
    the store poll finds the new incident, a page status and a note, each within a few poll periods."""
    import asyncio

    harbour.backend.poll_interval_s = 0.02
    harbour.backend.start()

    async def run() -> list[str]:
        changes = harbour.backend.subscribe()
        seen: list[str] = []
        first = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.1)  # the poller has taken its starting marks
        alert = await asyncio.to_thread(harbour.open_alert)
        seen.append((await asyncio.wait_for(first, 5)).id)
        await asyncio.to_thread(harbour.page, alert, "Demo rescue", "delivered", time.time())
        seen.append((await asyncio.wait_for(anext(changes), 5)).id)
        await changes.aclose()
        return [alert, *seen]

    try:
        alert, *seen = asyncio.run(run())
    finally:
        harbour.backend.stop()
    assert seen == [alert, alert]


def test_an_open_alert_stays_listed_behind_many_newer_closed_ones(harbour):
    op = client(harbour)
    login(op, "olga")
    h = {"X-CSRF-Token": csrf_of(op)}
    now = time.time()
    waiting = harbour.open_alert(t=now - 600)
    for i in range(35):  # more than the history shows
        alert = harbour.open_alert(kind="camera_offline", camera="cam-2", t=now - 500 + i, clip=None)
        op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "resolved"}, headers=h)
    listed = op.get("/controlroom/api/alerts").json()["alerts"]
    assert waiting in [a["id"] for a in listed if a["needs_ack"]]
    assert [a["id"] for a in op.get("/controlroom/api/alerts?open=1").json()["alerts"]] == [waiting]


def test_the_clip_is_relayed_from_the_edge(harbour):
    op = client(harbour)
    login(op, "olga")
    alert = harbour.open_alert(clip=NEG_CLIP)
    r = op.get(f"/controlroom/alerts/{alert}/clip")
    assert r.status_code == 200 and r.content == (FIXTURES / NEG_CLIP).read_bytes()
    h = {"X-CSRF-Token": csrf_of(op)}
    op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "drill"}, headers=h)  # or the next joins it
    gone = harbour.open_alert(clip="no-such-clip.mp4")
    r = op.get(f"/controlroom/alerts/{gone}/clip")
    assert r.status_code == 502 and "404" in r.json()["detail"]
    op.post(f"/controlroom/api/alerts/{gone}/close", json={"outcome": "drill"}, headers=h)
    none = harbour.open_alert(clip=None, camera="cam-2")
    assert op.get(f"/controlroom/alerts/{none}/clip").status_code == 404
    assert op.get(f"/controlroom/alerts/{none}/snapshot.jpg").status_code == 404


def test_the_relayed_clip_answers_byte_ranges_so_it_can_be_scrubbed(harbour):
    """Chromium seeks in an MP4 only by range requests: without them the operator cannot go back to the
    moment he went in."""
    op = client(harbour)
    login(op, "olga")
    alert = harbour.open_alert(clip=NEG_CLIP)
    url, whole = f"/controlroom/alerts/{alert}/clip", (FIXTURES / NEG_CLIP).read_bytes()
    n = len(whole)
    r = op.get(url)
    assert r.status_code == 200 and r.content == whole and r.headers["accept-ranges"] == "bytes"
    r = op.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == whole[100:200] and r.headers["content-range"] == f"bytes 100-199/{n}"
    assert r.headers["content-type"] == "video/mp4"
    assert op.get(url, headers={"Range": "bytes=1000-"}).content == whole[1000:]
    assert op.get(url, headers={"Range": "bytes=-50"}).content == whole[-50:]
    assert op.get(url, headers={"Range": f"bytes=0-{10 * n}"}).content == whole
    past = op.get(url, headers={"Range": f"bytes={n}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{n}"
    assert op.get(url, headers={"Range": "bytes=0-1,5-9"}).content == whole  # several ranges: the whole clip
    op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "drill"}, headers={"X-CSRF-Token": csrf_of(op)})


def test_pages_failing_are_said_on_the_alerts_page(harbour):
    """Issue 13: a Twilio outage is said in the control room (every node's owed pages, from the store), not
    only in the log: how many pages are owed, since when, the last error."""
    c = client(harbour)
    login(c, "vic")
    assert c.get("/controlroom/api/paging").json() == {"trouble": None}
    assert 'id="paging"' in c.get("/controlroom/").text
    alert = harbour.open_alert()
    harbour.page(alert, "Politi", "failed", time.time() - 30)
    assert c.get("/controlroom/api/paging").json() == {"trouble": None}  # failed for good is not owed
    key = f"{alert}:0:0:Politi"
    harbour.store.db.run("UPDATE messages SET error_code = 'ConnectionError' WHERE id = ?", (key,))
    assert harbour.store.owe(key, time.time() + 5)
    trouble = c.get("/controlroom/api/paging").json()["trouble"]
    assert trouble["owed"] == 1 and trouble["error"] == "ConnectionError" and len(trouble["since"]) == 8
    assert "Twilio" in c.get("/controlroom/?lang=en").text  # the words are on the page for the script


def test_the_clip_relay_never_fetches_the_url_an_event_names(harbour):
    """An event is input from the network: its clip_url once made the relay serve an attacker's HTML page
    (its script closed every alert in the operator's name) and fetch the alerting host's own API (SSRF)."""
    hostile = Recorder()
    try:
        op = client(harbour)
        login(op, "olga")
        h = {"X-CSRF-Token": csrf_of(op)}
        for target in (f"{hostile.url}/page.html", f"{hostile.url}/api/incidents"):
            alert = harbour.open_alert(clip="no-such-clip.mp4", clip_url=target)
            r = op.get(f"/controlroom/alerts/{alert}/clip")
            assert r.status_code == 502 and "404" in r.json()["detail"]  # asked the edge, which has no such clip
            op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "false_alarm"}, headers=h)
            assert op.get(f"/controlroom/alerts/{alert}/fixture.zip").status_code == 502
        # With the clip on the edge, the hostile URL in the event changes nothing: the edge's clip is served.
        alert = harbour.open_alert(clip=NEG_CLIP, clip_url=f"{hostile.url}/page.html")
        r = op.get(f"/controlroom/alerts/{alert}/clip")
        assert r.status_code == 200 and r.content == (FIXTURES / NEG_CLIP).read_bytes()
        assert hostile.asked == []
    finally:
        hostile.shutdown()
        hostile.server_close()


def test_the_clip_relay_passes_on_only_video_or_images_never_a_page(harbour):
    op = client(harbour)
    login(op, "olga")
    h = {"X-CSRF-Token": csrf_of(op)}
    refused = count(REFUSED, "not_media")
    page = b"<html><script>for (const a of alerts) close(a, 'false_alarm')</script></html>"
    alert = harbour.open_alert(clip="page.mp4", clip_bytes=page)  # the edge calls it video/mp4; it is not
    r = op.get(f"/controlroom/alerts/{alert}/clip")
    assert r.status_code == 502 and "not a video" in r.json()["detail"] and "<script" not in r.text
    assert count(REFUSED, "not_media") - refused == 1
    op.post(f"/controlroom/api/alerts/{alert}/close", json={"outcome": "drill"}, headers=h)
    alert = harbour.open_alert(clip=NEG_CLIP)
    r = op.get(f"/controlroom/alerts/{alert}/clip")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"] and "default-src 'none'" in r.headers["content-security-policy"]


def test_every_control_room_answer_says_nosniff_and_has_a_csp(harbour):
    c = client(harbour)
    alert = harbour.open_alert()
    answers = [c.get("/controlroom/login"), c.get("/controlroom/api/alerts"), c.get("/controlroom/"),
               c.get("/controlroom/static/app.js")]
    login(c, "olga")
    answers += [c.get("/controlroom/api/alerts"), c.get(f"/controlroom/api/alerts/{alert}"),
                c.get("/controlroom/alerts/nope/clip"), c.get("/controlroom/")]
    for r in answers:
        assert r.headers.get("x-content-type-options") == "nosniff", (r.request.url, r.status_code)
        assert "default-src" in r.headers.get("content-security-policy", ""), (r.request.url, r.status_code)
    assert "script-src 'self'" in answers[-1].headers["content-security-policy"]  # the page keeps its own


def test_the_edge_refuses_the_relay_without_the_right_token(harbour):
    op = client(harbour)
    login(op, "olga")
    alert = harbour.open_alert(clip=NEG_CLIP)
    evidence = harbour.evidence
    saved, evidence.token = evidence.token, "not-the-token"
    try:
        r = op.get(f"/controlroom/alerts/{alert}/clip")
        assert r.status_code == 502 and "401" in r.json()["detail"]
    finally:
        evidence.token = saved
    assert op.get(f"/controlroom/alerts/{alert}/clip").status_code == 200
