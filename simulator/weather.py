"""Rain: falling streaks (drops at air temperature), pitting on the water, and wet surfaces whose
apparent temperature is pulled towards the air (evaporation, and water's high emissivity)."""

from __future__ import annotations

import cv2
import numpy as np

from quaywatch.simulator.stage import Stage


def rain(stage: Stage, rng: np.random.Generator, intensity: float = 1.0) -> None:
    f = stage.field
    air = stage.climate.air_c
    f += (air - f) * 0.25 * intensity
    h, w = f.shape
    n = int(intensity * h * w / 1200)
    xs = rng.uniform(0, w, n)
    ys = rng.uniform(0, h, n)
    lengths = rng.uniform(2, 6, n) * (h / 288)
    level = rng.integers(0, 3, n)  # drops at three temperatures around the air's
    ends = np.stack([np.stack([xs, ys], 1), np.stack([xs + 0.2 * lengths, ys + lengths], 1)], 1).astype(np.int32)
    for k, dt in enumerate((-0.8, -0.3, 0.3)):
        cv2.polylines(f, list(ends[level == k]), False, float(air + dt), 1)
    pits = rng.random(f.shape, dtype=np.float32) < 0.004 * intensity
    f[pits & stage.water] += 0.8
