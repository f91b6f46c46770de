"""Frames in, alerts out, for one camera: the single code path shared by `quaywatch replay` and the live edge.

The live worker feeds frames from RTSP/ONVIF with wall-clock times; replay feeds a clip's frames with
clip times. Both get the same Alert objects, so what eval measures is what the harbour runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quaywatch.config import Camera, Site
from quaywatch.detector import Detector
from quaywatch.detector.types import Detection, FrameResult


@dataclass(frozen=True, slots=True)
class Alert:
    site: str
    camera: str
    detection: Detection

    def as_json(self) -> dict:
        d = self.detection
        return {
            "kind": d.kind,
            "t": round(d.t, 3),
            "camera": self.camera,
            "track_id": d.track_id,
            "bbox": list(d.bbox),
            "confidence": round(d.confidence, 3),
        }


class CameraPipeline:
    def __init__(self, site: Site, camera: Camera, fps: float):
        self.site = site
        self.camera = camera
        self.fps = fps
        self._detector: Detector | None = None
        self.frames = 0
        self.last: FrameResult | None = None

    def process(self, t: float, frame: np.ndarray) -> list[Alert]:
        if self._detector is None:  # built on the first frame: the stream decides the resolution
            self._detector = Detector(self.camera, fps=self.fps, frame_shape=frame.shape[:2])
        result = self._detector.process(frame, t)
        self.frames += 1
        self.last = result
        return [Alert(self.site.site.id, self.camera.id, d) for d in result.detections]

    @property
    def detector(self) -> Detector | None:
        return self._detector
