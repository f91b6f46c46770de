"""A harbour map without map tiles: camera positions (lat/lon) projected onto a 1000x600 drawing.

Equirectangular with the longitude scaled by cos(latitude) keeps a few hundred metres of quay in true
proportion; the box is padded so the outermost cameras are not on the edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quaywatch.controlroom.backend import CameraInfo

WIDTH, HEIGHT, PAD = 1000, 600, 90


@dataclass(frozen=True)
class HarbourMap:
    lat0: float
    lon0: float
    scale: float          # drawing units per metre
    cx: float
    cy: float

    @classmethod
    def fit(cls, cameras: list[CameraInfo]) -> HarbourMap | None:
        points = [(c.lat, c.lon) for c in cameras if c.lat is not None and c.lon is not None]
        if not points:
            return None
        lat0 = sum(p[0] for p in points) / len(points)
        lon0 = sum(p[1] for p in points) / len(points)
        metres = [_metres(lat0, lon0, lat, lon) for lat, lon in points]
        span_x = max(abs(x) for x, _ in metres) or 1.0
        span_y = max(abs(y) for _, y in metres) or 1.0
        # At least 150 m across, so one camera alone still shows its surroundings at a sane scale.
        scale = min((WIDTH / 2 - PAD) / max(span_x, 75.0), (HEIGHT / 2 - PAD) / max(span_y, 75.0))
        return cls(lat0, lon0, scale, WIDTH / 2, HEIGHT / 2)

    def xy(self, lat: float | None, lon: float | None) -> tuple[float, float] | None:
        if lat is None or lon is None:
            return None
        x, y = _metres(self.lat0, self.lon0, lat, lon)
        return round(self.cx + x * self.scale, 1), round(self.cy - y * self.scale, 1)

    def metres_per_unit(self) -> float:
        return 1.0 / self.scale


def _metres(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    r = 6_371_000.0
    return (math.radians(lon - lon0) * r * math.cos(math.radians(lat0)), math.radians(lat - lat0) * r)
