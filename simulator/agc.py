"""8-bit automatic gain control, like a thermal camera's video output.

Linear AGC between a low percentile and the mean of the hottest pixels, smoothed in time (~0.5 s).
Because the top end follows the hottest few dozen pixels, a hot boat engine or a group of warm people
entering the view stretches the range and the whole scene darkens: the AGC shift detectors must survive.
"""

from __future__ import annotations

import numpy as np

HOT_PIXELS = 40  # the top end follows the mean of this many hottest pixels


class AGC:
    def __init__(self, time_constant_s: float = 0.5, min_span_c: float = 4.0):
        self.tau = time_constant_s
        self.min_span = min_span_c
        self.lo: float | None = None
        self.hi: float | None = None

    def __call__(self, field_c: np.ndarray, dt: float) -> np.ndarray:
        sample = field_c[::3, ::3].ravel()
        lo = float(np.percentile(sample, 1.0))
        flat = field_c.ravel()
        hot = np.partition(flat, flat.size - HOT_PIXELS)[-HOT_PIXELS:]
        hi = max(float(hot.mean()), lo + self.min_span)
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            k = 1.0 - np.exp(-dt / self.tau)
            self.lo += k * (lo - self.lo)
            self.hi += k * (hi - self.hi)
        scale = 235.0 / (self.hi - self.lo)
        return np.clip((field_c - self.lo) * scale + 10.0, 0, 255).astype(np.uint8)
