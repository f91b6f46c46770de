"""Motor boats: large, fast, a hull near air temperature, a hot engine and exhaust at the stern, and a
wake of churned (slightly warmer-looking) water behind. A hot engine entering the view is also what
makes a real camera's AGC jump."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.people import Track
from quaywatch.simulator.sprites import Ellipse, paste, render_ellipses
from quaywatch.simulator.stage import Stage


@dataclass
class Boat:
    geo: SceneGeometry
    rng: np.random.Generator
    offset_h: float  # distance from the quay line into the water, in body heights
    start: float
    hull_c: float
    engine_c: float  # 40-80 °C
    water_c: float
    reverse: bool = False
    end: float = field(init=False)

    def __post_init__(self) -> None:
        us = np.linspace(-0.15, 1.15, 27)
        pts = []
        for u in us:
            p, tangent, n = self.geo.quay_point(np.clip(u, 0, 1))
            p = p + tangent * (u - np.clip(u, 0, 1)) * self.geo.quay_length
            pts.append(p + n * self.offset_h * float(self.geo.person_px(p[1])))
        pts = np.array(pts[::-1] if self.reverse else pts)
        speed_h = self.rng.uniform(2.0, 5.0)
        seg = np.hypot(*np.diff(pts, axis=0).T)
        hmid = self.geo.person_px(np.clip((pts[1:, 1] + pts[:-1, 1]) / 2, 0, self.geo.height))
        times = self.start + np.concatenate([[0.0], np.cumsum(seg / (speed_h * hmid))])
        self.track = Track(times, pts)
        self.end = float(times[-1])

    def draw(self, stage: Stage, t: float) -> None:
        if not (self.start <= t <= self.end):
            return
        p = self.track.at(t)
        ahead = self.track.at(t + 0.2) - p
        ang = float(np.arctan2(ahead[1], ahead[0]))
        h = float(self.geo.person_px(np.clip(p[1], 0, self.geo.height)))
        d = np.array([np.cos(ang), np.sin(ang)])
        L = 1.8 * h  # half length of a ~6 m boat
        wake = [Ellipse(*(-d * (L + k * 0.8 * h)), 0.9 * h * (1 + 0.3 * k), 0.25 * h * (1 + 0.4 * k), ang,
                        self.water_c + 1.0 / (1 + k)) for k in range(4)]
        paste(stage.field, render_ellipses(wake, *p), 0.6, where=stage.water)
        hull = [Ellipse(0, 0, L, 0.32 * h, ang, self.hull_c),
                Ellipse(*(d * 0.2 * h + [0, -0.35 * h]), 0.6 * h, 0.25 * h, ang, self.hull_c + 3.0),  # cabin
                Ellipse(*(-d * 0.85 * L + [0, -0.1 * h]), 0.25 * h, 0.18 * h, ang, self.engine_c),  # outboard
                Ellipse(*(-d * 1.05 * L + [0, -0.25 * h]), 0.3 * h, 0.15 * h, ang, (self.engine_c + self.water_c) / 2)]
        paste(stage.field, render_ellipses(hull, *p))
