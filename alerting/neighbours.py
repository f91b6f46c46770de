"""Which cameras can see the same incident, so that their events page once.

Two cameras group when they are the same camera, when the site lists them together in
`alerting.overlapping_cameras`, or when both have a location and stand within `alerting.grouping_radius_m`
of each other. Cameras far apart never group: two people in the water at two quays are two incidents,
and the first SMS of each must name its own place.
"""

from __future__ import annotations

import math

from quaywatch.config.site import Site

EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def neighbours(site: Site) -> dict[str, frozenset[str]]:
    """camera id -> the cameras (itself included) whose events may join the same incident."""
    cfg = site.alerting
    near: dict[str, set[str]] = {c.id: {c.id} for c in site.cameras}
    located = [c for c in site.cameras if c.location is not None]
    for i, a in enumerate(located):
        for b in located[i + 1:]:
            if distance_m(a.location.lat, a.location.lon, b.location.lat, b.location.lon) <= cfg.grouping_radius_m:
                near[a.id].add(b.id)
                near[b.id].add(a.id)
    for group in cfg.overlapping_cameras:
        for cam in group:
            near[cam].update(group)
    return {cam: frozenset(ids) for cam, ids in near.items()}
