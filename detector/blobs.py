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


def _peak_raw_radiometric(wf: WarmthFrame, crop, scale: int, x: int, y: int, w: int, h: int) -> float:
    """Warmest 2x2 average in the blob, read at full resolution (a far head is only a few pixels and
    halving dilutes it): one hot pixel, noise or a glint, does not make a head."""
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
    rects = [r for r in map(cv2.boundingRect, contours) if min_side_px <= max(r[2], r[3]) * scale <= max_side_px]
    if not rects:
        return Blobs.empty()
    warm, contrast, raw = wf.warm, wf.contrast, wf.raw
    radiometric = wf.frame.dtype == np.uint16
    stats = []
    # Per blob, not per pixel: a handful per frame, five OpenCV calls each. Plain Python numbers throughout:
    # NumPy scalars and per-element array writes cost more than the OpenCV calls on boxes this small.
    for x, y, w, h in rects:
        inside = warm[y : y + h, x : x + w]
        m = cv2.moments(inside, binaryImage=True)
        m00 = m["m00"] or 1e-9
        c = contrast[y : y + h, x : x + w]
        peak = cv2.minMaxLoc(c, inside)[1]
        # the core: pixels of the blob at least half as warm as its peak (a head, not its wake)
        core = cv2.bitwise_and(cv2.compare(c, 0.5 * peak, cv2.CMP_GE), inside)
        cx, cy, cw, ch = cv2.boundingRect(core)
        if radiometric:
            peak_raw = _peak_raw_radiometric(wf, crop, scale, x, y, w, h)
        else:  # warmest grey level of the blob in the work image (area-averaged when it is scaled down)
            peak_raw = cv2.minMaxLoc(raw[y : y + h, x : x + w], inside)[1]
        stats.append((m["m00"], m["m10"] / m00 + x, m["m01"] / m00 + y, peak, peak_raw, x + cx, y + cy, cw, ch))
    r = np.array(rects, np.float64)
    st = np.array(stats, np.float64)
    x0, y0 = crop[0], crop[1]
    box = np.column_stack([r[:, 0] * scale + x0, r[:, 1] * scale + y0, r[:, 2] * scale, r[:, 3] * scale])
    centroid = (st[:, 1:3] + 0.5) * scale + np.array([x0, y0]) - 0.5
    core = np.column_stack([st[:, 5] * scale + x0, st[:, 6] * scale + y0, st[:, 7] * scale, st[:, 8] * scale])
    return Blobs(box, centroid, np.maximum(st[:, 0], 1) * scale * scale, st[:, 3].copy(), st[:, 4].copy(), core)
