"""A random harbour world in metres, seen by a real pinhole camera: the `random-worlds` suite's stage.

World axes: x, y on the quay top (z = 0), z up; the water surface is the plane z = -freeboard. Land is a union
of axis-aligned rectangles (a straight quay, the two banks of a canal, a shore with a pier); the camera stands
somewhere on land at 4-20 m, turned and pitched at random, with any field of view and a sensor from 160x120 to
640x512. Everything the detector is later told about the camera (water polygon, quay line, calibration points,
measured people) is measured here from this geometry, as an installer would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from quaywatch.detector.calibration import PinholeCamera
from quaywatch.simulator.climate import SEASONS, Climate, make_climate

SENSORS = [(160, 120), (320, 240), (384, 288), (640, 480), (640, 512)]
LAYOUTS = ("straight", "canal", "pier", "steps", "high-wall")
FAR_M = 400.0  # beyond this the ground is the far skyline


@dataclass(frozen=True)
class Rect:
    x0: float
    x1: float
    y0: float
    y1: float

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


@dataclass(frozen=True)
class Edge:
    """A quay edge people can fall over: a polyline on the quay top, listed with the water on its left."""

    points: np.ndarray  # (N, 2) metres
    name: str

    def sample(self, u: float) -> tuple[np.ndarray, np.ndarray]:
        """Point at fraction u along the edge and the unit normal pointing out over the water."""
        seg = np.diff(self.points, axis=0)
        lengths = np.linalg.norm(seg, axis=1)
        s = float(np.clip(u, 0, 1)) * lengths.sum()
        k = int(np.searchsorted(np.cumsum(lengths), s, side="left"))
        k = min(k, len(seg) - 1)
        before = lengths[:k].sum()
        d = seg[k] / lengths[k]
        p = self.points[k] + d * (s - before)
        return p, np.array([-d[1], d[0]])  # left-hand normal: edges are listed with the water on their left


@dataclass
class World:
    seed: int
    layout: str
    camera: PinholeCamera
    freeboard: float
    land: list[Rect]
    edges: list[Edge]  # edges[0] is the one configured as the camera's quay line
    climate: Climate
    bits: int
    fps: float
    rain: float
    lat_lon_bearing: tuple[float, float, float]
    props: dict = field(default_factory=dict)  # lamp posts, bollards, moored boats: positions in metres

    @property
    def size(self) -> tuple[int, int]:
        return self.camera.size

    def on_land(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        out = np.zeros(len(xy), bool)
        for r in self.land:
            out |= r.contains(xy[:, 0], xy[:, 1])
        return out

    def describe(self) -> str:
        w, h = self.size
        return (f"world {self.seed}: {self.layout}, camera {self.camera.height_m:.1f} m up, {w}x{h} "
                f"{self.bits}-bit, hfov {math.degrees(2 * math.atan(w / 2 / self.camera.K[0, 0])):.0f} deg, "
                f"freeboard {self.freeboard:.1f} m, {self.climate.label}" + (", rain" if self.rain else ""))


def look_camera(rng: np.random.Generator, size: tuple[int, int], position: np.ndarray, yaw: float, pitch: float,
                hfov: float) -> PinholeCamera:
    """A pinhole at `position` turned `yaw` (radians, 0 = looking along +y) and pitched down `pitch`."""
    w, h = size
    f = (w / 2) / math.tan(hfov / 2)
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    roll = rng.normal(0, math.radians(1.0))  # a real mount is never quite level
    cy, sy = math.cos(yaw), math.sin(yaw)
    turn = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1.0]])  # camera-forward +y rotated by yaw
    cp, sp = math.cos(pitch), math.sin(pitch)
    tilt = np.array([[1.0, 0, 0], [0, -sp, -cp], [0, cp, -sp]])
    cr, sr = math.cos(roll), math.sin(roll)
    spin = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1.0]])
    M = spin @ tilt @ turn.T
    return PinholeCamera(K, M, -M @ position, (int(w), int(h)))


def draw_world(seed: int) -> World:
    rng = np.random.default_rng([seed, 42])
    layout = str(rng.choice(LAYOUTS))
    size = SENSORS[int(rng.integers(len(SENSORS)))]
    bits = 16 if rng.random() < 0.3 else 8
    if bits == 16 and size[0] > 384:  # lossless 16-bit noise is large: radiometric worlds use the small cores
        size = SENSORS[int(rng.integers(3))]
    season = str(rng.choice(SEASONS))
    climate = make_climate(rng, season, bool(rng.random() < 0.65))
    freeboard = float(rng.uniform(0.8, 2.5))
    big = 1e4
    if layout == "steps":
        freeboard = float(rng.uniform(0.3, 0.7))  # a low landing: steps down to the water
    if layout == "high-wall":
        freeboard = float(rng.uniform(2.5, 4.0))
    props: dict = {}
    if layout in ("straight", "steps", "high-wall"):
        land = [Rect(-big, big, -big, 0.0)]
        far = float(rng.uniform(40, 250))
        land.append(Rect(-big, big, far, big))
        edges = [Edge(np.array([[-400.0, 0.0], [400.0, 0.0]]), "quay")]
        back = float(rng.uniform(0.5, 12.0)) if layout != "high-wall" else float(rng.uniform(0.3, 3.0))
        along = float(rng.uniform(-10, 10))
        pos = np.array([along, -back, 0.0])
        yaw = float(rng.uniform(-1.2, 1.2)) if layout != "high-wall" else float(rng.choice([-1, 1]) * rng.uniform(0.9, 1.4))
    elif layout == "canal":
        width = float(rng.uniform(10, 45))
        land = [Rect(-big, big, -big, 0.0), Rect(-big, big, width, big)]
        edges = [Edge(np.array([[-400.0, 0.0], [400.0, 0.0]]), "near quay"),
                 Edge(np.array([[400.0, width], [-400.0, width]]), "far bank")]
        pos = np.array([float(rng.uniform(-5, 5)), -float(rng.uniform(2, 15)), 0.0])
        yaw = float(rng.uniform(-0.5, 0.5))
    else:  # pier: a shore at y < 0, a pier x in [-pw/2, pw/2] out to y = length
        pw, length = float(rng.uniform(4, 14)), float(rng.uniform(25, 120))
        land = [Rect(-big, big, -big, 0.0), Rect(-pw / 2, pw / 2, -1.0, length)]
        edges = [Edge(np.array([[-pw / 2, 0.0], [-pw / 2, length], [pw / 2, length], [pw / 2, 0.0]]), "pier")]
        side = float(rng.choice([-1, 1]))
        pos = np.array([side * float(rng.uniform(0, pw / 2 + 8)), -float(rng.uniform(1, 12)), 0.0])
        yaw = float(rng.uniform(-0.35, 0.35)) - side * float(rng.uniform(0, 0.2))
        props["pier"] = (pw, length)
    height = float(rng.uniform(4, 20))
    pos[2] = height
    for _ in range(200):
        hfov = math.radians(float(rng.uniform(18, 75)))
        # pitch so the picture holds the water from near the camera out towards the far side
        pitch = float(rng.uniform(math.radians(3), math.radians(35))) + 0.35 * hfov * size[1] / size[0]
        cam = look_camera(rng, size, pos, yaw, pitch, hfov)
        world = World(seed, layout, cam, freeboard, land, edges, climate, bits,
                      float(rng.choice([5.0, 6.0, 9.0])), 0.0,
                      (float(rng.uniform(54.5, 57.7)), float(rng.uniform(8.1, 12.6)), float(rng.uniform(0, 360))),
                      props)
        if _usable(world):
            world.rain = float(rng.uniform(0.4, 1.2)) if rng.random() < 0.2 else 0.0
            _place_props(world, rng)
            return world
        yaw += float(rng.normal(0, 0.15))
    raise RuntimeError(f"world {seed}: found no camera that sees the quay edge and the water")


def _usable(world: World) -> bool:
    """The configured edge runs across at least a third of the picture where people on it are >= 6 px tall,
    and water fills at least 15 % of the frame."""
    from quaywatch.simulator.world_render import classify

    w, h = world.size
    kind, _, _ = classify(world, step=4)
    if (kind == 2).mean() < 0.15:
        return False
    edge = world.edges[0]
    pts = np.concatenate([np.linspace(a, b, 60) for a, b in zip(edge.points[:-1], edge.points[1:], strict=True)])
    px = world.camera.project(np.c_[pts, np.zeros(len(pts))])
    head = world.camera.project(np.c_[pts, np.full(len(pts), 1.75)])
    ok = np.all(np.isfinite(px), axis=1) & (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    tall = np.linalg.norm(head - px, axis=1) >= 6
    if not np.any(ok & tall):
        return False
    seen = px[ok & tall]
    return float(np.ptp(seen[:, 0]) + np.ptp(seen[:, 1])) >= 0.33 * w


def _place_props(world: World, rng: np.random.Generator) -> None:
    """Lamp posts and bollards along the configured edge, a moored boat or two against it."""
    c = world.climate
    edge = world.edges[0]
    lamps, bollards, moored = [], [], []
    for u in np.sort(rng.uniform(0.3, 0.7, int(rng.integers(0, 4)))):
        p, n = edge.sample(float(u))
        overhang = float(rng.uniform(0, 1.2))
        lamps.append((p - n * rng.uniform(0.3, 1.5), overhang, n,
                      float(rng.uniform(35, 60)) if c.night else c.air_c + 1.0, float(rng.uniform(4, 6))))
    for u in rng.uniform(0.3, 0.7, int(rng.integers(0, 6))):
        p, n = edge.sample(float(u))
        bollards.append((p - n * 0.35, c.quay_c + float(rng.uniform(1, 5))))
    for u in rng.uniform(0.35, 0.65, int(rng.integers(0, 3))):
        p, n = edge.sample(float(u))
        d = np.array([-n[1], n[0]])
        moored.append((p + n * rng.uniform(1.0, 2.0), d, float(rng.uniform(6, 12)), c.water_c + float(rng.uniform(1, 6))))
    world.props.update(lamps=lamps, bollards=bollards, moored=moored)
