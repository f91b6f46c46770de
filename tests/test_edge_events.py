"""Edge payloads meet the wire contract before they are stored: built from detector output, clamped where the
detector may stray, and refused with the field named where the contract is broken."""

from __future__ import annotations

import json

import pytest

from quaywatch.config import load_site
from quaywatch.config.wire import WireError, decode
from quaywatch.detector.types import Detection
from quaywatch.edge.events import camera_event, detection_event, to_wire

SITE = load_site("demo")
CAM = SITE.cameras[0]


def test_a_detection_becomes_a_valid_versioned_event():
    det = Detection("water_entry", 1795300000.25, 42, track_id=7, bbox=(-2, 30, 8, 12), confidence=float("nan"))
    payload = decode("event", to_wire(detection_event("demo-harbour", CAM, det, (384, 288), {"clip_url":
                                                      "http://127.0.0.1:8710/evidence/x.mp4"})))
    assert payload["version"] == 1 and payload["kind"] == "water_entry" and payload["camera"] == CAM.id
    assert payload["time"] == "2026-11-21T22:26:40.250Z"
    assert payload["bbox"] == [0, 30, 8, 12]  # a box hanging off the frame edge is clamped, not refused
    assert payload["confidence"] == 0.0  # NaN cannot travel as JSON
    assert payload["location"] == {"lat": CAM.location.lat, "lon": CAM.location.lon, "uncertainty_m": 25.0,
                                   "source": "camera"}  # no calibration tied to the map: the camera, said so
    assert payload["evidence"]["clip_url"].endswith("x.mp4")


def test_each_event_gets_its_own_id():
    a = camera_event("demo-harbour", CAM, "camera_offline", 0.0, "dark")
    b = camera_event("demo-harbour", CAM, "camera_offline", 0.0, "dark")
    assert a["event_id"] != b["event_id"]
    assert json.loads(to_wire(a))["message"] == "dark"


def test_a_payload_that_breaks_the_contract_is_refused_naming_the_field():
    bad = camera_event("Not A Slug", CAM, "camera_offline", 0.0, "dark")
    with pytest.raises(WireError, match=r"event: site: "):
        to_wire(bad)


def test_a_calibrated_camera_places_the_person_not_the_camera_on_the_map():
    """Issue 14: the fall's own position. With a calibration tied to the map, the box's foot is projected to
    the water plane; without one, the camera's position goes out, said to be only that."""
    from quaywatch.config import site_from_dict
    from quaywatch.detector.calibration import ground_latlon

    base = {"id": "cam-1", "name": "Kaj", "source": "sim://harbour?seed=1", "resolution": [384, 288],
            "water": [[0, 150], [383, 150], [383, 287], [0, 287]], "quay_line": [[0, 150], [383, 150]],
            "location": {"lat": 57.05, "lon": 9.92}}
    calibrated = dict(base, calibration={
        "points": [[50, 280, -6, 8], [330, 280, 6, 8], [120, 160, -6, 40], [260, 160, 6, 40]],
        "camera_height_m": 6.0, "freeboard_m": 1.0, "origin": {"lat": 57.05, "lon": 9.92, "bearing_deg": 0}})
    site = site_from_dict({"site": {"id": "s", "name": "S"}, "cameras": [calibrated, dict(base, id="cam-2")]})
    det = Detection("water_entry", 1000.0, 0, 1, (180, 200, 10, 20), 0.9)
    here = detection_event("s", site.camera("cam-1"), det, (384, 288))["location"]
    expected = ground_latlon(site.camera("cam-1"), det.bbox, (288, 384))
    assert here["source"] == "calibration" and expected is not None
    assert (here["lat"], here["lon"]) == (round(expected[0], 7), round(expected[1], 7))
    assert (here["lat"], here["lon"]) != (57.05, 9.92) and here["lat"] > 57.05  # out on the water, north of the camera
    assert decode("event", to_wire(detection_event("s", site.camera("cam-1"), det, (384, 288))))  # on the contract
    plain = detection_event("s", site.camera("cam-2"), det, (384, 288))["location"]
    assert plain["source"] == "camera" and (plain["lat"], plain["lon"]) == (57.05, 9.92) and plain["uncertainty_m"] > 0
