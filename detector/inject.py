"""A synthetic fall composited into copies of a camera's live frames: what the self-test feeds a second detector.

The fall is the simulator's own `Fall` (walk to the edge, tip over the quay line, splash, a head bobbing
in the water): the same kind of fall the detector is measured on in recordings_fixtures/, so a drill that
fails means the camera's path is broken, not that the drill was unrealistic. It is drawn where this camera's
geometry puts it: on its quay line, into its water polygon, away from its exclude zones, at the person height
its perspective gives, and in the frame's own units:

- uint16 centikelvin (radiometric): real temperatures, e.g. a 30 °C head in 5 °C water.
- uint8 AGC: grey levels measured on the first frame: the person as warm as the warmest things in view and tens
  of water-noise units above the quay and the water (as real people are to the detector); where that would not
  fit below white, the copy is re-stretched as the camera's own AGC would when a warm person walks in.

`SyntheticFall.composite(frame, s)` returns a NEW array and never writes into `frame`: the real detector keeps
seeing the untouched picture. All drawing is vectorised on small sprite patches (NumPy), no per-pixel loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.geometry import SceneGeometry as DetectorGeometry
from quaywatch.simulator.climate import Climate
from quaywatch.simulator.falls import Fall, NoRoom
from quaywatch.simulator.geometry import SceneGeometry as SimGeometry
from quaywatch.simulator.people import BodyLook
from quaywatch.simulator.stage import Stage

KELVIN_0C = 273.15
APPROACH_H = 2.0  # body heights walked along the quay before the edge: ~3 s, enough for a confirmed land track


class NoPlaceForFall(NoRoom):
    """This camera's geometry has no stretch of quay line where a fall can be drawn (in frame, off exclude zones)."""


class _CameraPerspective(SimGeometry):
    """The simulator's geometry, with the person height the detector is configured to expect where the camera
    states one (`person_px_top`/`person_px_bottom`); otherwise the simulator's own perspective for the camera."""

    detector_heights: np.ndarray | None = None

    def person_px(self, y):
        if self.detector_heights is None:
            return super().person_px(y)
        rows = np.clip(np.rint(np.asarray(y, np.float64)).astype(np.intp), 0, len(self.detector_heights) - 1)
        out = self.detector_heights[rows]
        return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True, slots=True)
class Levels:
    """The frame-unit values the fall is drawn with (centikelvin or grey), after `gain` is applied."""

    water: float
    clothes: float
    skin: float
    head_in_water: float
    # 8-bit only: the drill copy is re-stretched as the camera's AGC would when a warm person enters a dim
    # scene: value -> lo + (value - lo) * gain, from the first frame on (so the test detector never sees a jump).
    lo: float = 0.0
    gain: float = 1.0


def _robust_spread(values: np.ndarray) -> float:
    """Sigma of the water's grey levels as the detector measures them (trimmed mean absolute deviation)."""
    dev = np.abs(values - np.median(values))
    k = int(0.9 * len(dev))
    return 1.521 * float(np.partition(dev, k)[:k].mean()) if k else 1.0


def measure_levels(frame: np.ndarray, geo: DetectorGeometry) -> Levels:
    water = frame[geo.water_mask.astype(bool)].astype(np.float32)
    if not water.size:
        water = frame.ravel().astype(np.float32)
    water_v = float(np.median(water))
    land_mask = (geo.water_mask == 0) & (np.abs(geo.water_distance_map) < 3 * geo.person_bottom)
    land = frame[land_mask]
    land_v = float(np.median(land)) if land.size else water_v
    if frame.dtype == np.uint16:
        water_c = water_v / 100.0 - KELVIN_0C
        land_c = land_v / 100.0 - KELVIN_0C
        clothes_c = float(np.clip(max(land_c + 5.0, water_c + 10.0), 18.0, 34.0))
        skin_c = max(clothes_c + 4.0, 31.0)
        head_c = float(np.clip(water_c + 22.0, 27.0, 31.0))  # a wet head, partly cooled (climate.py anchors)
        to_ck = lambda c: (c + KELVIN_0C) * 100.0  # noqa: E731
        return Levels(water_v, to_ck(clothes_c), to_ck(skin_c), to_ck(head_c))
    # 8-bit: the detector measures warmth in units of the water's spread, so a person must stand tens of those
    # above the ground (real people on the fixtures: 30-35), and be as warm as the warmest things in view (the
    # 40 hottest pixels, which an AGC stretches to near white).
    sigma = max(0.85 * _robust_spread(water), 1.0)
    flat = frame.ravel()
    hot = float(np.partition(flat, flat.size - 40)[-40:].mean()) if flat.size > 40 else float(flat.max())
    ground = max(land_v, water_v)
    skin = max(hot, ground + 35.0 * sigma, ground + 70.0)
    clothes = ground + 0.8 * (skin - ground)
    head = water_v + max(0.9 * (skin - water_v), 35.0 * sigma)
    lo = float(np.percentile(flat[::7], 1.0))
    top = max(skin, head)
    gain = min(1.0, (250.0 - lo) / max(top - lo, 1e-6))  # a warm person makes the AGC compress the scene
    squeeze = lambda v: lo + (v - lo) * gain  # noqa: E731
    return Levels(squeeze(water_v), squeeze(clothes), squeeze(skin), squeeze(head), lo, gain)


class SyntheticFall:
    """One scripted fall for one camera. Times `s` are seconds since the self-test's first frame."""

    def __init__(self, camera: Camera, frame: np.ndarray, seed: int = 0, start_s: float = 2.0):
        """`frame` is the first live frame (shape, units and levels are taken from it); the walker appears at
        `start_s` so the detector first learns the scene without him."""
        h, w = frame.shape[:2]
        self.dtype = frame.dtype
        self.shape = (h, w)
        det_geo = DetectorGeometry(camera, (h, w))
        self.levels = measure_levels(frame, det_geo)
        geo = _CameraPerspective(w, h, camera.water, camera.quay_line, list(camera.exclude))
        tuning = camera.detector
        if tuning.person_px_top is not None or tuning.person_px_bottom is not None:
            geo.detector_heights = det_geo.person_px_by_row
        elif "max_body_px" in tuning.model_fields_set:
            geo.person_px_at_bottom = tuning.max_body_px  # the camera's statement of the nearest person's size
        self.geo = geo
        self.fall = self._place(camera, det_geo, np.random.default_rng([seed, 7]))
        self.offset = start_s - self.fall.start  # script time = s - offset
        self.entry_s = self.fall.entry_t + self.offset
        self.person_px = self.fall.h
        self.water = det_geo.water_mask.astype(bool)
        self._climate = Climate("selftest", True, *(self.levels.water,) * 3, self.levels.clothes,
                                self.levels.skin, self.levels.head_in_water, self.levels.water)

    def _place(self, camera: Camera, det_geo: DetectorGeometry, rng: np.random.Generator) -> Fall:
        lv = self.levels
        # Fall where the camera sees people biggest (the nearer half of its quay line): a drill proves the
        # camera's path works, not the detector's range limit, and a 1-px head far away is a coin toss.
        grid = np.linspace(0.05, 0.95, 37)
        heights = np.array([float(self.geo.person_px(self.geo.quay_point(u)[0][1])) for u in grid])
        near = grid[heights >= np.median(heights)]
        for attempt in range(40):
            u = float(rng.choice(near) + rng.uniform(-0.012, 0.012) if attempt < 30 else rng.uniform(0.02, 0.98))
            try:
                fall = Fall(self.geo, rng, BodyLook(lv.clothes, lv.skin, 1.0), u, 0.0, lv.head_in_water, lv.water,
                            approach_h=APPROACH_H)
            except NoRoom:
                continue
            # The detector (rightly) ignores what happens behind an exclude zone: keep the whole fall clear of them.
            pts = np.concatenate([fall.walker.track.points, [fall.landing], fall.head_track.points[:20]])
            h = fall.h
            if any(det_geo.touches_exclude(np.array([x - 0.4 * h, y - 1.2 * h, 0.8 * h, 1.4 * h]), 0.2 * h)
                   for x, y in pts[:: max(1, len(pts) // 24)]):
                continue
            return fall
        raise NoPlaceForFall(f"camera {camera.id}: no stretch of its quay line has room for a synthetic fall "
                             "(in frame, with water beside it and clear of exclude zones)")

    def near_fall(self, bbox: tuple[int, int, int, int], s: float) -> bool:
        """Is a detection box where the synthetic person is (within ~1.5 body heights)? A real person elsewhere
        in the picture must not pass the self-test."""
        x, y, w, h = bbox
        centre = np.array([x + w / 2.0, y + h / 2.0])
        t = s - self.offset
        spots = [self.fall.landing, self.fall.head_at(max(t, self.fall.surface_t)), self.fall.feet]
        return min(float(np.hypot(*(centre - p))) for p in spots) <= 1.5 * self.person_px

    def composite(self, frame: np.ndarray, s: float) -> np.ndarray:
        """A copy of `frame` with the fall drawn as it is `s` seconds into the self-test."""
        if frame.shape[:2] != self.shape or frame.dtype != self.dtype:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match the self-test's first frame "
                             f"{self.shape} {self.dtype}")
        field = frame.astype(np.float32)
        if self.levels.gain != 1.0:
            field -= np.float32(self.levels.lo)
            field *= np.float32(self.levels.gain)
            field += np.float32(self.levels.lo)
        stage = Stage(self.geo, self._climate, self.water, False, field)
        self.fall.draw(stage, s - self.offset)
        top = 65535 if self.dtype == np.uint16 else 255
        return np.clip(np.rint(field), 0, top).astype(self.dtype)
