"""What a message says about an incident: where (the fall's own position, or its camera's with an uncertainty),
when, which cameras, and the evidence link. One place, so the SMS, the phone page and the CAP feed agree.

Intake stores the event's own `location` (the fall projected to the ground) when the edge sends one, else the
camera's configured position. Which of the two an incident carries is told by comparing with the camera's:
an event's projected spot never lands on the camera's own coordinates to the last decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quaywatch.alerting.notify.templates import AlertFacts
from quaywatch.config.site import Site


@dataclass(frozen=True)
class Position:
    lat: float
    lon: float
    approx: bool               # the camera's position: the fall is somewhere in its view
    uncertainty_m: float       # 0 when the fall's own spot is known


def position_of(site: Site, inc: dict[str, Any]) -> Position | None:
    if inc.get("lat") is None or inc.get("lon") is None:
        return None
    first = (inc.get("cameras") or "").split(",")[0]
    cam = next((c for c in site.cameras if c.id == first), None)
    at_camera = bool(cam and cam.location and cam.location.lat == inc["lat"] and cam.location.lon == inc["lon"])
    return Position(inc["lat"], inc["lon"], at_camera, site.alerting.position_uncertainty_m if at_camera else 0.0)


def incident_facts(site: Site, inc: dict[str, Any], link: str | None = None) -> AlertFacts:
    cameras = tuple(inc["cameras"].split(","))
    cam = next((c for c in site.cameras if c.id == cameras[0]), None)
    pos = position_of(site, inc)
    return AlertFacts(
        kind=inc["kind"], drill=bool(inc["drill"]), place=cam.name if cam else cameras[0], cameras=cameras,
        time=datetime.fromtimestamp(inc["first_time"], UTC), timezone=site.site.timezone,
        code=inc["ack_code"], lat=pos.lat if pos else None, lon=pos.lon if pos else None,
        approx=bool(pos and pos.approx), uncertainty_m=pos.uncertainty_m if pos else None, link=link,
    )
