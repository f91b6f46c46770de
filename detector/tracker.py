"""Tracks with stable ids: blobs of consecutive frames joined by predicted position, size and warmth.

Each track predicts its centre with a constant-velocity model (an alpha-beta filter: the velocity is a running
mean of the measured steps). The cost of giving a blob to a track (tracks x blobs, one broadcast NumPy
expression) is the distance from the prediction in units of the track's gate, plus how much the blob's area
and warmth differ from the track's; the assignment is global (`scipy.optimize.linear_sum_assignment`), so in
a crowd at the edge two people passing each other, or a person and his cooler reflection, keep their own ids.
The gate grows with the expected person size at that row (perspective) and with the track's own speed, so a
falling body (fast, for half a second) keeps its id; a still thing never takes a blob several times its size
(something new arrived over it: a splash, a passer-by), which is a new track instead.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

from quaywatch.detector import explain
from quaywatch.detector.blobs import Blobs
from quaywatch.detector.geometry import SceneGeometry


class TrackState:
    """One tracked warm object. Mutable; `rules.py` keeps its per-track verdicts here too."""

    __slots__ = (
        "alerted",
        "area",
        "body_frames",
        "born_frame",
        "born_side",
        "born_t",
        "box",
        "centroid",
        "core",
        "crossed_frame",
        "crossed_t",
        "excursion",
        "exit_peak",
        "explain",
        "explain_t",
        "first_water_t",
        "hits",
        "id",
        "incident",
        "jitter2",
        "land_anchor",
        "land_height",
        "land_peak",
        "land_person_t",
        "land_point",
        "land_top",
        "last_dt",
        "last_frame",
        "last_growth",
        "last_step",
        "last_t",
        "misses",
        "motion_anchor",
        "motion_point",
        "not_a_person",
        "peak",
        "peak_raw",
        "prev_top",
        "sank_frame",
        "sank_t",
        "scenery_born",
        "sink_frames",
        "stand_behaved",
        "stand_t",
        "start_centroid",
        "velocity",
        "water_frames",
        "water_height",
        "water_peak",
    )

    def __init__(self, track_id: int, blobs: Blobs, i: int, t: float, frame_index: int):
        self.id = track_id
        self.box = blobs.box[i].copy()
        self.core = blobs.core[i].copy()
        self.centroid = blobs.centroid[i].copy()
        self.start_centroid = self.centroid.copy()
        self.area = float(blobs.area[i])
        self.peak = float(blobs.peak[i])
        self.peak_raw = float(blobs.peak_raw[i])
        self.velocity = np.zeros(2)
        self.last_step = np.zeros(2)
        self.last_growth = 1.0  # area now / area the frame before
        self.last_dt = 0.0
        self.born_t = self.last_t = t
        self.born_frame = self.last_frame = frame_index
        self.hits = 1
        self.misses = 0
        # rule state (see rules.py)
        self.born_side = ""
        self.land_person_t: float | None = None
        self.land_point: np.ndarray | None = None  # centroid when last seen on land as a person
        self.land_anchor: np.ndarray | None = None  # bottom-centre of its box then: where it stood
        self.land_height = 0.0
        self.land_top = 0.0  # row of the box top when last seen standing on land
        self.stand_t: float | None = None  # when it was last seen standing (a whole person) on land
        self.stand_behaved = False  # it had behaved like a person by then (rules.behaved)
        self.sink_frames = 0  # frames in a row its top went down since it last stood
        self.prev_top = float(self.box[1])
        self.sank_t: float | None = None  # when it dropped out of sight behind the quay edge (rules.py)
        self.sank_frame = -1
        self.crossed_t: float | None = None
        self.crossed_frame = -1
        self.first_water_t: float | None = None
        self.water_frames = 0
        self.water_height = 0.0  # tallest box seen on the water side, person heights
        self.land_peak = 0.0  # warmest seen on land (noise sigmas): a body in the water is about as warm
        self.water_peak = 0.0  # warmest seen on the water side
        self.exit_peak = 0.0  # warmest seen since it last stood on the land side
        self.body_frames = 0  # frames on the water side that looked like a person in the water
        self.not_a_person = False  # long on the water without once looking like a person (rules.py)
        self.alerted = False
        self.incident = None  # the rules.Incident this track belongs to, once it alerted
        # motion evidence (rules.py): a smoothed centre, where it was at birth, and the farthest it has been
        # from there in person heights. Static scenery stays within its jitter; people wander, swim, bob.
        self.motion_point = self.centroid.copy()
        self.motion_anchor = self.centroid.copy()
        self.excursion = 0.0
        self.scenery_born = False  # born at a start or re-baseline (or from such a thing's blob): may be scenery
        self.explain = explain.new_scores()  # evidence for each explanation of it, weighed over frames
        self.explain_t = t
        self.jitter2 = 0.0  # mean squared frame-to-frame step of the raw centre, halved: its noise variance

    def update(self, blobs: Blobs, i: int, t: float, frame_index: int, min_dt: float) -> None:
        # Never less than half a frame interval: two frames stamped 2 ms apart (a burst from a source
        # without timestamps) must not turn a 1 px jitter into a 500 px/s velocity.
        dt = max(t - self.last_t, min_dt)
        new_c = blobs.centroid[i]
        step = new_c - self.centroid
        inst_v = step / dt
        # white noise around a fixed point steps sqrt(2) sigma a frame; smooth motion steps far less
        self.jitter2 += 0.1 * (0.5 * float(step @ step) - self.jitter2)
        self.velocity = inst_v if self.hits == 1 else 0.5 * self.velocity + 0.5 * inst_v
        self.last_step = step
        self.last_dt = dt
        growth = self.last_growth = float(blobs.area[i]) / max(self.area, 1.0)
        if not 1 / SHAPE_JUMP < growth < SHAPE_JUMP:
            # The blob changed shape at once (split, merged, a fragment of it flickered away): its centre jumped
            # without the thing moving. That jump is no evidence of behaviour (rules.behaved): carry it over.
            self.motion_anchor += step
            self.motion_point += step
        self.centroid = new_c.copy()
        self.box = blobs.box[i].copy()
        self.core = blobs.core[i].copy()
        self.area = float(blobs.area[i])
        self.peak = float(blobs.peak[i])
        self.peak_raw = float(blobs.peak_raw[i])
        self.last_t, self.last_frame = t, frame_index
        self.hits += 1
        self.misses = 0

    @property
    def anchor(self) -> np.ndarray:
        """Bottom-centre of the box: where the body meets the ground (or the water surface)."""
        x, y, w, h = self.box
        return np.array([x + w / 2.0, y + h])

    @property
    def top(self) -> np.ndarray:
        x, y, w, _ = self.box
        return np.array([x + w / 2.0, y])


SIZE_WEIGHT = 0.15  # cost per e-fold of area difference, in gate units: a size change must be paid for
WARMTH_WEIGHT = 0.2  # cost per e-fold of warmth difference: a reflection is cooler than the person
STILL_SPEED = 0.3  # person heights per second: slower is a still thing...
STILL_MAX_GROWTH = 4.0  # ...which never grows to more than this many times its area in one frame
MAX_GROWTH = 6.0  # no body grows this many times its area in one frame (a fall spreads 2-3x): it merged
MAX_SPEED = 4.0  # person heights per second: a falling body; faster is a track hopping between blobs
NO_MATCH = 1e6
MAX_WARMTH_RATIO = 5.0  # a body's peak warmth does not change five-fold in a frame: a fragment that faint (or that
# much warmer) is something else, and a track handed to it 'moves' and 'sinks' without the body doing so
SHAPE_JUMP = 1.3  # area ratio between frames beyond which a centre's step is a change of shape, not motion


class Tracker:
    def __init__(self, geometry: SceneGeometry, fps: float, max_miss_s: float = 0.5, gate: float = 0.8):
        self.geo = geometry
        self.max_miss = max(2, round(max_miss_s * fps))
        self.min_dt = 0.5 / max(fps, 1.0)
        self.gate = gate  # person heights a body may move between frames, before adding its own speed
        self.tracks: list[TrackState] = []
        self._ids = itertools.count(1)

    def step(self, blobs: Blobs, t: float, frame_index: int) -> tuple[list[TrackState], list[TrackState]]:
        """Associate this frame's blobs. Returns (tracks alive after this frame, tracks lost this frame)."""
        matched_blobs = np.zeros(len(blobs), bool)
        if self.tracks and len(blobs):
            cost, allowed = self._cost(blobs, t)
            rows, cols = linear_sum_assignment(np.where(allowed, cost, NO_MATCH))
            for ti, bi in zip(rows.tolist(), cols.tolist(), strict=True):
                if allowed[ti, bi]:
                    matched_blobs[bi] = True
                    self.tracks[ti].update(blobs, bi, t, frame_index, self.min_dt)
        lost: list[TrackState] = []
        alive: list[TrackState] = []
        for tr in self.tracks:
            if tr.last_frame != frame_index:
                tr.misses += 1
            (lost if tr.misses > self.max_miss else alive).append(tr)
        for bi in np.flatnonzero(~matched_blobs):
            alive.append(TrackState(next(self._ids), blobs, int(bi), t, frame_index))
        self.tracks = alive
        return alive, lost

    def _cost(self, blobs: Blobs, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(cost, allowed), tracks x blobs. Cost: distance from the track's predicted centre in units of its gate,
        plus the area and warmth differences; allowed: inside the gate, and no still thing grown several-fold."""
        c = np.array([tr.centroid for tr in self.tracks])
        v = np.array([tr.velocity for tr in self.tracks])
        dt = np.array([t - tr.last_t for tr in self.tracks])
        area = np.array([tr.area for tr in self.tracks])
        peak = np.array([tr.peak for tr in self.tracks])
        predicted = c + v * dt[:, None]
        e = self.geo.person_height(c[:, 1])
        speed = np.hypot(*v.T)
        # No growth with time unseen: a track that waits for its object must not grab a neighbour instead. Nor
        # with a speed no body has: a track that hopped between specks must not widen its gate by hopping.
        gate = np.maximum(self.gate * e, 4.0) + 0.5 * np.minimum(speed, MAX_SPEED * e) * dt
        d = np.hypot(*(predicted[:, None, :] - blobs.centroid[None, :, :]).transpose(2, 0, 1))
        position = d / gate[:, None]
        growth = blobs.area[None, :] / np.maximum(area, 1.0)[:, None]
        warmth = np.maximum(blobs.peak[None, :], 1e-3) / np.maximum(peak, 1e-3)[:, None]
        warmth_change = np.abs(np.log(warmth))  # e-folds, either way
        cost = position + SIZE_WEIGHT * np.abs(np.log(growth)) + WARMTH_WEIGHT * warmth_change
        still = (speed < STILL_SPEED * e)[:, None]
        allowed = (position <= 1.0) & ~(still & (growth > STILL_MAX_GROWTH)) & (growth <= MAX_GROWTH)
        allowed &= warmth_change <= np.log(MAX_WARMTH_RATIO)
        return cost, allowed

    @property
    def nbytes(self) -> int:
        return len(self.tracks) * 1200  # estimate: a TrackState and its six small arrays (~100 B + 80 B each)
