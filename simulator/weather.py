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
    temps = air + rng.uniform(-0.8, 0.3, n)
    for x, y, ln, tc in zip(xs, ys, lengths, temps, strict=True):  # a few hundred short lines per frame
        cv2.line(f, (int(x), int(y)), (int(x + 0.2 * ln), int(y + ln)), float(tc), 1)
    pits = rng.random(f.shape, dtype=np.float32) < 0.004 * intensity
    f[pits & stage.water] += 0.8
