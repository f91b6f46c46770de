"""People on the quay: a body sprite in perspective, walking / standing / sitting, with reflections.

Body proportions in units of the standing height h (px at the feet's image row): legs to 0.5 h, torso to
0.8 h, head ~0.15 h across, width ~0.38 h (the Aalborg camera shows people ~9x24 px near the quay edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.sprites import Ellipse, Sprite, paste, render_ellipses
from quaywatch.simulator.stage import Stage


@dataclass
class Track:
    """A piecewise-linear path in image px: position at time t, held at the ends."""

    times: np.ndarray
    points: np.ndarray  # (N, 2)

    def at(self, t: float) -> np.ndarray:
        return np.array([np.interp(t, self.times, self.points[:, 0]), np.interp(t, self.times, self.points[:, 1])])

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])


def walk(geo: SceneGeometry, waypoints: list[np.ndarray], t0: float, speed_h: float,
         pauses: dict[int, float] | None = None, dt: float = 0.05) -> Track:
    """Walk through waypoints at `speed_h` body heights per second (perspective: slower in px far away).
    `pauses[i]` = seconds standing still at waypoint i."""
    pauses = pauses or {}
    times, pts = [t0], [np.asarray(waypoints[0], float)]
    t, p = t0, np.asarray(waypoints[0], float)
    for i, target in enumerate(waypoints[1:], start=1):
        target = np.asarray(target, float)
        while True:
            step = speed_h * float(geo.person_px(p[1])) * dt
            gap = target - p
            dist = float(np.hypot(*gap))
            if dist <= step:
                t += dt * dist / max(step, 1e-9)
                p = target
                break
            p = p + gap / dist * step
            t += dt
            times.append(t)
            pts.append(p)
        times.append(t)
        pts.append(p)
        if pauses.get(i):
            t += pauses[i]
            times.append(t)
            pts.append(p)
    return Track(np.array(times), np.array(pts))


def drift(geo: SceneGeometry, p0: np.ndarray, v: np.ndarray, t0: float, seconds: float, margin_px: float) -> Track:
    """Float from p0 at v px/s, stopping where the water (less a margin) or the frame ends: at the wall."""
    times = t0 + np.arange(0, seconds, 0.5)
    pts = p0 + v * (times - t0)[:, None]
    ok = geo.in_water(pts, margin=margin_px) & geo.in_frame(pts, margin=2)
    stop = int(np.argmin(ok)) if not ok.all() else len(pts)
    pts[stop:] = pts[max(stop - 1, 0)]
    return Track(times, pts)


@dataclass
class BodyLook:
    clothes_c: float
    skin_c: float
    width: float = 1.0  # build, multiplies the body width


def body_sprite(feet: np.ndarray, h: float, look: BodyLook, pose: str = "stand", phase: float = 0.0,
                tilt: float = 0.0, facing: np.ndarray | None = None) -> Sprite:
    """A person whose feet are at image point `feet`, h px tall, tilted by `tilt` radians about the
    feet (positive = top towards +x). Poses: stand, walk (legs swing with `phase`), sit (legs towards
    the image direction `facing`, e.g. over the quay edge)."""
    w = look.width
    c, s = np.cos(tilt), np.sin(tilt)

    def at(u: float, v: float) -> tuple[float, float]:
        """Body coordinates (u across, v up from the feet, both in h) to sprite-relative px."""
        return (u * c + v * s) * h, (u * s - v * c) * h  # image y grows downwards

    legs_c = look.clothes_c - 1.0
    parts: list[Ellipse] = []
    if pose == "sit":
        # Sitting on the edge: a short torso, thighs forward, shins hanging over the edge.
        f = np.array([1.0, 0.0]) if facing is None else np.asarray(facing, float) / np.hypot(*facing)
        side = np.array([-f[1], f[0]])
        for du in (-0.04, 0.04):
            cx, cy = (f * 0.14 + side * du) * h + np.array([0.0, -0.06 * h])
            parts.append(Ellipse(cx, cy, 0.15 * h, 0.05 * h * w, float(np.arctan2(f[1], f[0])), legs_c))
        torso_v, head_v = 0.28, 0.5
        parts.append(Ellipse(*at(0.0, torso_v), 0.13 * h * w, 0.17 * h, tilt, look.clothes_c))
    else:
        swing = 0.28 * np.sin(phase) if pose == "walk" else 0.04
        for sgn in (-1, 1):
            ang = sgn * swing
            parts.append(Ellipse(*at(0.25 * np.sin(ang) + sgn * 0.04, 0.26), 0.05 * h * w, 0.25 * h,
                                 tilt + ang, legs_c))
        arm = 0.2 * np.sin(phase + np.pi) if pose == "walk" else 0.0
        for sgn in (-1, 1):
            parts.append(Ellipse(*at(sgn * 0.15 + 0.1 * np.sin(sgn * arm), 0.62), 0.035 * h * w, 0.15 * h,
                                 tilt + sgn * arm, look.clothes_c - 0.5))
        parts.append(Ellipse(*at(0.0, 0.64), 0.13 * h * w, 0.17 * h, tilt, look.clothes_c))
        head_v = 0.89
    parts.append(Ellipse(*at(0.0, head_v), 0.075 * h, 0.085 * h, tilt, look.skin_c))
    return render_ellipses(parts, float(feet[0]), float(feet[1]))


def draw_with_reflections(stage: Stage, sprite: Sprite, feet: np.ndarray, h: float, alpha: float = 1.0) -> None:
    """Draw a person, and where the physics calls for it, a dimmer mirrored copy: on rain-wet paving right
    below the feet, and on the water surface below the quay wall when standing near the edge."""
    field_ = stage.field
    if stage.wet_ground:
        paste(field_, sprite.flipped(feet[1], 0.4, blur=0.7), alpha, where=~stage.water)
    near_edge = -float(stage.geo.water_side(feet)[0]) < 1.2 * h
    if near_edge:
        # The water lies ~0.2-0.4 h below the quay top; its mirror axis is that far below the feet.
        paste(field_, sprite.flipped(feet[1] + 0.3 * h, 0.3, blur=1.0), alpha, where=stage.water)
    paste(field_, sprite, alpha)


@dataclass
class Person:
    """Someone on the quay following a track: walking while it moves, standing (or sitting) when it rests."""

    track: Track
    look: BodyLook
    sitting: bool = False
    facing: np.ndarray | None = None  # where a sitter's legs point (towards the water)
    stride_hz: float = 1.8
    start: float = field(init=False)
    end: float = field(init=False)

    def __post_init__(self) -> None:
        self.start, self.end = self.track.start, self.track.end

    def draw(self, stage: Stage, t: float) -> None:
        if not (self.start <= t <= self.end):
            return
        feet = self.track.at(t)
        moving = float(np.hypot(*(self.track.at(t + 0.1) - self.track.at(t - 0.1)))) > 0.05
        h = float(stage.geo.person_px(feet[1]))
        pose = "walk" if moving else ("sit" if self.sitting else "stand")
        sprite = body_sprite(feet, h, self.look, pose, 2 * np.pi * self.stride_hz * t, facing=self.facing)
        draw_with_reflections(stage, sprite, feet, h)
