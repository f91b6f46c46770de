"""Tracks with stable ids: blobs of consecutive frames joined by predicted position, gated by body size.

The cost matrix (tracks x blobs) is one broadcast NumPy expression; the assignment is greedy over the
sorted costs, which for the handful of objects on a quay is the optimal one in practice and needs no SciPy.
The gate grows with the expected person size at that row (perspective) and with the track's own speed,
so a falling body (fast, for half a second) keeps its id.
"""

from __future__ import annotations

import itertools

import numpy as np

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
        "exit_peak",
        "first_water_t",
        "hits",
        "id",
        "incident",
        "land_anchor",
        "land_height",
        "land_peak",
        "land_person_t",
        "land_point",
        "last_frame",
        "last_t",
        "misses",
        "not_a_person",
        "peak",
        "peak_raw",
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

    def update(self, blobs: Blobs, i: int, t: float, frame_index: int, min_dt: float) -> None:
        # Never less than half a frame interval: two frames stamped 2 ms apart (a burst from a source
        # without timestamps) must not turn a 1 px jitter into a 500 px/s velocity.
        dt = max(t - self.last_t, min_dt)
        new_c = blobs.centroid[i]
        inst_v = (new_c - self.centroid) / dt
        self.velocity = inst_v if self.hits == 1 else 0.5 * self.velocity + 0.5 * inst_v
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
            cost = self._cost(blobs, t)
            order = np.argsort(cost, axis=None)
            used_t = np.zeros(len(self.tracks), bool)
            for flat in order[: np.count_nonzero(cost <= 1.0)]:
                ti, bi = divmod(int(flat), len(blobs))
                if used_t[ti] or matched_blobs[bi]:
                    continue
                used_t[ti] = matched_blobs[bi] = True
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

    def _cost(self, blobs: Blobs, t: float) -> np.ndarray:
        """Distance from each track's predicted centre to each blob, in units of that track's gate (<=1 ok)."""
        c = np.array([tr.centroid for tr in self.tracks])
        v = np.array([tr.velocity for tr in self.tracks])
        dt = np.array([t - tr.last_t for tr in self.tracks])
        predicted = c + v * dt[:, None]
        e = self.geo.person_height(c[:, 1])
        # No growth with time unseen: a track that waits for its object must not grab a neighbour instead.
        gate = np.maximum(self.gate * e, 4.0) + 0.5 * np.hypot(*v.T) * dt
        d = np.hypot(*(predicted[:, None, :] - blobs.centroid[None, :, :]).transpose(2, 0, 1))
        return d / gate[:, None]

    @property
    def nbytes(self) -> int:
        return len(self.tracks) * 1200  # estimate: a TrackState and its six small arrays (~100 B + 80 B each)
