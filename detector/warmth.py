"""How much warmer than its background each pixel is, in units of the water's own noise.

Thermal cameras re-scale their 8-bit output whenever something hot enters (AGC) and freeze for a moment
while they recalibrate (NUC/FFC). Both would look like a scene full of movers to a naive background model.
So every frame is first normalised against the water's robust statistics (median and spread from a fixed
sample of water pixels): an AGC gain or offset change cancels out, and the background lives in those
normalised units. Repeated frames are recognised and skipped; a global jump the normalisation cannot
explain (more than a quarter of the scene 'warm' at once) re-baselines the background instead of alerting.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from quaywatch.config.detector import DetectorTuning
from quaywatch.detector.geometry import SceneGeometry

WATER_SAMPLES = 2048
FREEZE_SAMPLE_STEP = 7
GLOBAL_CHANGE_FRACTION = 0.25
LEARN_EVERY = 4  # frames between background updates where nothing is warm
FG_LEARN_EVERY = 40  # frames between the (much slower) learning under foreground pixels


def robust_sigma(deviations: np.ndarray) -> float:
    """Sigma of mostly-normal deviations from a mean of their absolute values, the largest 10 % left out:
    a mean does not jump by whole grey levels like a quantile of 8-bit data, and leaving out the tail keeps
    a person in the water (or a boat) from inflating the water's spread and hiding himself."""
    a = np.abs(deviations)
    k = int(0.9 * len(a))
    return 1.521 * float(np.partition(a, k)[:k].sum()) / k  # E|x| below the 90th percentile of |x| = 0.6575 sigma


@dataclass(slots=True)
class WarmthFrame:
    contrast: np.ndarray  # float32, work crop: (normalised frame - background) / water noise: in noise sigmas
    warm: np.ndarray  # uint8 0/1, work crop: contrast above threshold inside the region of interest
    raw: np.ndarray  # float32, work crop: °C (radiometric) or grey level (8-bit)
    frame: np.ndarray  # the frame as given, full resolution (radiometric peaks are read from it)
    frozen: bool  # a repeat of the previous frame (NUC/FFC freeze, stalled stream): nothing new to see
    rebaselined: bool  # a global change the normalisation could not absorb: background restarted
    water_level: float  # median water value in raw units this frame
    spread: float  # water noise sigma in raw units
    hot_level: float  # 99.5th percentile of the region's contrast, noise sigmas: how warm 'the warm things' are


class WarmthModel:
    def __init__(self, geometry: SceneGeometry, tuning: DetectorTuning, fps: float):
        self.geo = geometry
        self.tuning = tuning
        self.fps = max(fps, 1.0)
        water_idx = np.flatnonzero(geometry.water_work)
        roi_idx = np.flatnonzero(geometry.roi_work)
        self._water_idx = self._spread_sample(water_idx if len(water_idx) else roi_idx)
        self._roi_idx = self._spread_sample(roi_idx)
        self._roi_area = max(len(roi_idx), 1)
        shape = geometry.roi_work.shape
        self._background: np.ndarray | None = None
        self._norm = np.empty(shape, np.float32)
        self._contrast = np.empty(shape, np.float32)
        self._prev_sample: np.ndarray | None = None
        self._typical_change = 0.0
        self._spread = 0.0
        self._noise = 0.0  # water noise after background removal, in normalised units
        self._hot = 0.0
        self._radiometric: bool | None = None
        self._frames = 0

    @staticmethod
    def _spread_sample(idx: np.ndarray) -> np.ndarray:
        if len(idx) <= WATER_SAMPLES:
            return idx
        return idx[np.linspace(0, len(idx) - 1, WATER_SAMPLES).astype(np.int64)]

    # ------------------------------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> WarmthFrame:
        if self._radiometric is None:
            self._radiometric = frame.dtype == np.uint16
        frozen = self._is_repeat(frame)
        raw = self._work_image(frame)
        flat = raw.ravel()
        water = flat[self._water_idx]
        q50 = np.partition(water, len(water) // 2)[len(water) // 2]
        # A (trimmed) mean absolute deviation, not an interquartile range: 8-bit water is a few grey levels
        # wide and its quantiles jump by whole levels (a 2x 'gain change' every few frames); a mean does not.
        floor = 0.05 if self._radiometric else 0.5  # K / grey: below this the spread is quantisation
        spread_now = max(robust_sigma(water - q50), floor)
        rebaselined = False
        if self._spread == 0.0 or not (0.9 < spread_now / self._spread < 1.1):
            self._spread = spread_now  # AGC gain jump: take the new scale at once
        else:
            self._spread += 0.1 * (spread_now - self._spread)  # otherwise smooth quantisation jitter
        inv_spread = 1.0 / self._spread
        if self._background is None:
            self._background = self._initial_background(self._normalise(raw, q50, inv_spread))
        # The scale above follows the AGC; the *noise* is what is left of the water once its background is
        # taken away (ripples, sensor noise), measured on the water sample first, so that the whole image
        # then takes a single pass: contrast = ((raw - q50) / spread - background) / noise, in noise sigmas.
        residual = (water - q50) * np.float32(inv_spread) - self._background.ravel()[self._water_idx]
        self._update_noise(residual, floor * inv_spread)
        k = inv_spread / self._noise
        cv2.addWeighted(raw, k, self._background, -1.0 / self._noise, -q50 * k, dst=self._contrast)
        # 255 where warm, & the 0/1 region of interest: a 0/1 mask in two OpenCV passes.
        warm = cv2.bitwise_and(cv2.compare(self._contrast, self.tuning.warm_sigma, cv2.CMP_GT), self.geo.roi_work)
        if cv2.countNonZero(warm) > GLOBAL_CHANGE_FRACTION * self._roi_area:
            norm = self._normalise(raw, q50, inv_spread)
            self._background = self._initial_background(norm)
            np.subtract(norm, self._background, out=self._contrast)
            np.multiply(self._contrast, np.float32(1.0 / self._noise), out=self._contrast)
            warm[:] = 0
            rebaselined = True
        elif not frozen and self._frames % LEARN_EVERY == 0:
            self._learn(self._normalise(raw, q50, inv_spread), warm)
        if self._frames % 4 == 0:  # the warmest things in view change slowly; every 4th frame
            roi_vals = self._contrast.ravel()[self._roi_idx]
            k = int(0.995 * (len(roi_vals) - 1))
            self._hot = float(np.partition(roi_vals, k)[k])
        hot = self._hot
        self._frames += 1
        return WarmthFrame(self._contrast, warm, raw, frame, frozen, rebaselined, float(q50), self._spread, hot)

    def _normalise(self, raw: np.ndarray, q50: float, inv_spread: float) -> np.ndarray:
        """The frame in the background's units: water median 0, water spread 1 (AGC-proof)."""
        np.subtract(raw, np.float32(q50), out=self._norm)
        np.multiply(self._norm, np.float32(inv_spread), out=self._norm)
        return self._norm

    def _update_noise(self, residual: np.ndarray, floor: float) -> None:
        mid = np.partition(residual, len(residual) // 2)[len(residual) // 2]
        now = max(robust_sigma(residual - mid), floor, 1e-3)
        if self._noise == 0.0 or not (0.5 < now / self._noise < 2.0):
            self._noise = now
        else:
            self._noise += 0.05 * (now - self._noise)

    def _work_image(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.geo.crop
        sub = frame[y0:y1, x0:x1]
        if self.geo.work_scale != 1:
            h, w = self.geo.roi_work.shape
            sub = cv2.resize(sub, (w, h), interpolation=cv2.INTER_AREA)
        raw = sub.astype(np.float32)
        if self._radiometric:
            raw *= np.float32(0.01)  # centikelvin -> kelvin -> °C
            raw -= np.float32(273.15)
        return raw

    def _is_repeat(self, frame: np.ndarray) -> bool:
        """A frame (almost) identical to the last one while the scene normally changes: a freeze."""
        sample = frame[:: FREEZE_SAMPLE_STEP, :: FREEZE_SAMPLE_STEP].astype(np.float32)
        prev, self._prev_sample = self._prev_sample, sample
        if prev is None or prev.shape != sample.shape:
            return False
        change = float(cv2.norm(sample, prev, cv2.NORM_L1)) / sample.size
        if change == 0.0:
            return True
        if self._typical_change > 0 and change < 0.15 * self._typical_change:
            return True  # re-encoded repeats are not bit-identical, but far stiller than live sensor noise
        if self._typical_change == 0:
            self._typical_change = change
        else:  # a typical frame-to-frame change; one big jump (AGC) must not make normal frames look still
            self._typical_change += 0.05 * (min(change, 2 * self._typical_change) - self._typical_change)
        return False

    def _initial_background(self, norm: np.ndarray) -> np.ndarray:
        """Start from a median-filtered scene: it keeps the quay edge and big static shapes sharp and removes
        anything body-sized, so whatever is warm now (a person already in the water, a walker) stays in the
        foreground instead of being learned as background."""
        k = max(3, int(self.geo.person_bottom / self.geo.work_scale) | 1)
        # medianBlur takes any kernel only on 8-bit images: quantise the normalised scene at 1/4 of the water's
        # spread over -32..+31.75 spreads, widened (coarser steps) as far as the scene needs. The fixed window
        # alone clipped a sun-warmed quay (30+ spreads above the water, 16-bit summer day): the clipped background
        # left the whole quay 'warm', over a quarter of the scene, so every frame re-baselined and the detector
        # saw nothing at all.
        roi = self.geo.roi_work > 0
        p_lo, p_hi = (float(v) for v in np.percentile(norm[roi] if roi.any() else norm, (0.1, 99.9)))
        lo, hi = min(-32.0, p_lo), max(31.75, p_hi)
        step = max(0.25, (hi - lo) / 255.0)
        q = np.clip((norm - np.float32(lo)) / np.float32(step), 0, 255).astype(np.uint8)
        return cv2.medianBlur(q, k).astype(np.float32) * np.float32(step) + np.float32(lo)

    def _learn(self, norm: np.ndarray, warm: np.ndarray) -> None:
        """Slow background: every 4th frame where nothing is warm; every 40th, very slowly, everywhere,
        so clutter that arrives and stays (a moored boat) fades out in minutes."""
        alpha = min(1.0, LEARN_EVERY / (self.fps * self.tuning.background_s))
        cv2.accumulateWeighted(norm, self._background, alpha, mask=1 - warm)
        if self._frames % FG_LEARN_EVERY == 0:
            cv2.accumulateWeighted(norm, self._background, alpha * 0.1, mask=warm)

    @property
    def nbytes(self) -> int:
        arrays = [self._norm, self._contrast, self._water_idx, self._roi_idx]
        arrays += [a for a in (self._background, self._prev_sample) if a is not None]
        return sum(a.nbytes for a in arrays)
