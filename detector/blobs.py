"""Warm blobs: connected warm regions with their box, centroid and warmth, as parallel NumPy arrays.

`findContours` finds them (measured 30x cheaper than connectedComponentsWithStats on a mostly empty mask,
which scans the whole frame for its statistics); each blob is then measured inside its own box, so the
cost follows the number of warm pixels rather than the frame size. No Python loop over pixels.
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
    centroid: np.ndarray  # (N, 2) float: centre of the blob's pixels, x, y
    area: np.ndarray  # (N,) float, px at full resolution
    peak: np.ndarray  # (N,) float: highest contrast, water-noise sigmas
    peak_raw: np.ndarray  # (N,) float: warmest raw value (°C radiometric, grey 8-bit), 2x2-smoothed
    core: np.ndarray  # (N, 4) float: box of the pixels at least half as warm as the peak (a head, not its wake)

    def __len__(self) -> int:
        return len(self.area)

    @classmethod
    def empty(cls) -> Blobs:
        z = np.zeros(0)
        return cls(np.zeros((0, 4)), np.zeros((0, 2)), z, z.copy(), z.copy(), np.zeros((0, 4)))

    def take(self, keep: np.ndarray) -> Blobs:
        return Blobs(self.box[keep], self.centroid[keep], self.area[keep], self.peak[keep], self.peak_raw[keep],
                     self.core[keep])


def _peak_raw(wf: WarmthFrame, crop, scale: int, x: int, y: int, w: int, h: int, inside: np.ndarray) -> float:
    """Warmest 2x2 average in the blob (one hot pixel, noise or a glint, does not make a head). Radiometric
    frames are read at full resolution, because a far head is only a few pixels and halving dilutes it."""
    if wf.frame.dtype != np.uint16:
        return float(cv2.minMaxLoc(wf.raw[y : y + h, x : x + w], inside)[1])
    fx, fy = crop[0] + x * scale, crop[1] + y * scale
    patch = wf.frame[fy : fy + h * scale, fx : fx + w * scale].astype(np.float32)
    smooth = cv2.blur(patch, (2, 2)) if min(patch.shape) > 1 else patch
    return float(smooth.max()) * 0.01 - 273.15


def extract_blobs(
    wf: WarmthFrame, crop: tuple[int, int, int, int], scale: int, min_side_px: float, max_side_px: float = 1e9
) -> Blobs:
    """Outer contours of the warm mask, then each blob measured inside its own box (a few hundred pixels),
    never a pass over the whole frame: the frame-sized work is done once, by the warmth model."""
    contours, _ = cv2.findContours(wf.warm, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return Blobs.empty()
    rects = np.array([cv2.boundingRect(c) for c in contours], np.int64).reshape(-1, 4)
    sides = np.maximum(rects[:, 2], rects[:, 3]) * scale
    keep = np.flatnonzero((sides >= min_side_px) & (sides <= max_side_px))
    n = len(keep)
    if n == 0:
        return Blobs.empty()
    centroid = np.empty((n, 2))
    area, peak, peak_raw = np.empty(n), np.empty(n), np.empty(n)
    core = np.empty((n, 4))
    for j, k in enumerate(keep):  # per blob, not per pixel: a handful per frame, four OpenCV calls each
        x, y, w, h = rects[k]
        inside = wf.warm[y : y + h, x : x + w]
        m = cv2.moments(inside, binaryImage=True)
        area[j] = m["m00"]
        m00 = m["m00"] or 1e-9
        centroid[j] = (m["m10"] / m00 + x, m["m01"] / m00 + y)
        contrast = wf.contrast[y : y + h, x : x + w]
        peak[j] = cv2.minMaxLoc(contrast, inside)[1]
        cx, cy, cw, ch = cv2.boundingRect(((contrast >= 0.5 * peak[j]) & (inside > 0)).view(np.uint8))
        core[j] = (x + cx, y + cy, cw, ch)
        peak_raw[j] = _peak_raw(wf, crop, scale, x, y, w, h, inside)
    r = rects[keep].astype(np.float64)
    x0, y0 = crop[0], crop[1]
    box = np.stack([r[:, 0] * scale + x0, r[:, 1] * scale + y0, r[:, 2] * scale, r[:, 3] * scale], axis=1)
    centroid = (centroid + 0.5) * scale + np.array([x0, y0]) - 0.5
    core = np.column_stack([core[:, 0] * scale + x0, core[:, 1] * scale + y0, core[:, 2] * scale, core[:, 3] * scale])
    return Blobs(box, centroid, np.maximum(area, 1) * scale * scale, peak, peak_raw, core)
