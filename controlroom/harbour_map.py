"""What the page's map draws (with Leaflet, no tiles): the site's quays and water, each camera's view
cone, and where the person went in.

The fall's position is the event's latitude/longitude when the edge projected the detection to the
ground. Until a camera is calibrated, the edge sends the camera's own position; that is no position of
the person, so the map then says so: the camera's position with an uncertainty circle of the camera's
view range (how far it can see a person).
"""

from __future__ import annotations

import math
from typing import Any

from quaywatch.controlroom.backend import Alert, CameraInfo

EARTH_M = 6_371_000.0
DEFAULT_RANGE_M = 150.0     # a thermal camera on a quay sees a person in the water to about this far
SAME_SPOT_M = 2.0           # an event position this close to its camera is the camera's own position


def metres_between(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    dx = math.radians(lon1 - lon0) * EARTH_M * math.cos(math.radians((lat0 + lat1) / 2))
    dy = math.radians(lat1 - lat0) * EARTH_M
    return math.hypot(dx, dy)


def offset(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point `metres` from (lat, lon) towards `bearing_deg` (flat-earth: a harbour is small)."""
    b = math.radians(bearing_deg)
    dlat = metres * math.cos(b) / EARTH_M
    dlon = metres * math.sin(b) / (EARTH_M * math.cos(math.radians(lat)))
    return round(lat + math.degrees(dlat), 7), round(lon + math.degrees(dlon), 7)


def view_cone(cam: CameraInfo, steps: int = 12) -> list[tuple[float, float]] | None:
    """[(lat, lon), ...]: the camera, then an arc at its range across its field of view."""
    if cam.lat is None or cam.lon is None or cam.bearing_deg is None or cam.fov_deg is None:
        return None
    reach = cam.range_m or DEFAULT_RANGE_M
    start = cam.bearing_deg - cam.fov_deg / 2
    arc = [offset(cam.lat, cam.lon, start + cam.fov_deg * i / steps, reach) for i in range(steps + 1)]
    return [(cam.lat, cam.lon), *arc]


def map_json(cameras: list[CameraInfo], geojson: dict[str, Any] | None) -> dict[str, Any] | None:
    placed = [c for c in cameras if c.lat is not None and c.lon is not None]
    if not placed and geojson is None:
        return None
    return {
        "geojson": geojson,
        "cameras": [{"id": c.id, "name": c.name, "lat": c.lat, "lon": c.lon, "cone": view_cone(c)} for c in placed],
    }


def fall_position(alert: Alert, cameras: dict[str, CameraInfo]) -> dict[str, Any] | None:
    """{lat, lon, source: ground | camera, uncertainty_m}; None when nothing at all is known."""
    own = [cameras[c] for c in alert.cameras if c in cameras and cameras[c].lat is not None]
    if alert.lat is not None and alert.lon is not None:
        at_camera = any(metres_between(alert.lat, alert.lon, c.lat, c.lon) <= SAME_SPOT_M for c in own)  # type: ignore[arg-type]
        if not at_camera:
            return {"lat": alert.lat, "lon": alert.lon, "source": "ground", "uncertainty_m": None}
    if own:
        cam = own[0]
        return {"lat": cam.lat, "lon": cam.lon, "source": "camera",
                "uncertainty_m": round(cam.range_m or DEFAULT_RANGE_M)}
    if alert.lat is not None and alert.lon is not None:
        return {"lat": alert.lat, "lon": alert.lon, "source": "camera", "uncertainty_m": round(DEFAULT_RANGE_M)}
    return None
