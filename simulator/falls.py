"""A person falling off the quay, and swimmers already in the water: the positives of the fixture set.

A fall: walk to the edge (sometimes pause), tip over towards the water while the body drops for 0.4-1 s
(gravity: slow start, fast end), a splash of spray and churned water (at water temperature, so it shows
against the warmer quay wall but barely against the water), then the head surfaces: a small warm blob
(~25-30 °C, the wet hair and skin cooled by the water) that bobs, drifts and sometimes sinks for good.

The anchor is the body's centre; `entry_t` is when it crosses the quay line (solved, not sampled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.people import BodyLook, Person, Track, body_sprite, drift, walk
from quaywatch.simulator.sprites import Ellipse, paste, render_ellipses
from quaywatch.simulator.stage import Stage


class NoRoom(ValueError):
    """The geometry has no room for this actor at the requested place; pick another."""


def edge_feet(geo: SceneGeometry, p: np.ndarray, n: np.ndarray, h: float) -> np.ndarray:
    """Where a person stands at the edge: as close as possible with feet and body centre on land."""
    for k in np.arange(0.12, 1.5, 0.04):
        feet = p - n * k * h
        if (geo.water_side(np.stack([feet, feet - [0, 0.5 * h]])) < -0.08 * h).all() and not geo.in_water(feet)[0]:
            return feet
    raise NoRoom("no land beside this part of the quay line")


def _landing(geo: SceneGeometry, p: np.ndarray, n: np.ndarray, h: float, rng: np.random.Generator) -> np.ndarray:
    """Where the body ends up in the water: out from the wall and lower in the image (the water is below)."""
    down = rng.uniform(0.1, 0.35)
    for a in np.arange(rng.uniform(0.35, 0.7), 3.0, 0.1):
        spot = p + n * a * h + np.array([0.0, down * h])
        if geo.in_water(spot, margin=0.25 * h)[0] and geo.in_frame(spot, margin=0.3 * h)[0]:
            return spot
    raise NoRoom("no water beside this part of the quay line")


@dataclass
class Fall:
    geo: SceneGeometry
    rng: np.random.Generator
    look: BodyLook
    u: float  # place along the quay line, 0..1
    drop_start: float  # seconds from script start
    head_c: float
    water_c: float
    submerge: bool = False
    pause_s: float = 0.0
    approach_h: float = 5.0  # how far (body heights) the person walks along the quay before the edge
    start: float = field(init=False)
    end: float = field(init=False)

    def __post_init__(self) -> None:
        rng, geo = self.rng, self.geo
        p, tangent, n = geo.quay_point(self.u)
        self.h = h = float(geo.person_px(p[1]))
        self.feet = edge_feet(geo, p, n, h)
        self.landing = _landing(geo, p, n, h, rng)
        direction = 1.0 if rng.random() < 0.5 else -1.0
        start_pt = self.feet
        for dist in np.linspace(self.approach_h, 0.5, 10):
            cand = self.feet + direction * tangent * dist * h - n * rng.uniform(0.2, 1.0) * h
            if geo.in_frame(cand, margin=2)[0] and not geo.in_water(cand)[0] and geo.water_side(cand)[0] < 0:
                start_pt = cand
                break
        track = walk(geo, [start_pt, self.feet], 0.0, rng.uniform(0.55, 0.8), {1: self.pause_s})
        self.walker = Person(Track(track.times + self.drop_start - track.end, track.points), self.look)
        self.drop_s = float(rng.uniform(0.4, 1.0))
        self.tilt_to = float(np.sign(n[0]) or 1.0) * rng.uniform(1.1, 1.5)
        self.com0 = self.feet - np.array([0.0, 0.5 * h])
        self.land_t = self.drop_start + self.drop_s
        self.surface_t = self.land_t + float(rng.uniform(0.3, 1.0))
        self.sink_t = self.surface_t + float(rng.uniform(2.5, 6.0)) if self.submerge else np.inf
        self.entry_t = self._solve_entry()
        self._spray = rng.normal(size=(28, 2)) * [0.5, 0.4] + [0.0, -1.1]  # velocities in h/s, mostly up
        self._spray_c = self.water_c + rng.uniform(-0.5, 0.8, 28)
        self.head_track = self._drift(rng)
        self.start = self.walker.start
        self.end = self.sink_t + 3.0

    # --- the drop --------------------------------------------------------------------------------
    def _progress(self, tau: np.ndarray | float) -> np.ndarray | float:
        return 0.3 * np.asarray(tau) + 0.7 * np.asarray(tau) ** 2  # falling: slow start, fast end

    def com(self, t: float) -> np.ndarray:
        """The body's anchor (centre) at time t: on land before the drop, at the landing spot after."""
        tau = float(np.clip((t - self.drop_start) / self.drop_s, 0, 1))
        return self.com0 + (self.landing - self.com0) * self._progress(tau)

    def _solve_entry(self) -> float:
        lo, hi = 0.0, 1.0
        side = lambda tau: float(self.geo.water_side(self.com(self.drop_start + tau * self.drop_s))[0])  # noqa: E731
        if side(0.0) >= 0 or side(1.0) <= 0:
            raise NoRoom("the fall does not cross the quay line here")
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if side(mid) < 0 else (lo, mid)
        return self.drop_start + hi * self.drop_s

    # --- after the splash ------------------------------------------------------------------------
    def _drift(self, rng: np.random.Generator) -> Track:
        """The head drifts slowly with the current, stopping where the water ends (the wall)."""
        ang = rng.uniform(0, 2 * np.pi)
        v = np.array([np.cos(ang), np.sin(ang) * 0.5]) * rng.uniform(0.03, 0.15) * self.h
        return drift(self.geo, self.landing, v, self.surface_t, 120.0, 0.2 * self.h)

    def head_at(self, t: float) -> np.ndarray:
        return self.head_track.at(t)

    def draw(self, stage: Stage, t: float) -> None:
        if t < self.drop_start:
            self.walker.draw(stage, t)
            return
        h = self.h
        tau = (t - self.drop_start) / self.drop_s
        if tau <= 1.15:
            c = self.com(t)
            tilt = self.tilt_to * min(1.0, 1.2 * tau)
            feet = c - 0.5 * h * np.array([np.sin(tilt), -np.cos(tilt)])
            alpha = float(np.clip((1.1 - tau) / 0.3, 0, 1))  # the water closes over the body
            paste(stage.field, body_sprite(feet, h, self.look, "stand", 0.0, tilt), alpha)
        if self.land_t <= t < self.land_t + 1.5:
            self._splash(stage, t - self.land_t)
        if t >= self.surface_t:
            self._head(stage, t)

    def _splash(self, stage: Stage, s: float) -> None:
        h, f = self.h, stage.field
        churn = render_ellipses([Ellipse(0, 0, (0.25 + 0.4 * s) * h, (0.1 + 0.15 * s) * h, 0.0,
                                         self.water_c + 1.2 * (1 - s / 1.5))], *self.landing)
        paste(f, churn, 0.8 * (1 - s / 1.5), where=stage.water)
        if s < 0.6:  # droplets thrown up and out, back on the water after ~0.6 s
            pos = self.landing + (self._spray * s + np.array([0.0, 1.8]) * s * s) * h
            parts = [Ellipse(x - self.landing[0], y - self.landing[1], 0.03 * h + 0.4, 0.03 * h + 0.4, 0.0, float(c))
                     for (x, y), c in zip(pos, self._spray_c, strict=True)]
            paste(f, render_ellipses(parts, *self.landing), 0.9)

    def _head(self, stage: Stage, t: float) -> None:
        h = self.h
        sink = float(np.clip((t - self.sink_t) / 1.0, 0, 1))
        if sink >= 1.0:
            if t < self.sink_t + 2.5:  # rings where the head went under
                ring = render_ellipses([Ellipse(0, 0, 0.3 * h * (t - self.sink_t), 0.12 * h * (t - self.sink_t), 0.0,
                                                self.water_c + 0.6)], *self.head_at(self.sink_t))
                paste(stage.field, ring, 0.4, where=stage.water)
            return
        dt = t - self.surface_t
        bob = np.sin(2 * np.pi * 0.7 * dt)
        p = self.head_at(t) + np.array([0.0, 0.03 * h * bob])
        r = 0.085 * h * (0.9 + 0.1 * bob) * (1 - 0.6 * sink)
        head = self.water_c + (self.head_c - self.water_c) * (1 - sink)
        parts = [Ellipse(0, 0.06 * h, 0.2 * h, 0.05 * h, 0.0, self.water_c + 2.0),  # shoulders just under
                 Ellipse(0, 0, r, r * 1.1, 0.0, head)]
        if dt < 6.0 and sink == 0:  # struggling: arms break the surface now and then
            for sgn, ph in ((-1, 0.0), (1, 1.7)):
                if np.sin(2 * np.pi * 0.9 * dt + ph) > 0.2:
                    parts.append(Ellipse(sgn * 0.2 * h, -0.02 * h, 0.05 * h, 0.04 * h, 0.0, self.head_c - 3.0))
        paste(stage.field, render_ellipses(parts, *p), 1.0)


@dataclass
class Swimmer:
    """Someone already in the water, swimming steadily: visible from `start` (surfacing), no crossing."""

    geo: SceneGeometry
    rng: np.random.Generator
    at_point: np.ndarray
    start: float
    head_c: float
    skin_c: float
    water_c: float
    end: float = np.inf

    def __post_init__(self) -> None:
        h = float(self.geo.person_px(self.at_point[1]))
        ang = self.rng.uniform(0, 2 * np.pi)
        v = np.array([np.cos(ang), 0.5 * np.sin(ang)]) * self.rng.uniform(0.15, 0.3) * h
        self.track = drift(self.geo, self.at_point, v, self.start, 300.0, 0.2 * h)  # at the wall: treads water
        self.v = v

    def draw(self, stage: Stage, t: float) -> None:
        if t < self.start or t > self.end:
            return
        p = self.track.at(t)
        h = float(self.geo.person_px(p[1]))
        dt = t - self.start
        stroke = np.sin(2 * np.pi * 0.6 * dt)
        parts = [Ellipse(0, 0.05 * h, 0.18 * h, 0.05 * h, 0.0, self.water_c + 1.5),
                 Ellipse(0, 0, 0.08 * h, 0.09 * h, 0.0, self.head_c)]
        d = self.v / (np.hypot(*self.v) + 1e-9)
        if abs(stroke) > 0.5:  # an arm comes forward out of the water, alternating sides
            side = np.sign(stroke) * np.array([-d[1], d[0]])
            ax, ay = (d * 0.2 + side * 0.12) * h
            parts.append(Ellipse(ax, ay, 0.05 * h, 0.035 * h, float(np.arctan2(d[1], d[0])), self.skin_c - 4.0))
        paste(stage.field, render_ellipses(parts, *p))  # surfaced: fully visible from its first frame
