"""Warm blobs: connected warm regions with their box, centroid and warmth, as parallel NumPy arrays.

One `connectedComponentsWithStats` call plus bincount/maximum.at over the warm pixels only: no Python
loop over pixels, and the cost follows the number of warm pixels rather than the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from quaywatch.detector.warmth import WarmthFrame


@dataclass(slots=True)
class Blobs:
    """N blobs in full-resolution pixels. Arrays of length N."""

    box: np.ndarray  # (N, 4) float: x, y, w, h
    centroid: np.ndarray  # (N, 2) float: warmth-weighted centre x, y
    area: np.ndarray  # (N,) float, px at full resolution
    peak: np.ndarray  # (N,) float: highest contrast, water-noise sigmas
    peak_raw: np.ndarray  # (N,) float: warmest raw value (°C radiometric, grey 8-bit), 2x2-smoothed

    def __len__(self) -> int:
        return len(self.area)

    @classmethod
    def empty(cls) -> Blobs:
        z = np.zeros(0)
        return cls(np.zeros((0, 4)), np.zeros((0, 2)), z, z.copy(), z.copy())

    def take(self, keep: np.ndarray) -> Blobs:
        return Blobs(self.box[keep], self.centroid[keep], self.area[keep], self.peak[keep], self.peak_raw[keep])


def extract_blobs(wf: WarmthFrame, crop: tuple[int, int, int, int], scale: int, min_side_px: float) -> Blobs:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(wf.warm, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return Blobs.empty()
    sides = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) * scale
    keep = np.flatnonzero(sides >= min_side_px) + 1  # label ids worth measuring
    if len(keep) == 0:
        return Blobs.empty()
    flat_labels = labels.ravel()
    idx = np.flatnonzero(flat_labels)
    lab = flat_labels[idx]
    contrast = wf.contrast.ravel()[idx]
    # Warmth-weighted centroid: a head and shoulders pull the centre to the head, not the splash around it.
    weights = np.maximum(contrast, 0.0)
    ys, xs = np.divmod(idx, wf.warm.shape[1])
    wsum = np.bincount(lab, weights, minlength=n) + 1e-9
    cx = np.bincount(lab, weights * xs, minlength=n) / wsum
    cy = np.bincount(lab, weights * ys, minlength=n) / wsum
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, lab, contrast)
    # Peak raw value on a 2x2-smoothed image: a single hot pixel (noise, a glint) does not make a head.
    smooth = cv2.blur(wf.raw, (2, 2)).ravel()[idx]
    peak_raw = np.full(n, -np.inf)
    np.maximum.at(peak_raw, lab, smooth)

    x0, y0 = crop[0], crop[1]
    st = stats[keep].astype(np.float64)
    box = np.stack(
        [st[:, 0] * scale + x0, st[:, 1] * scale + y0, st[:, 2] * scale, st[:, 3] * scale], axis=1
    )
    centroid = np.stack([(cx[keep] + 0.5) * scale + x0 - 0.5, (cy[keep] + 0.5) * scale + y0 - 0.5], axis=1)
    area = st[:, cv2.CC_STAT_AREA] * scale * scale
    return Blobs(box, centroid, area, peak[keep], peak_raw[keep])
