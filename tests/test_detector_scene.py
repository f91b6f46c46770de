"""Small synthetic thermal scenes for the detector's rule tests, drawn with NumPy, deterministic by seed.

A 160x120 view: water on the left of a vertical quay line at x=80, land on the right; a standing person is
24 px tall everywhere (flat perspective keeps the arithmetic in the tests obvious). Objects are warm
ellipses moved along scripted paths; `render` turns a scene into 8-bit AGC or 16-bit centikelvin frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quaywatch.config import Camera
from quaywatch.detector import Detector
from quaywatch.detector.types import Detection, FrameResult

W, H, LINE_X, FPS = 160, 120, 80, 9.0
WATER_C, LAND_C = 6.0, 10.0  # a cold night: water colder than the quay


def camera(**tuning) -> Camera:
    return Camera.model_validate({
        "id": "cam-test", "name": "test quay", "source": "clip.mp4",
        "water": [[0, 0], [LINE_X, 0], [LINE_X, H], [0, H]],
        "quay_line": [[LINE_X, 0], [LINE_X, H]],
        "exclude": tuning.pop("exclude", []),
        "detector": {"person_px_top": 24, "person_px_bottom": 24, **tuning},
    })


@dataclass
class Thing:
    """A warm ellipse: path(t) -> (cx, cy) or None when not visible; size (w, h) px; temperature °C."""

    path: Callable[[float], tuple[float, float] | None]
    size: tuple[float, float] | Callable[[float], tuple[float, float]]  # (w, h) px, or a function of t
    temp_c: float
    hot_spot_c: float | None = None  # e.g. an engine: a small hotter core


@dataclass
class Scene:
    things: list[Thing] = field(default_factory=list)
    seconds: float = 6.0
    seed: int = 0
    noise_c: float = 0.15
    agc_jumps: list[float] = field(default_factory=list)  # times the 8-bit gain/offset jumps
    freezes: list[tuple[float, float]] = field(default_factory=list)  # (start, end): frame repeats
    rain: float = 0.0  # fraction of pixels hit by a warm streak per frame


def temperature_frames(scene: Scene):
    rng = np.random.default_rng(scene.seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.where(xx < LINE_X, WATER_C + 0.3 * yy / H, LAND_C).astype(np.float32)
    base += rng.normal(0, 0.2, base.shape).astype(np.float32)  # fixed texture: waves, paving
    n = int(scene.seconds * FPS)
    frozen = None
    for i in range(n):
        t = i / FPS
        if any(a <= t < b for a, b in scene.freezes) and frozen is not None:
            yield t, frozen
            continue
        img = base + rng.normal(0, scene.noise_c, base.shape).astype(np.float32)
        for th in scene.things:
            pos = th.path(t)
            if pos is None:
                continue
            cx, cy = pos
            w, h = th.size(t) if callable(th.size) else th.size
            inside = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1.0
            img[inside] = th.temp_c + rng.normal(0, scene.noise_c, int(inside.sum()))
            if th.hot_spot_c is not None:
                core = ((xx - cx) / (w / 6)) ** 2 + ((yy - cy) / (h / 4)) ** 2 <= 1.0
                img[core] = th.hot_spot_c
        if scene.rain:
            hits = rng.random(img.shape) < scene.rain
            img[hits] += rng.uniform(2, 6, int(hits.sum())).astype(np.float32)
        frozen = img
        yield t, img


def render(scene: Scene, bits: int = 8):
    """(t, frame) pairs: 8-bit with AGC (range follows the scene, jumps at agc_jumps) or 16-bit centikelvin."""
    lo, hi = WATER_C - 1.0, 36.0  # the camera's AGC range: settled, it only moves at the scripted jumps
    for t, img in temperature_frames(scene):
        if bits == 16:
            yield t, np.clip((img + 273.15) * 100.0, 0, 65535).astype(np.uint16)
            continue
        if sum(t >= j for j in scene.agc_jumps) % 2:
            yield t, np.clip((img - lo + 3.0) / (hi - lo + 11.0) * 230 + 10, 0, 255).astype(np.uint8)
            continue  # the camera re-scaled: everything brighter and flatter
        yield t, np.clip((img - lo) / (hi - lo) * 230 + 10, 0, 255).astype(np.uint8)


def run(scene: Scene, bits: int = 8, **tuning) -> tuple[list[Detection], list[FrameResult]]:
    det = Detector(camera(**tuning), FPS, (H, W))
    results = [det.process(f, t) for t, f in render(scene, bits)]
    return [d for r in results for d in r.detections], results


# --- paths -------------------------------------------------------------------------------------------
def walk(x0: float, y0: float, vx: float, vy: float, t0: float = 0.0, t1: float = 1e9):
    return lambda t: (x0 + vx * (t - t0), y0 + vy * (t - t0)) if t0 <= t < t1 else None


def body_then_head(t_cross: float):
    """A standing body (8x24) until it has dropped into the water, then only the head (5x5) shows."""
    return lambda t: (8.0, 24.0) if t < t_cross + 0.5 else (5.0, 5.0)


def fall(x0: float, y: float, t_cross: float, into: float = 20.0, visible_after: float | None = 5.0):
    """Walk left towards the edge at 12 px/s, cross it at t_cross, drop `into` px into the water in 0.5 s,
    then bob there, a head, until `visible_after` s after the crossing (None: stays visible).
    Use with size=body_then_head(t_cross)."""

    def path(t: float):
        if t < t_cross:
            return (LINE_X + 12.0 * (t_cross - t) + (x0 - x0), y)
        if t < t_cross + 0.5:
            return (LINE_X - into * (t - t_cross) / 0.5, y + 10 * (t - t_cross))
        if visible_after is not None and t > t_cross + visible_after:
            return None
        return (LINE_X - into + np.sin(3 * t), y + 10)

    return path


def test_scene_renders_both_bit_depths():
    scene = Scene([Thing(walk(120, 60, 0, 0), (8, 24), 30.0)], seconds=0.5)
    eight = [f for _, f in render(scene, 8)]
    sixteen = [f for _, f in render(scene, 16)]
    assert eight[0].dtype == np.uint8 and sixteen[0].dtype == np.uint16
    # the person is warmer than the water in both
    assert eight[0][60, 120] > eight[0][60, 40] and sixteen[0][60, 120] > sixteen[0][60, 40] + 2000
