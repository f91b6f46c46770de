"""The per-camera detector: warmth model -> blobs -> tracks -> rules. All state for one camera lives here."""

from __future__ import annotations

import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.blobs import Blobs, extract_blobs
from quaywatch.detector.geometry import SceneGeometry
from quaywatch.detector.rules import AlertRules, FrameContext
from quaywatch.detector.tracker import Tracker, TrackState
from quaywatch.detector.types import FrameResult, Track
from quaywatch.detector.warmth import WarmthModel
from quaywatch.errors import QuaywatchError


class Detector:
    """`Detector(camera, fps, frame_shape).process(frame, t) -> FrameResult`, one instance per camera.

    frame: (H, W) uint8 AGC grey or uint16 centikelvin (K x 100), the shape given at construction.
    """

    def __init__(self, camera: Camera, fps: float, frame_shape: tuple[int, int]):
        self.camera = camera
        self.fps = float(fps) if fps and fps > 0 else 9.0
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.geometry = SceneGeometry(camera, self.shape)
        self.tuning = camera.detector
        self.warmth = WarmthModel(self.geometry, self.tuning, self.fps)
        self.tracker = Tracker(self.geometry, self.fps)
        self.rules = AlertRules(self.geometry, self.tuning)
        self.frame_index = -1
        self._last_blobs = Blobs.empty()

    def process(self, frame: np.ndarray, t: float) -> FrameResult:
        if frame.ndim != 2 or frame.shape != self.shape:
            raise QuaywatchError(
                f"camera {self.camera.id}: frame of shape {frame.shape} but the detector was set up for "
                f"{self.shape[0]}x{self.shape[1]} grey frames (resolution changed? restart the camera)"
            )
        if frame.dtype not in (np.uint8, np.uint16):
            raise QuaywatchError(f"camera {self.camera.id}: frames must be uint8 or uint16, got {frame.dtype}")
        self.frame_index += 1
        wf = self.warmth.process(frame)
        if wf.frozen:
            # Nothing new was seen: tracks neither move nor age, so a freeze cannot make anyone 'vanish'.
            return self._result([], frozen=True, rebaselined=False, blobs=self._last_blobs)
        blobs = extract_blobs(wf, self.geometry.crop, self.geometry.work_scale, self.tuning.min_body_px,
                              self.tuning.max_body_px)
        self._last_blobs = blobs
        alive, lost = self.tracker.step(blobs, t, self.frame_index)
        ctx = FrameContext(t, self.frame_index, frame.dtype == np.uint16, wf.hot_level, wf.rebaselined)
        detections = self.rules.step(alive, lost, ctx)
        return self._result(detections, frozen=False, rebaselined=wf.rebaselined, blobs=blobs)

    def _result(self, detections, frozen: bool, rebaselined: bool, blobs: Blobs) -> FrameResult:
        sides = self.rules.last_sides
        tracks = [self._public(tr, sides[tr.id]) for tr in self.tracker.tracks if tr.misses == 0 and tr.id in sides]
        boxes = [tuple(b) for b in np.rint(blobs.box).astype(int).tolist()]
        return FrameResult(tracks, detections, frame_index=self.frame_index, frozen=frozen,
                           rebaselined=rebaselined, blobs=boxes)

    def _public(self, tr: TrackState, side: str) -> Track:
        bx, by, bw, bh = tr.box.tolist()
        box = (round(bx), round(by), round(bw), round(bh))  # half to even, as np.rint
        anchor = (bx + bw / 2.0, by + bh)  # TrackState.anchor, without building an array per track per frame
        return Track(tr.id, box, anchor, side == "water", round(tr.peak, 2),
                     tr.hits, tr.hits >= 3, side=side, alerted=tr.alerted)

    @property
    def memory_bytes(self) -> int:
        """What this camera's detector holds between frames: background, buffers, masks and tracks."""
        return self.warmth.nbytes + self.geometry.nbytes + self.tracker.nbytes
