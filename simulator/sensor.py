"""The microbolometer: temporal noise (NETD), fixed-pattern noise, slow offset drift, and NUC/FFC events.

A NUC (flat-field correction) closes the shutter: the camera repeats its last frame for 0.3-1 s, then
resumes with the accumulated drift removed and a fresh small offset, i.e. a visible step in level.
Output is radiometric centikelvin (K x 100) as uint16.
"""

from __future__ import annotations

import numpy as np

from quaywatch.simulator.background import periodic_noise

KELVIN_0C = 273.15


def to_centikelvin(field_c: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((field_c + KELVIN_0C) * 100.0), 0, 65535).astype(np.uint16)


class Sensor:
    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], netd_ck: float = 5.0):
        h, w = shape
        self.netd = netd_ck / 100.0
        # Column stripes and per-pixel offsets (°C), plus a slight vignette of the optics.
        cols = rng.normal(0, 0.04, w).astype(np.float32)
        pix = rng.normal(0, 0.03, shape).astype(np.float32)
        yy, xx = np.mgrid[0:h, 0:w]
        r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
        self.fpn = (cols[None, :] + pix + rng.uniform(-0.3, 0.3) * r2).astype(np.float32)
        self.drift_rate = rng.uniform(-0.01, 0.01)  # °C/s of offset creeping until the next NUC
        self.fpn_after_nuc = periodic_noise(rng, shape, 20, 20) * 0.03
        self.nuc_offsets = rng.uniform(0.1, 0.35, 64) * rng.choice([-1, 1], 64)

    def offset(self, t: float, nucs_done: int, since_nuc: float) -> np.ndarray | float:
        """The slowly drifting offset, reset (with a new small step) at each NUC."""
        if nucs_done == 0:
            return self.drift_rate * t
        step = float(self.nuc_offsets[(nucs_done - 1) % len(self.nuc_offsets)])
        return step + self.drift_rate * since_nuc

    def expose(self, field_c: np.ndarray, t: float, rng: np.random.Generator, nucs_done: int = 0,
               since_nuc: float = 0.0) -> np.ndarray:
        noise = rng.standard_normal(field_c.shape, dtype=np.float32) * self.netd
        fpn = self.fpn if nucs_done == 0 else self.fpn * 0.5 + self.fpn_after_nuc
        return field_c + fpn + noise + self.offset(t, nucs_done, since_nuc)
