"""A bad row already in the store (NaN where a number belongs, written before intake refused it, or by hand)
blinds nobody: the alert list still answers, the bad numbers shown as unknown, every other alert as it is.
Late events and the service's trouble are shown on the health page's API."""

from __future__ import annotations

import json
import time

from tests.test_controlroom_http import Harbour, client, clip_base, login, users_db  # noqa: F401 - fixtures


def test_a_nan_row_in_the_store_does_not_turn_the_alert_list_into_500(tmp_path, clip_base, users_db):  # noqa: F811
    h = Harbour(tmp_path, clip_base, users_db)
    h.dispatcher.cfg.grouping_window_s = 0  # each event its own alert
    try:
        good = h.open_alert(camera="cam-2")
        bad = h.open_alert(camera="cam-1")
        ugly = h.open_alert(camera="cam-1")
        # What Python's json wrote for an event that carried NaN, straight into the store as intake used to.
        row = h.store.events_of(bad)[0]
        payload = {**row["payload"], "confidence": float("nan"), "bbox": [1.0, float("inf"), 3.0, 4.0],
                   "frame_size": [float("nan"), 288], "location": {"lat": float("nan"), "lon": 9.9}}
        h.store.db.run("UPDATE events SET payload = ? WHERE event_id = ?", (json.dumps(payload), row["event_id"]))
        # SQLite keeps no NaN in a REAL column (it stores NULL); text that reads as NaN is what it keeps.
        h.store.db.run("UPDATE incidents SET lat = 'NaN', lon = 'Infinity', acked_at = 'nan' WHERE id = ?", (bad,))
        # A payload that is not JSON at all, and a time that is not a number.
        h.store.db.run("UPDATE events SET payload = '{\"confidence\": 0.9,' WHERE incident_id = ?", (ugly,))
        h.store.db.run("UPDATE incidents SET first_time = 'yesterday' WHERE id = ?", (ugly,))

        c = client(h)
        login(c, "vic")
        r = c.get("/controlroom/api/alerts")
        assert r.status_code == 200, r.text[:500]
        alerts = {a["id"]: a for a in r.json()["alerts"]}
        assert set(alerts) == {good, bad, ugly}
        assert alerts[good]["confidence"] == 0.9 and alerts[good]["bbox"] == [10, 20, 8, 16]
        b = alerts[bad]
        assert (b["confidence"], b["bbox"], b["lat"], b["lon"]) == (None, None, None, None)
        # No NaN reaches the map: with the fall's own position unknown, the page shows the camera's position
        # and says how unsure that is (cam-1 in demo.yaml, range 120 m), as for an uncalibrated camera.
        assert b["position"] == {"lat": 57.0502, "lon": 9.9217, "source": "camera", "uncertainty_m": 120}
        assert alerts[ugly]["confidence"] is None and alerts[ugly]["local_time"]  # opened_at stands in
        for alert_id in (good, bad, ugly):
            assert c.get(f"/controlroom/api/alerts/{alert_id}").status_code == 200
    finally:
        h.store.close()
        h.users.close()


def test_late_events_are_listed_on_the_health_api(tmp_path, clip_base, users_db):  # noqa: F811
    h = Harbour(tmp_path, clip_base, users_db)
    try:
        old = {"version": 1, "event_id": "ev-late-0001", "kind": "water_entry", "site": "demo-harbour",
               "camera": "cam-1", "time": "2001-09-09T01:46:40+00:00"}
        with h.store.db.tx():
            h.store.insert_event(old, 1_000_000_000.0, time.time(), late=True)
        c = client(h)
        login(c, "vic")
        body = c.get("/controlroom/api/health").json()
        assert [(e["event_id"], e["camera"], e["time_local"][:10]) for e in body["late"]] == \
            [("ev-late-0001", "cam-1", "2001-09-09")]
        assert body["problems"] == []
    finally:
        h.store.close()
        h.users.close()
