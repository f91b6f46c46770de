"""Birds: gulls flying over (small, fast, gone in a few seconds) and ducks paddling on the water
(small, slow, a little warmer than the water but much cooler than a human head)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.people import Track, drift
from quaywatch.simulator.sprites import Ellipse, paste, render_ellipses
from quaywatch.simulator.stage import Stage


@dataclass
class Gull:
    """A straight pass across the frame at 8-15 m/s; flapping changes its apparent span."""

    geo: SceneGeometry
    rng: np.random.Generator
    a: np.ndarray  # entry point (usually outside the frame)
    b: np.ndarray  # exit point
    start: float
    temp_c: float
    end: float = field(init=False)

    def __post_init__(self) -> None:
        mid = (self.a + self.b) / 2
        self.size = float(self.geo.person_px(np.clip(mid[1], 0, self.geo.height))) * self.rng.uniform(0.2, 0.3)
        speed = self.rng.uniform(4.5, 8.5) * self.size / 0.25  # body heights/s of a person there
        self.end = self.start + float(np.hypot(*(self.b - self.a))) / speed
        self.track = Track(np.array([self.start, self.end]), np.stack([self.a, self.b]))
        self.flap_hz = self.rng.uniform(2.5, 4.0)

    def draw(self, stage: Stage, t: float) -> None:
        if not (self.start <= t <= self.end):
            return
        p = self.track.at(t)
        s = self.size
        flap = 0.5 + 0.5 * np.sin(2 * np.pi * self.flap_hz * t)
        d = self.b - self.a
        ang = float(np.arctan2(d[1], d[0]))
        parts = [Ellipse(0, 0, 0.5 * s * (0.5 + 0.5 * flap), 0.12 * s, ang + np.pi / 2, self.temp_c - 3),  # wings
                 Ellipse(0, 0, 0.3 * s, 0.12 * s, ang, self.temp_c)]
        paste(stage.field, render_ellipses(parts, *p))


@dataclass
class Duck:
    """A duck on the water drifting slowly; now and then it dives and comes up elsewhere."""

    geo: SceneGeometry
    rng: np.random.Generator
    at_point: np.ndarray
    start: float
    end: float
    body_c: float  # water + 3..6 °C
    head_c: float
    dives: bool = False

    def __post_init__(self) -> None:
        ang = self.rng.uniform(0, 2 * np.pi)
        h = float(self.geo.person_px(self.at_point[1]))
        v = np.array([np.cos(ang), 0.4 * np.sin(ang)]) * self.rng.uniform(0.04, 0.15) * h
        self.track = drift(self.geo, self.at_point, v, self.start, self.end - self.start + 1.0, 0.1 * h)
        self.heading = float(np.sign(v[0]) or 1.0)
        self.dive_every = self.rng.uniform(15, 40)
        self.phase = self.rng.uniform(0, 1)

    def draw(self, stage: Stage, t: float) -> None:
        if not (self.start <= t <= self.end):
            return
        if self.dives and ((t / self.dive_every + self.phase) % 1.0) < 0.12:
            return  # under water for a few seconds
        p = self.track.at(t)
        h = float(self.geo.person_px(p[1]))
        bob = 0.01 * h * np.sin(2 * np.pi * 0.5 * t + self.phase * 6)
        parts = [Ellipse(0, bob, 0.11 * h, 0.045 * h, 0.0, self.body_c),
                 Ellipse(self.heading * 0.09 * h, bob - 0.05 * h, 0.03 * h, 0.03 * h, 0.0, self.head_c)]
        paste(stage.field, render_ellipses(parts, *p), where=stage.water)
