"""Who is in a random world and what they do, in metres and seconds: walkers, crowds standing and sitting at the
edge, falls (some go under, some behind the wall foot), swimmers, boats with a skipper, ducks, gulls.

Every actor is a function of time returning capsules (see world_render.Capsule); the ground truth comes
from what the renderer then reports as seen (an event nobody could see is labelled invisible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from quaywatch.simulator.climate import Climate
from quaywatch.simulator.world import World
from quaywatch.simulator.world_render import Capsule

G = 9.81


def _v(*xyz: float) -> np.ndarray:
    return np.array(xyz, np.float64)

Rng = np.random.Generator


@dataclass
class Look:
    height: float
    build: float  # 0.8 slim .. 1.3 broad
    clothes: float
    legs: float
    skin: float


def random_look(rng: Rng, c: Climate) -> Look:
    clothes = c.clothes_c + rng.uniform(-1.5, 1.5)
    cold_legs = rng.random() < 0.4  # thick trousers in winter show as cold as the paving
    legs = (c.quay_c + rng.uniform(-0.5, 1.5)) if cold_legs else clothes + rng.uniform(-1, 1)
    if c.season == "summer" and rng.random() < 0.4:
        legs = c.skin_c - rng.uniform(0, 2)  # shorts
    return Look(float(rng.uniform(1.55, 1.95)), float(rng.uniform(0.8, 1.3)), float(clothes), float(legs),
                float(c.skin_c + rng.uniform(-1, 1)))


def body(feet: np.ndarray, look: Look, owner: int, tilt: np.ndarray | None = None, phase: float = 0.0,
         facing: np.ndarray | None = None, sitting_edge: np.ndarray | None = None) -> list[Capsule]:
    """A standing (or tilted, or sitting) person as four capsules. `tilt`: unit vector of the body axis
    (default straight up); `phase`: walking gait; `sitting_edge`: the outward normal when sitting on an edge
    with the legs hanging down the wall."""
    axis = np.array([0.0, 0.0, 1.0]) if tilt is None else tilt
    h, b = look.height, look.build
    if sitting_edge is not None:
        seat = feet + np.array([0, 0, 0.05])
        knee = seat + np.array([*(sitting_edge * 0.35), 0.0])
        return [Capsule(knee, knee + np.array([*(sitting_edge * 0.1), -0.45]), 0.08 * b, look.legs, owner),
                Capsule(seat, knee, 0.09 * b, look.legs, owner),
                Capsule(seat + _v(0, 0, 0.1), seat + _v(0, 0, 0.55), 0.18 * b, look.clothes, owner),
                Capsule(seat + _v(0, 0, 0.72), seat + _v(0, 0, 0.72), 0.11, look.skin, owner)]
    fwd = np.array([*(facing if facing is not None else (1.0, 0.0)), 0.0])
    swing = 0.18 * math.sin(phase)
    hip = feet + axis * 0.47 * h
    legs = [Capsule(feet + fwd * swing + axis * 0.05, hip, 0.075 * b, look.legs, owner),
            Capsule(feet - fwd * swing + axis * 0.05, hip, 0.075 * b, look.legs, owner)]
    torso = Capsule(hip + axis * 0.08, feet + axis * 0.8 * h, 0.17 * b, look.clothes, owner)
    head = Capsule(feet + axis * 0.93 * h, feet + axis * 0.94 * h, 0.105, look.skin, owner)
    return [*legs, torso, head]


class Walker:
    def __init__(self, path: np.ndarray, t0: float, speed: float, look: Look, owner: int, pause: tuple | None = None):
        seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
        self.path, self.cum, self.t0, self.speed, self.look, self.owner = path, np.concatenate([[0], np.cumsum(seg)]), t0, speed, look, owner
        self.pause = pause  # (at distance m, seconds)

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray, bool]:
        s = (t - self.t0) * self.speed
        if self.pause and s > self.pause[0]:
            s = max(self.pause[0], s - self.pause[1] * self.speed)
        alive = 0 <= s <= self.cum[-1]
        s = float(np.clip(s, 0, self.cum[-1]))
        x, y = np.interp(s, self.cum, self.path[:, 0]), np.interp(s, self.cum, self.path[:, 1])
        k = min(int(np.searchsorted(self.cum, s, side="right")) - 1, len(self.path) - 2)
        d = self.path[k + 1] - self.path[k]
        return np.array([x, y, 0.0]), d / max(np.linalg.norm(d), 1e-9), alive

    def capsules(self, t: float) -> list[Capsule]:
        feet, d, alive = self.at(t)
        if not alive:
            return []
        return body(feet, self.look, self.owner, phase=(t - self.t0) * self.speed * 3.2, facing=d)


class Still:
    """Someone standing (swaying a little) or sitting on the edge, from t0 to t1."""

    def __init__(self, feet: np.ndarray, t0: float, t1: float, look: Look, owner: int, sit_normal: np.ndarray | None):
        self.feet, self.t0, self.t1, self.look, self.owner, self.sit = np.array([*feet, 0.0]), t0, t1, look, owner, sit_normal

    def capsules(self, t: float) -> list[Capsule]:
        if not self.t0 <= t <= self.t1:
            return []
        sway = np.array([0.03 * math.sin(1.3 * t + self.owner), 0.03 * math.cos(0.9 * t + self.owner), 0.0])
        return body(self.feet + sway, self.look, self.owner, sitting_edge=self.sit)


class Fall:
    """Walks to the edge, (pauses,) steps or topples over it, drops the freeboard, goes under, and (mostly)
    surfaces and treads water. `surface_after`: seconds under before the head comes up (None: never);
    `stay`: seconds the head stays up before going under for good (None: stays)."""

    def __init__(self, world: World, edge_point: np.ndarray, normal: np.ndarray, t_entry: float, look: Look,
                 owner: int, rng: Rng, surface_after: float | None, stay: float | None, out_m: float):
        self.world, self.look, self.owner, self.n = world, look, owner, normal
        self.t_entry = t_entry
        approach = float(rng.uniform(2.0, 6.0))
        along = np.array([-normal[1], normal[0]]) * float(rng.choice([-1, 1]))
        start = edge_point - normal * rng.uniform(1.0, 4.0) + along * rng.uniform(0, approach)
        far = start - along * rng.uniform(6.0, 15.0)  # he walks in from afar, never pops up beside the edge
        self.walk = Walker(np.stack([far, start, edge_point - normal * 0.15]), 0.0, 1.0, look, owner)
        self.walk.t0 = t_entry - float(rng.uniform(0.0, 2.0)) - self.walk.cum[-1] / self.walk.speed
        self.edge = edge_point
        self.v_out = float(rng.uniform(0.6, 1.8))
        self.t_impact = t_entry + math.sqrt(2 * world.freeboard / G)
        self.surface_t = None if surface_after is None else self.t_impact + surface_after
        self.stay = stay
        self.surface_xy = edge_point + normal * out_m
        self.drift = np.array([-normal[1], normal[0]]) * rng.uniform(-0.3, 0.3) + normal * rng.uniform(0.0, 0.2)
        self.head_c = world.climate.head_in_water_c + float(rng.uniform(-1, 1))

    def capsules(self, t: float) -> list[Capsule]:
        fb = self.world.freeboard
        if t < self.t_entry:
            if t >= self.walk.t0:  # arrived: he stands at the edge (a moment, or up to 2 s) until he goes over
                feet, d, _ = self.walk.at(t)
                return body(feet, self.look, self.owner, phase=(t - self.walk.t0) * 3.2, facing=d)
            return []
        if t < self.t_impact + 0.3:
            tau = t - self.t_entry
            feet_xy = self.edge + self.n * self.v_out * tau
            z = -0.5 * G * tau * tau
            ang = min(1.3, 1.8 * tau)  # toppling outwards
            axis = np.array([*(self.n * math.sin(ang)), math.cos(ang)])
            return body(np.array([*feet_xy, z]), self.look, self.owner, tilt=axis, facing=self.n)
        if self.surface_t is None or t < self.surface_t:
            return []  # under water
        up = t - self.surface_t
        if self.stay is not None and up > self.stay:
            return []
        xy = self.surface_xy + self.drift * up
        bob = 0.04 * math.sin(2.1 * up + self.owner)
        head = np.array([*xy, -fb + 0.1 + bob])
        sh = Capsule(np.array([*xy, -fb - 0.05]) - _v(0.15, 0, 0), np.array([*xy, -fb - 0.05]) + _v(0.15, 0, 0), 0.1,
                     self.world.climate.water_c + 0.4 * (self.look.clothes - self.world.climate.water_c), self.owner)
        return [sh, Capsule(head, head, 0.1, self.head_c, self.owner)]


class Swimmer:
    def __init__(self, world: World, start: np.ndarray, velocity: np.ndarray, owner: int, rng: Rng):
        self.world, self.start, self.v, self.owner = world, start, velocity, owner
        self.head_c = world.climate.head_in_water_c + float(rng.uniform(-1, 1))
        self.skin = world.climate.skin_c - 3

    def capsules(self, t: float) -> list[Capsule]:
        fb = self.world.freeboard
        xy = self.start + self.v * t
        bob = 0.05 * math.sin(2.6 * t + self.owner)
        head = np.array([*xy, -fb + 0.1 + bob])
        side = np.array([-self.v[1], self.v[0]]) / max(np.linalg.norm(self.v), 1e-9)
        stroke = math.sin(3.0 * t)
        arm = np.array([*(xy + side * 0.3 * np.sign(stroke) + self.v / max(np.linalg.norm(self.v), 1e-9) * 0.3), -fb + 0.05 * abs(stroke)])
        return [Capsule(head, head, 0.1, self.head_c, self.owner),
                Capsule(np.array([*xy, -fb - 0.05]) - _v(*(side * 0.18), 0), np.array([*xy, -fb - 0.05]) + _v(*(side * 0.18), 0),
                        0.08, self.world.climate.water_c + 3, self.owner),
                Capsule(arm, arm + _v(0, 0, 0.05), 0.05, self.skin, self.owner)]


def boat_capsules(centre: np.ndarray, along: np.ndarray, length: float, water_z: float, temp: float,
                  c: Climate) -> list[Capsule]:
    a = np.array([*along, 0.0]) * length / 2
    mid = np.array([*centre, water_z + 0.45])
    return [Capsule(mid - a, mid + a, 0.7, temp), Capsule(mid - a * 0.3 + _v(0, 0, 0.8), mid + a * 0.1 + _v(0, 0, 0.8), 0.5,
                                                            temp + 1.0)]


class MovingBoat:
    def __init__(self, world: World, start: np.ndarray, velocity: np.ndarray, t0: float, rng: Rng, skipper: Look | None, owner: int):
        self.world, self.start, self.v, self.t0, self.owner = world, start, velocity, t0, owner
        self.length = float(rng.uniform(4, 10))
        self.hull_c = world.climate.water_c + float(rng.uniform(1, 5))
        self.engine_c = float(rng.uniform(45, 80))
        self.skipper = skipper

    def capsules(self, t: float) -> list[Capsule]:
        xy = self.start + self.v * (t - self.t0)
        d = self.v / max(np.linalg.norm(self.v), 1e-9)
        out = boat_capsules(xy, d, self.length, -self.world.freeboard, self.hull_c, self.world.climate)
        stern = np.array([*(xy - d * self.length / 2), -self.world.freeboard + 0.5])
        out.append(Capsule(stern, stern + _v(0, 0, 0.2), 0.2, self.engine_c))
        if self.skipper is not None:
            deck = np.array([*(xy - d * self.length * 0.15), -self.world.freeboard + 0.9])
            out += body(deck, self.skipper, self.owner, facing=d)
        return out


class Duck:
    def __init__(self, world: World, xy: np.ndarray, rng: Rng, owner: int):
        self.world, self.xy, self.owner = world, xy, owner
        self.v = rng.normal(0, 0.15, 2)
        self.temp = world.climate.water_c + float(rng.uniform(3, 7))
        self.dives = [(float(s), float(rng.uniform(4, 12))) for s in np.sort(rng.uniform(0, 120, int(rng.integers(0, 4))))]

    def capsules(self, t: float) -> list[Capsule]:
        if any(s <= t < s + d for s, d in self.dives):
            return []
        xy = self.xy + self.v * t
        p = np.array([*xy, -self.world.freeboard + 0.08])
        return [Capsule(p - _v(0.15, 0, 0), p + _v(0.15, 0, 0), 0.09, self.temp, self.owner)]


class Gull:
    def __init__(self, world: World, start: np.ndarray, velocity: np.ndarray, t0: float, rng: Rng, owner: int):
        self.world, self.start, self.v, self.t0, self.owner = world, start, velocity, t0, owner
        self.z = float(rng.uniform(1, 10))
        self.temp = world.climate.air_c + float(rng.uniform(8, 14))

    def capsules(self, t: float) -> list[Capsule]:
        p = np.array([*(self.start + self.v * (t - self.t0)), self.z])
        d = np.array([*self.v, 0.0]) / np.linalg.norm(self.v) * 0.18
        return [Capsule(p - d, p + d, 0.08, self.temp, self.owner)]


@dataclass
class WorldScript:
    seconds: float
    actors: list = field(default_factory=list)
    nucs: list[tuple[float, float]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # {"kind", "t", "owner", "label"}

    def capsules(self, t: float) -> list[Capsule]:
        out: list[Capsule] = []
        for a in self.actors:
            out += a.capsules(t)
        return out
