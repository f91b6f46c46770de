"""Render a World through its pinhole: every pixel's ray is cast once onto the quay top, the water plane below it
(the wall face between them) or the far skyline; actors are capsules in metres, rasterised with a z-buffer
against that scene (so the quay edge hides the wall foot, a boat hides a swimmer) and mirrored in the water
plane (and, when wet, in the paving) for their reflections. Vectorised NumPy; °C in, sensor and AGC out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from quaywatch.simulator.agc import AGC
from quaywatch.simulator.sensor import Sensor, to_centikelvin
from quaywatch.simulator.world import FAR_M, World

SKY, LAND, WATER, WALL = 0, 1, 2, 3


def _v(*xyz: float) -> np.ndarray:
    return np.array(xyz, np.float64)


@dataclass
class Capsule:
    """A body part: a segment p0-p1 (world metres) of radius r at temperature temp (°C). `owner` counts its
    visible pixels for the ground truth (who was seen when)."""

    p0: np.ndarray
    p1: np.ndarray
    r: float
    temp: float
    owner: int = -1


def classify(world: World, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel (every `step`-th): kind (SKY/LAND/WATER/WALL), distance along the ray (m), ground hit xy."""
    w, h = world.size
    us, vs = np.meshgrid(np.arange(0, w, step, dtype=np.float64), np.arange(0, h, step, dtype=np.float64))
    pix = np.stack([us.ravel(), vs.ravel()], axis=1)
    cam = world.camera
    d = cam.rays(pix)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    c = cam.centre
    kind = np.full(len(pix), SKY, np.uint8)
    dist = np.full(len(pix), 1e6)
    xy = np.full((len(pix), 2), np.nan)
    down = d[:, 2] < -1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        lam0 = np.where(down, (0.0 - c[2]) / d[:, 2], np.inf)
        lamw = np.where(down, (-world.freeboard - c[2]) / d[:, 2], np.inf)
    g0 = c[:2] + lam0[:, None] * d[:, :2]
    gw = c[:2] + lamw[:, None] * d[:, :2]
    near0 = down & (np.hypot(g0[:, 0] - c[0], g0[:, 1] - c[1]) < FAR_M)
    land = near0 & world.on_land(np.nan_to_num(g0))
    kind[land], dist[land], xy[land] = LAND, lam0[land], g0[land]
    rest = near0 & ~land
    wall = rest & world.on_land(np.nan_to_num(gw))  # the ray passed an edge and met the wall face below it
    water = rest & ~wall
    kind[wall], dist[wall], xy[wall] = WALL, lamw[wall], gw[wall]  # the wall face is nearer; close enough
    kind[water], dist[water], xy[water] = WATER, lamw[water], gw[water]
    shape = (len(np.arange(0, h, step)), len(np.arange(0, w, step)))
    return kind.reshape(shape), dist.reshape(shape), xy.reshape(*shape, 2)


class WorldRenderer:
    def __init__(self, world: World, seed: int):
        self.world = world
        w, h = world.size
        rng = np.random.default_rng([seed, 11])
        self.kind, self.dist, self.xy = classify(world)
        c = world.climate
        self.cam = world.camera
        d = self.cam.rays(np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)),
                                   -1).reshape(-1, 2))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        cos_incidence = np.abs(d[:, 2]).reshape(h, w)  # 1 looking straight down, 0 at grazing
        # water's emissivity falls at grazing angles: the far water mirrors the cold sky
        self.reflect = (0.02 + 0.6 * (1 - cos_incidence) ** 5).astype(np.float32)
        self.reflect[self.kind != WATER] = 0.0
        field = np.full((h, w), c.sky_c, np.float32)
        tex = _texture(rng, self.xy, 0.4)
        land = self.kind == LAND
        field[land] = c.quay_c + 0.6 * tex[land]
        field[self.kind == WALL] = 0.5 * (c.quay_c + c.water_c) + 0.3 * tex[self.kind == WALL]
        water = self.kind == WATER
        field[water] = ((1 - self.reflect) * c.water_c + self.reflect * c.sky_c)[water]
        # the far skyline: buildings at air temperature or a little warmer, beyond the harbour
        sky = self.kind == SKY
        elev = -d[:, 2].reshape(h, w)
        sky_build = sky & (elev > -0.06)
        field[sky_build] = c.air_c + 1.5 + 0.8 * tex[sky_build]
        self.static = field
        # ripples: three travelling waves on the water plane, precomputed as sin/cos pairs
        self.ripples = []
        amp = 0.15 + 0.5 * self.reflect * abs(c.water_c - c.sky_c) / 10
        for _ in range(3):
            k = 2 * math.pi / rng.uniform(0.6, 3.0)
            ang = rng.uniform(0, 2 * math.pi)
            phase = k * (np.nan_to_num(self.xy[..., 0]) * math.cos(ang) + np.nan_to_num(self.xy[..., 1]) * math.sin(ang))
            self.ripples.append((rng.uniform(0.8, 2.5), (np.sin(phase) * amp * water).astype(np.float32),
                                 (np.cos(phase) * amp * water).astype(np.float32)))
        self.sensor = Sensor(np.random.default_rng([seed, 12]), (h, w), netd_ck=float(rng.uniform(3, 8)))
        self.agc = AGC()
        self.seed = seed
        self._statics = self._static_capsules()
        self._bake_statics()

    # --- static props: drawn once into the field and the depth buffer -------------------------------------
    def _static_capsules(self) -> list[Capsule]:
        from quaywatch.simulator.world_actors import boat_capsules

        c, props, out = self.world.climate, self.world.props, []
        for base, overhang, n, lamp_c, height in props.get("lamps", []):
            b = np.array([*base, 0.0])
            top = np.array([*base, height])
            out.append(Capsule(b, top, 0.08, c.air_c - 1.0))
            head = top + np.array([*(n * overhang), -0.1])
            out.append(Capsule(top, head, 0.05, c.air_c - 1.0))
            out.append(Capsule(head - _v(0, 0, 0.1), head - _v(0, 0, 0.25), 0.15, lamp_c))
        for p, temp in props.get("bollards", []):
            out.append(Capsule(np.array([*p, 0.0]), np.array([*p, 0.45]), 0.15, temp))
        for centre, along, length, temp in props.get("moored", []):
            out += boat_capsules(centre, along, length, -self.world.freeboard, temp, c)
        return out

    def _bake_statics(self) -> None:
        field, depth = self.static.copy(), self.dist.astype(np.float32).copy()
        for cap in self._statics:
            self._raster(field, depth, cap, None)
        for cap in self._statics:
            self._mirror(field, cap)
        self.static, self.depth = field, depth

    # --- capsules ---------------------------------------------------------------------------------------
    def _footprint(self, cap: Capsule, ends: np.ndarray | None = None, d01: tuple[float, float] | None = None
                   ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        """The capsule's pixel window, its coverage there (0..1) and its distance from the camera. `ends`,
        `d01`: its projected end points and distances, when already computed for a whole frame at once."""
        cam = self.cam
        if ends is None or d01 is None:
            ends = cam.project(np.stack([cap.p0, cap.p1]))
            c = cam.centre
            d01 = (float(np.linalg.norm(cap.p0 - c)), float(np.linalg.norm(cap.p1 - c)))
        if not np.all(np.isfinite(ends)):
            return None
        d0, d1 = d01
        rpx = cap.r * cam.K[0, 0] / max(min(d0, d1), 0.1)
        h, w = self.kind.shape
        x0 = int(max(math.floor(min(ends[0, 0], ends[1, 0]) - rpx - 1), 0))
        x1 = int(min(math.ceil(max(ends[0, 0], ends[1, 0]) + rpx + 2), w))
        y0 = int(max(math.floor(min(ends[0, 1], ends[1, 1]) - rpx - 1), 0))
        y1 = int(min(math.ceil(max(ends[0, 1], ends[1, 1]) + rpx + 2), h))
        if x1 <= x0 or y1 <= y0:
            return None
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(ends[0, 0])
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(ends[0, 1])
        abx, aby = float(ends[1, 0] - ends[0, 0]), float(ends[1, 1] - ends[0, 1])
        L2 = abx * abx + aby * aby
        if L2 > 1e-9:
            u = np.clip((xx * abx + yy * aby) / L2, 0, 1)
        else:
            u = np.zeros((y1 - y0, x1 - x0), np.float32)
        dist = np.hypot(xx - u * abx, yy - u * aby)
        # a part smaller than a pixel still warms it in proportion to the area it covers
        cover = np.clip(rpx + 0.5 - dist, 0, 1) * min(1.0, (2 * rpx) ** 2)
        z = d0 + u * (d1 - d0)
        return (slice(y0, y1), slice(x0, x1)), cover.astype(np.float32), z.astype(np.float32)

    def _raster(self, field: np.ndarray, depth: np.ndarray, cap: Capsule, counts: dict | None,
                ends: np.ndarray | None = None, d01: tuple[float, float] | None = None) -> None:
        fp = self._footprint(cap, ends, d01)
        if fp is None:
            return
        sl, cover, z = fp
        seen = (cover > 0) & (z < depth[sl])
        if not seen.any():
            return
        cov = np.where(seen, cover, 0)
        patch = field[sl]
        patch += cov * (cap.temp - patch)
        solid = seen & (cover >= 0.5)
        depth[sl][solid] = z[solid]
        if counts is not None and cap.owner >= 0:
            counts[cap.owner] = counts.get(cap.owner, 0.0) + float(cov.sum())

    def _mirror(self, field: np.ndarray, cap: Capsule) -> None:
        """The capsule's reflection in the water plane, where the mirrored quay does not hide it; on wet paving
        a dimmer one in the quay plane."""
        fb = self.world.freeboard
        c = self.cam.centre
        mid = (cap.p0 + cap.p1) / 2
        for plane, kind in ((-fb, WATER), (0.0, LAND)):
            if mid[2] < plane or (kind == LAND and not self.wet):
                continue
            m0, m1 = cap.p0.copy(), cap.p1.copy()
            m0[2], m1[2] = 2 * plane - cap.p0[2], 2 * plane - cap.p1[2]
            mm = (m0 + m1) / 2
            if kind == WATER and mm[2] < -2 * fb:
                # the mirrored quay top (z = -2 fb) hides mirror images behind it, as the wall does
                lam = (-2 * fb - c[2]) / (mm[2] - c[2])
                if 0 < lam < 1 and self.world.on_land(c[:2] + lam * (mm[:2] - c[:2]))[0]:
                    continue
            fp = self._footprint(Capsule(m0, m1, cap.r, cap.temp))
            if fp is None:
                continue
            sl, cover, _ = fp
            patch = field[sl]
            if kind == WATER:
                patch += cover * self.reflect[sl] * (cap.temp - self.world.climate.sky_c)
            else:
                patch += cover * 0.12 * (self.kind[sl] == LAND) * (cap.temp - patch)

    @property
    def wet(self) -> bool:
        return self.world.rain > 0

    # --- frames -----------------------------------------------------------------------------------------
    def scene(self, capsules: list[Capsule], t: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        field = self.static.copy()
        for omega, s, co in self.ripples:
            field += s * math.cos(omega * t) - co * math.sin(omega * t)
        depth = self.depth.copy()
        counts: dict[int, float] = {}
        if capsules:
            pts = np.array([np.concatenate([k.p0, k.p1]) for k in capsules]).reshape(-1, 3)
            proj = self.cam.project(pts).reshape(-1, 2, 2)
            dists = np.linalg.norm(pts - self.cam.centre, axis=1).reshape(-1, 2)
            h, w = self.kind.shape
            safe = np.where(np.isfinite(proj), proj, -1e6)  # behind the camera: off-frame
            lo, hi = np.min(safe, axis=1), np.max(safe, axis=1)
            # off-frame parts are skipped before any per-pixel work (their mirror images may still show)
            onframe = ~((hi[:, 0] < -20) | (lo[:, 0] > w + 20) | (hi[:, 1] < -20) | (lo[:, 1] > h + 20))
            order = np.argsort(-dists.mean(axis=1))
            for i in order:  # far to near, each tested against the scene and written into the depth buffer
                if onframe[i]:
                    self._raster(field, depth, capsules[i], counts, proj[i], (dists[i, 0], dists[i, 1]))
            for cap in capsules:
                self._mirror(field, cap)
        if self.world.rain > 0:
            _rain(field, rng, self.world.rain, self.world.climate.air_c, self.kind == WATER)
        return field, counts

    def frames(self, script, fps: float) -> Iterator[tuple[float, np.ndarray, dict]]:
        """(t, frame in the world's bit depth, visible pixel count per owner) for every frame."""
        last = None
        for i in range(round(script.seconds * fps)):
            t = i / fps
            done = [s for s, _ in script.nucs if s <= t]
            frozen = any(s <= t < s + d for s, d in script.nucs)
            if frozen and last is not None:
                yield t, last[0], last[1]
                continue
            rng = np.random.default_rng([self.seed, 13, i])
            field, counts = self.scene(script.capsules(t), t, rng)
            sensed = self.sensor.expose(field, t, rng, len(done), t - max(done, default=0.0))
            frame = to_centikelvin(sensed) if self.world.bits == 16 else self.agc(sensed, 1.0 / fps)
            last = (frame, counts)
            yield t, frame, counts


def _texture(rng: np.random.Generator, xy: np.ndarray, cell_m: float) -> np.ndarray:
    """Smooth noise fixed to the ground (perspective-correct paving and facade texture), unit-ish std."""
    from quaywatch.simulator.background import periodic_noise

    tex = periodic_noise(rng, (256, 256), 2.0, 2.0)
    gx = np.nan_to_num(xy[..., 0] / cell_m).astype(np.float32)
    gy = np.nan_to_num(xy[..., 1] / cell_m).astype(np.float32)
    return cv2.remap(tex, np.mod(gx, 256), np.mod(gy, 256), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _rain(field: np.ndarray, rng: np.random.Generator, intensity: float, air: float, water: np.ndarray) -> None:
    field += (air - field) * 0.2 * intensity
    h, w = field.shape
    n = int(intensity * h * w / 1500)
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
    ln = rng.uniform(2, 6, n) * (h / 288)
    ends = np.stack([np.stack([xs, ys], 1), np.stack([xs + 0.2 * ln, ys + ln], 1)], 1).astype(np.int32)
    cv2.polylines(field, list(ends), False, float(air - 0.5), 1)
    pits = rng.random(field.shape, dtype=np.float32) < 0.003 * intensity
    field[pits & water] += 0.6
