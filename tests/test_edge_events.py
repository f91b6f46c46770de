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
    assert payload["location"] == {"lat": CAM.location.lat, "lon": CAM.location.lon}
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
