"""Build the edge's wire payloads (config/schemas/event.schema.json), each with a fresh event id.

Building here and validating with `wire.encode` before anything is stored means a payload that breaks
the contract is caught at the edge, named, and never reaches the outbox.
"""

from __future__ import annotations

import logging
import math
import time
import uuid

from quaywatch.config import Camera
from quaywatch.config.wire import encode
from quaywatch.detector.calibration import ground_latlon
from quaywatch.detector.types import Detection
from quaywatch.edge.mqtt import utc_iso

log = logging.getLogger(__name__)


def new_event_id() -> str:
    return str(uuid.uuid4())


def _base(site_id: str, camera: Camera, kind: str, t: float, event_id: str | None, drill: bool) -> dict:
    payload = {
        "version": 1, "event_id": event_id or new_event_id(), "kind": kind, "site": site_id,
        "camera": camera.id, "time": utc_iso(t), "detected_time": utc_iso(time.time()),
    }
    if drill:
        payload["drill"] = True
    if camera.location is not None:
        payload["location"] = {"lat": camera.location.lat, "lon": camera.location.lon}
    return payload


def detection_event(site_id: str, camera: Camera, detection: Detection, frame_size: tuple[int, int],
                    evidence: dict | None = None, event_id: str | None = None, drill: bool = False) -> dict:
    """A water_entry / person_in_water alert; `detection.t` is wall-clock epoch seconds on the live edge."""
    payload = _base(site_id, camera, detection.kind, detection.t, event_id, drill)
    payload.update({
        "track_id": int(detection.track_id),
        "bbox": [max(0, int(v)) for v in detection.bbox],
        "confidence": _unit(detection.confidence),
        "frame_size": [int(frame_size[0]), int(frame_size[1])],
        "message": f"{detection.kind.replace('_', ' ')} at {camera.name}",
    })
    where = _where(camera, detection, frame_size)
    if where is not None:
        payload["location"] = where
    if evidence:
        payload["evidence"] = evidence
    return payload


def _where(camera: Camera, detection: Detection, frame_size: tuple[int, int]) -> dict | None:
    """The person's own spot on the map: the box's foot projected to the water plane with the camera's
    calibration (when it has one tied to the map), else the camera's position; with how far off it may be.
    A projection that fails never costs the event: it keeps the camera's position (logged)."""
    try:
        found = ground_latlon(camera, detection.bbox, (int(frame_size[1]), int(frame_size[0])),
                              on_water=detection.kind in ("water_entry", "person_in_water"))
    except Exception:
        log.warning("camera %s: the detection could not be placed on the map; the camera's position is sent",
                    camera.id, exc_info=True)
        return None
    if found is None or not all(math.isfinite(v) for v in found):
        return None
    lat, lon, sigma = found
    at_camera = camera.location is not None and (lat, lon) == (camera.location.lat, camera.location.lon)
    return {"lat": round(lat, 7), "lon": round(lon, 7), "uncertainty_m": round(min(sigma, 100_000.0), 1),
            "source": "camera" if at_camera else "calibration"}


def camera_event(site_id: str, camera: Camera, kind: str, t: float, message: str) -> dict:
    """camera_offline / camera_online: the control room must know when a camera is blind."""
    payload = _base(site_id, camera, kind, t, None, False)
    payload["message"] = message[:500]
    return payload


def _unit(value: float) -> float:
    """A confidence in [0, 1]; NaN (which JSON cannot carry) counts as no confidence at all."""
    v = float(value)
    return 0.0 if math.isnan(v) else round(min(1.0, max(0.0, v)), 3)


def to_wire(payload: dict) -> bytes:
    return encode("event", payload)
