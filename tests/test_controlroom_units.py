"""Control-room pieces with rules of their own: throttling, camera-hours, the map, health staleness, fan-out."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from quaywatch.controlroom.backend import Alert, CameraInfo, Change, Page
from quaywatch.controlroom.camera_feed import HealthBoard
from quaywatch.controlroom.changes import ChangeHub
from quaywatch.controlroom.harbour_map import fall_position, map_json, metres_between, view_cone
from quaywatch.controlroom.health_words import reason_code
from quaywatch.controlroom.i18n import TEXT
from quaywatch.controlroom.routes_auth import _safe_next
from quaywatch.controlroom.security import client_address
from quaywatch.controlroom.stats import camera_hours, month_bounds, month_stats
from quaywatch.controlroom.throttle import LoginThrottle


def test_throttle_by_user_and_address_pair_and_by_address():
    t = LoginThrottle(attempts=3, window_s=60)
    alice_here, alice_there = t.keys("alice", "10.0.0.1"), t.keys("Alice", "10.0.0.2")
    for i in range(3):
        assert t.retry_after(alice_here, now=i) == 0
        t.failed(alice_here, now=i)
    assert t.retry_after(alice_here, now=3) == pytest.approx(57)  # the oldest failure leaves at t=60
    assert t.retry_after(alice_there, now=3) == 0  # a stranger elsewhere cannot lock alice out
    assert t.retry_after(alice_here, now=60.5) == 0  # the window slid past the first failure
    t.succeeded(alice_here)
    assert t.retry_after(alice_here, now=3) == 0


def test_an_address_is_never_locked_as_a_whole():
    """Twenty failures from a shared address once locked every operator behind it out."""
    t = LoginThrottle(attempts=3, window_s=60, address_ceiling=12)
    for i in range(12):  # a walk through names from one address, up to the ceiling
        t.failed(t.keys(f"user{i}", "10.0.0.9"), now=100)
    assert t.retry_after(t.keys("user0", "10.0.0.9"), now=101) == pytest.approx(59)  # failed here: waits
    assert t.retry_after(t.keys("colleague", "10.0.0.9"), now=101) == 0  # never failed here: may log in
    # Below the ceiling a name with one failure is not held up.
    t2 = LoginThrottle(attempts=3, window_s=60, address_ceiling=12)
    for i in range(11):
        t2.failed(t2.keys(f"user{i}", "10.0.0.9"), now=100)
    assert t2.retry_after(t2.keys("user0", "10.0.0.9"), now=101) == 0
    assert LoginThrottle(attempts=5, window_s=60).address_ceiling == 100  # high by default


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy():
    from starlette.requests import Request

    def request(peer: str, *xff: str) -> Request:
        headers = [(b"x-forwarded-for", v.encode()) for v in xff]
        return Request({"type": "http", "client": (peer, 5000), "headers": headers})

    proxies = [ipaddress.ip_address("10.1.1.1"), ipaddress.ip_address("::1")]
    assert client_address(request("127.0.0.1", "203.0.113.9"), []) == "127.0.0.1"  # nobody trusted
    assert client_address(request("127.0.0.1", "203.0.113.9"), proxies) == "127.0.0.1"  # not our proxy
    assert client_address(request("10.1.1.1", "203.0.113.9"), proxies) == "203.0.113.9"
    # A client's own X-Forwarded-For is kept by the proxy on the left; the proxy's own entry is the right one.
    assert client_address(request("10.1.1.1", "1.2.3.4, 203.0.113.9"), proxies) == "203.0.113.9"
    assert client_address(request("10.1.1.1", "203.0.113.9, ::1"), proxies) == "203.0.113.9"
    assert client_address(request("10.1.1.1"), proxies) == "10.1.1.1"  # no header: the proxy itself


def alert(kind="water_entry", category="water", t=0.0, state="closed", outcome=None, cams=("cam-1",),
          updated=None, acked=None, pages=()):
    return Alert(id=f"a{t}", site="s", kind=kind, category=category, state=state, cameras=cams, time=t,
                 opened_at=t, updated_at=updated if updated is not None else t, outcome=outcome, acked_at=acked,
                 pages=pages)


def test_camera_hours_leave_out_offline_time_and_the_future():
    hour = 3600.0
    offline = [alert("camera_offline", "camera", t=2 * hour, state="resolved", cams=("cam-2",), updated=5 * hour),
               alert("camera_offline", "camera", t=4 * hour, state="resolved", cams=("cam-2",), updated=6 * hour)]
    # 10 h window, 2 cameras; cam-2 offline 2h..6h (two overlapping reports merge): 10 + 6 = 16 camera-hours.
    assert camera_hours(offline, ["cam-1", "cam-2"], 0.0, 10 * hour, now=100 * hour) == pytest.approx(16)
    # Now at 8 h: hours not yet lived do not count; an offline report still open runs to now.
    still = [alert("camera_offline", "camera", t=7 * hour, state="new", cams=("cam-1",))]
    assert camera_hours(still, ["cam-1"], 0.0, 10 * hour, now=8 * hour) == pytest.approx(7)


def test_month_stats_counts_outcomes_and_medians():
    start, end = month_bounds("2026-03", "Europe/Copenhagen")
    t = start + 86400
    alerts = [
        alert(t=t, outcome="false_alarm", acked=t + 30, pages=(Page("p", "+45", "sms", "delivered", t + 1, t + 3,
                                                                    delivered_at=t + 3),)),
        alert(t=t + 10, outcome="real_incident", acked=t + 10 + 50,
              pages=(Page("p", "+45", "sms", "delivered", t + 11, t + 15, delivered_at=t + 10 + 5),)),
        alert(t=t + 20, outcome="false_alarm"),
        Alert(id="d", site="s", kind="water_entry", category="water", state="closed", cameras=("cam-1",),
              time=t + 30, opened_at=t + 30, updated_at=t + 30, drill=True, outcome="drill"),
        alert(t=end + 5, outcome="false_alarm"),  # next month
    ]
    m = month_stats("s", "2026-03", alerts, ["cam-1", "cam-2"], "Europe/Copenhagen", now=end + 86400)
    assert (m.alerts, m.real_incidents, m.false_alarms, m.drills) == (3, 1, 2, 1)
    assert m.camera_hours == pytest.approx(2 * (end - start) / 3600)  # March has a DST change: 743 h
    assert m.false_alarms_per_camera_hour == pytest.approx(2 / m.camera_hours, rel=1e-3)
    assert m.delivery_median_s == pytest.approx(4.0) and m.ack_median_s == pytest.approx(40.0)


def test_view_cone_spans_the_field_of_view_at_the_camera_range():
    cam = CameraInfo("a", "A", 57.0502, 9.9217, bearing_deg=270, fov_deg=60, range_m=100)
    cone = view_cone(cam)
    assert cone[0] == (57.0502, 9.9217)
    arc = cone[1:]
    assert all(metres_between(57.0502, 9.9217, lat, lon) == pytest.approx(100, rel=0.01) for lat, lon in arc)
    assert all(lon < 9.9217 for _, lon in arc)  # looking west
    assert arc[0][0] < 57.0502 < arc[-1][0]     # from south-west (240 deg) round to north-west (300 deg)
    assert metres_between(*arc[0], *arc[-1]) == pytest.approx(100, rel=0.02)  # 60 deg: an equilateral chord
    assert view_cone(CameraInfo("b", "B", 57.0, 9.9)) is None  # no bearing: no cone
    assert map_json([CameraInfo("x", "X")], None) is None


def test_fall_position_is_the_events_own_or_the_camera_with_its_uncertainty():
    cams = {"cam-1": CameraInfo("cam-1", "Quay", 57.0502, 9.9217, 320, 50, 120)}
    ground = alert(state="new")
    ground = Alert(**{**ground.__dict__, "lat": 57.0508, "lon": 9.9205})  # projected to the water
    assert fall_position(ground, cams) == {"lat": 57.0508, "lon": 9.9205, "source": "ground", "uncertainty_m": None}
    # What the edge sends today: the camera's own position. That is not where the person is.
    at_camera = Alert(**{**ground.__dict__, "lat": 57.0502, "lon": 9.9217})
    assert fall_position(at_camera, cams) == {"lat": 57.0502, "lon": 9.9217, "source": "camera",
                                              "uncertainty_m": 120}
    nothing = Alert(**{**ground.__dict__, "lat": None, "lon": None, "cameras": ("cam-9",)})
    assert fall_position(nothing, cams) is None


def test_edge_reasons_become_plain_word_codes_never_raw_text():
    assert reason_code("rtsp://192.0.2.10:554/stream: Connect call failed ('192.0.2.10', 554)") == "no_answer"
    assert reason_code("cannot open onvif://cam: [Errno 111] Connection refused") == "no_answer"
    assert reason_code("cannot open rtsp://x: 401 Unauthorized") == "refused_login"
    assert reason_code("no status for 31 s (edge unreachable?)") == "edge_silent"
    assert reason_code("rtsp://x: picture frozen for 30 s") == "frozen"
    assert reason_code("no frames for 42 s") == "no_frames"
    assert reason_code("rtsp://x: frames arriving") is None
    assert reason_code("capture crashed: ValueError: bad thing") == "fault"
    assert reason_code(None) is None


def test_health_turns_offline_when_the_edge_goes_silent():
    hub = ChangeHub()
    board = HealthBoard([CameraInfo("cam-1", "Quay")], hub, stale_after_s=30)
    assert board.rows(now=0)[0].state == "offline"  # nothing heard yet
    board.update_status("cam-1", {"state": "online", "time": "2026-01-01T00:00:00Z", "fps": 9.0,
                                  "last_frame_age_s": 0.2}, now=1000)
    row = board.rows(now=1010)[0]
    assert row.state == "online" and row.last_frame_age_s == pytest.approx(10.2)
    row = board.rows(now=1031)[0]
    assert row.state == "offline" and "no status for 31 s" in row.reason
    # Offline shows no frame rate, only when the camera was last seen (1000 - 0.2 on our clock).
    assert row.fps is None and row.last_frame_age_s is None and row.last_seen_at == pytest.approx(999.8)
    board.update_status("cam-1", {"state": "offline", "time": "2026-01-01T00:01:00Z", "fps": 9.0,
                                  "last_frame_age_s": None, "reason": "Connect call failed"}, now=1040)
    row = board.rows(now=1041)[0]
    assert row.state == "offline" and row.fps is None and row.last_seen_at == pytest.approx(999.8)
    board.update_status("cam-9", {"state": "online", "time": "2026-01-01T00:00:00Z"})  # not ours: ignored
    assert [r.camera for r in board.rows()] == ["cam-1"]


def test_change_hub_fans_out_to_every_subscriber_from_any_thread():
    async def run():
        hub = ChangeHub()
        a, b = hub.subscribe(), hub.subscribe()
        first = [asyncio.ensure_future(anext(a)), asyncio.ensure_future(anext(b))]
        await asyncio.sleep(0)
        await asyncio.to_thread(hub.publish, Change("alert", "inc-1"))
        got = await asyncio.wait_for(asyncio.gather(*first), 2)
        assert [c.id for c in got] == ["inc-1", "inc-1"] and all(c.at > 0 for c in got)
        await a.aclose()
        assert hub.subscribers == 1

    asyncio.run(run())


def test_next_after_login_stays_inside_the_control_room():
    assert _safe_next("/controlroom", "/controlroom/stats") == "/controlroom/stats"
    for bad in ("//evil.example/x", "https://evil.example/", "/elsewhere", "/controlroom\\..\\x", None, ""):
        assert _safe_next("/controlroom", bad) == "/controlroom/"


def test_danish_and_english_have_the_same_words():
    assert TEXT["da"].keys() == TEXT["en"].keys()


def test_users_cli_adds_lists_and_refuses_clearly(tmp_path):
    import os
    import subprocess
    import sys

    db = str(tmp_path / "users.db")
    env = {**os.environ, "NEW_PW": "a-long-password"}

    def users(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "quaywatch", "users", "--db", db, *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert users("add", "alice", "--role", "operator", "--password-env", "NEW_PW").returncode == 0
    assert users("list").stdout.split() == ["alice", "operator"]
    again = users("add", "alice", "--password-env", "NEW_PW")
    assert again.returncode == 2 and "exists already" in again.stderr and "Traceback" not in again.stderr
    short = subprocess.run([sys.executable, "-m", "quaywatch", "users", "--db", db, "add", "bob", "--password-env",
                            "NEW_PW"], env={**env, "NEW_PW": "short"}, capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    from quaywatch.controlroom.users import UserStore

    store = UserStore(db)
    assert store.authenticate("alice", "a-long-password").role == "operator"
    assert "a-long-password" not in (tmp_path / "users.db").read_bytes().decode("latin-1")  # only the hash
    store.close()


def test_person_crop_is_4_to_8_times_the_box_and_centred_on_it_even_at_the_edge():
    import cv2
    import numpy as np

    from quaywatch.controlroom.evidence_crop import crop_person

    for bbox in ([200, 120, 12, 20], [2, 270, 10, 16], [100, 100, 60, 40]):
        frame = np.full((288, 384, 3), 40, np.uint8)
        x, y, w, h = bbox
        frame[y:y + h, x:x + w] = 255
        # The edge halved the snapshot to fit the event: the box is scaled with it.
        small = cv2.resize(frame, (192, 144), interpolation=cv2.INTER_NEAREST)
        crop = crop_person(cv2.imencode(".png", small)[1].tobytes(), tuple(bbox), (384, 288))
        img = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        ys, xs = np.nonzero(img > 160)
        bright_w, bright_h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        # 4-8x the box's size on the snapshot it was cut from
        assert 4 <= bright_w / (w / 2) <= 8.5 and 4 <= bright_h / (h / 2) <= 8.5, (bbox, bright_w, bright_h)
        assert abs((xs.min() + xs.max()) / 2 - img.shape[1] / 2) <= crop.zoom  # centred
        assert abs((ys.min() + ys.max()) / 2 - img.shape[0] / 2) <= crop.zoom
    assert crop_person(b"not a jpeg", (1, 1, 2, 2), (10, 10)) is None
