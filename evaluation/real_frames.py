"""Real frames as negatives: each real Aalborg frame (nobody in the water) held as a still clip with fresh
sensor noise, run through the detector in-process (no files written), alerts counted per frame.

A fresh detector per frame, as in the field after a restart or a new stream: the issue's false alarms on
real frames all came soon after the detector started on a new frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from quaywatch.config import Camera
from quaywatch.detector import Detector
from quaywatch.detector.types import Detection
from quaywatch.errors import QuaywatchError

REPO = Path(__file__).resolve().parents[1]
FRAMES_DIR = REPO.parent / "shared" / "data" / "real" / "aalborg-ltd-frames"
NOISE_BANK = 24  # distinct noise frames, cycled: drawing fresh Gaussian noise per frame costs more than detecting


@dataclass
class StillAlert:
    image: str
    kind: str
    t: float
    bbox: tuple[int, int, int, int]


@dataclass
class RealFramesResult:
    frames: int = 0
    video_s: float = 0.0
    cpu_s: float = 0.0
    alerts: list[StillAlert] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def frames_alerting(self) -> list[str]:
        return sorted({a.image for a in self.alerts})

    def summary(self) -> dict:
        return {"frames": self.frames, "video_hours": round(self.video_s / 3600, 3), "alerts": len(self.alerts),
                "frames_alerting": len(self.frames_alerting), "cpu_s": round(self.cpu_s, 1),
                "unreadable": len(self.unreadable)}


class NoiseBank:
    """Gaussian sensor noise frames, drawn once, reused at random offsets."""

    def __init__(self, shape: tuple[int, int], sigma: float, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.frames = (rng.standard_normal((NOISE_BANK, *shape), dtype=np.float32) * sigma).astype(np.float32)

    def noisy(self, image: np.ndarray, i: int) -> np.ndarray:
        k = (i * 7 + int(self.rng.integers(NOISE_BANK))) % NOISE_BANK
        hi = 65535 if image.dtype == np.uint16 else 255
        return np.clip(np.rint(image.astype(np.float32) + self.frames[k]), 0, hi).astype(image.dtype)


def still_clip(image: np.ndarray, seconds: float, fps: float, bank: NoiseBank) -> Iterator[tuple[float, np.ndarray]]:
    for i in range(max(1, round(seconds * fps))):
        yield i / fps, bank.noisy(image, i)


def run_clip(camera: Camera, frames: Iterator[tuple[float, np.ndarray]], fps: float) -> list[Detection]:
    det: Detector | None = None
    out: list[Detection] = []
    for t, f in frames:
        det = det or Detector(camera, fps, f.shape)
        out += det.process(f, t).detections
    return out


def frame_paths(frames_dir: Path = FRAMES_DIR, stride: int = 1, limit: int | None = None) -> list[Path]:
    images = Path(frames_dir) / "images"
    if not images.is_dir():
        raise QuaywatchError(f"{images}: no such folder (the real frames live in ../shared beside the checkout)")
    paths = sorted(images.glob("*.jpg"))[:: max(1, stride)]
    return paths[:limit] if limit else paths


def run_real_frames(camera: Camera, paths: list[Path], seconds: float = 2.0, fps: float = 9.0,
                    noise: float = 1.5, seed: int = 0) -> RealFramesResult:
    """Every frame held `seconds` at `fps` with `noise` grey levels of sensor noise."""
    result = RealFramesResult()
    bank: NoiseBank | None = None
    start = time.process_time()
    for path in paths:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            result.unreadable.append(path.name)
            continue
        if bank is None or bank.frames.shape[1:] != img.shape:
            bank = NoiseBank(img.shape, noise, seed)
        for d in run_clip(camera, still_clip(img, seconds, fps, bank), fps):
            result.alerts.append(StillAlert(path.name, d.kind, round(d.t, 2), tuple(int(v) for v in d.bbox)))
        result.frames += 1
        result.video_s += seconds
    result.cpu_s = time.process_time() - start
    return result
