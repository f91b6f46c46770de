"""The wire contract both sides validate: good payloads pass; every kind of bad one is named."""

import json

import pytest

from quaywatch.config.wire import MAX_PAYLOAD_BYTES, WireError, decode, encode

GOOD = {
    "version": 1, "event_id": "0b6f3c1e-8d7a-4a57-9b7e-2f0c5a1d9e11", "kind": "water_entry",
    "site": "aalborg-havnefront", "camera": "cam-1", "time": "2026-11-22T22:41:07.120Z",
    "track_id": 7, "bbox": [40, 120, 9, 24], "confidence": 0.91, "drill": False,
    "location": {"lat": 57.05, "lon": 9.92},
    "evidence": {"snapshot_jpeg_b64": "/9j/4AAQ", "clip_url": "http://127.0.0.1:8081/evidence/x.mp4"},
}


def test_good_event_round_trips():
    assert decode("event", encode("event", GOOD)) == GOOD


def test_danish_text_survives():
    payload = {**GOOD, "kind": "camera_offline", "message": "Honnørkajen: ingen billeder i 30 s (æøå)"}
    assert decode("event", encode("event", payload))["message"].endswith("(æøå)")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (json.dumps({**GOOD, "version": 2}).encode(), "unsupported version 2"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "camera"}).encode(), "'camera' is a required property"),
        (json.dumps({**GOOD, "kind": "fire"}).encode(), "kind: 'fire' is not one of"),
        (json.dumps({**GOOD, "bbox": [1, 2, 3]}).encode(), "bbox:"),
        (json.dumps({**GOOD, "confidence": 1.5}).encode(), "confidence: 1.5 is greater than the maximum"),
        (json.dumps({**GOOD, "time": "yesterday"}).encode(), "time: 'yesterday' is not a 'date-time'"),
        (json.dumps({**GOOD, "extra": 1}).encode(), "Additional properties are not allowed"),
        (json.dumps([1, 2]).encode(), "(top level)"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
    ],
)
def test_bad_payloads_are_named(raw, expected):
    with pytest.raises(WireError) as exc:
        decode("event", raw)
    assert expected in str(exc.value)


def test_status_payload():
    status = {"version": 1, "state": "degraded", "time": "2026-11-22T22:41:07Z", "camera": "cam-1",
              "fps": 8.7, "last_frame_age_s": 2.5, "reconnects": 1}
    assert decode("status", encode("status", status))["state"] == "degraded"
    with pytest.raises(WireError, match="state"):
        encode("status", {**status, "state": "asleep"})
