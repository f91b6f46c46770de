"""What the simulated camera shows: a clip looped forever, a live simulated scene, or a test pattern.

Every producer yields 8-bit grey frames, as a thermal camera's RTSP stream carries AGC video: 16-bit
radiometric clips are mapped to 8 bits per frame (1st..99th percentile stretch, like a camera's AGC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quaywatch.edge.clips import clip_info, read_frames
from quaywatch.edge.sources.sim import live_scene, parse_sim_url
from quaywatch.errors import QuaywatchError


@dataclass
class FrameProducer:
    width: int
    height: int
    fps: float
    frames: Iterator[np.ndarray]  # endless
    description: str
    # Ground truth of a live scene: (kind, seconds before the latest frame) for events since the last call.
    truth: Callable[[], list[tuple[str, float]]] | None = None


def agc8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame
    lo, hi = np.percentile(frame, (1, 99))
    scale = 255.0 / max(float(hi - lo), 1.0)
    return np.clip((frame.astype(np.float32) - lo) * scale, 0, 255).astype(np.uint8)


def looped_clip(path: str | Path) -> FrameProducer:
    info = clip_info(path)

    def frames() -> Iterator[np.ndarray]:
        while True:
            n = 0
            for _t, frame in read_frames(path):
                n += 1
                yield agc8(frame)
            if n == 0:
                raise QuaywatchError(f"{path}: clip has no frames")

    return FrameProducer(info.width, info.height, info.fps, frames(), str(path))


def live(url: str) -> FrameProducer:
    scene_name, params = parse_sim_url(url)
    try:
        scene = live_scene(scene_name, params)
    except Exception as exc:
        raise QuaywatchError(str(exc)) from None
    latest_t, frame0 = scene.next_frame()
    first = agc8(frame0)
    clock = {"t": latest_t}

    def frames() -> Iterator[np.ndarray]:
        yield first
        while True:
            clock["t"], frame = scene.next_frame()
            yield agc8(frame)

    def truth() -> list[tuple[str, float]]:
        return [(ev.kind, max(0.0, clock["t"] - ev.t)) for ev in scene.pop_events()]

    return FrameProducer(first.shape[1], first.shape[0], float(getattr(scene, "fps", 9.0)), frames(), url, truth)


def test_pattern(width: int = 384, height: int = 288, fps: float = 9.0, seed: int = 0) -> FrameProducer:
    """Cool water below a warm quay, sensor noise, and a warm blob walking along the quay: every frame
    differs (as a live sensor's do), so a frozen stream is distinguishable from a quiet scene. Cheap enough
    to serve 640x512 at 30 fps: the noise cycles through a few precomputed fields, the blob is a small patch."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = np.broadcast_to(np.where(y < 0.45, 120.0, 60.0) + 20 * y, (height, width)).astype(np.float32)
    noisy = [np.clip(base + rng.normal(0, 2.0, (height, width)), 0, 255).astype(np.uint8) for _ in range(7)]
    ry, rx = max(2, height // 20), max(2, width // 64)
    yy, xx = np.mgrid[-3 * ry:3 * ry + 1, -3 * rx:3 * rx + 1]
    blob = (110 * np.exp(-((xx / rx) ** 2 + (yy / ry) ** 2))).astype(np.int16)
    top = max(0, int(0.35 * height) - 3 * ry)

    def frames() -> Iterator[np.ndarray]:
        i = 0
        while True:
            frame = noisy[i % len(noisy)].copy()
            left = (i * 3) % max(1, width - blob.shape[1])
            patch = frame[top:top + blob.shape[0], left:left + blob.shape[1]]
            patch[:] = np.clip(patch + blob[:patch.shape[0], :patch.shape[1]], 0, 255)
            yield frame
            i += 1

    return FrameProducer(width, height, fps, frames(), f"test pattern {width}x{height}@{fps:g}")
