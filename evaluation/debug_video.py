"""`quaywatch replay CLIP --debug out.mp4`: the detector's view of every frame, for engineers tuning a camera."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.overlay import render_overlay
from quaywatch.detector.types import FrameResult
from quaywatch.edge.pipeline import Alert


class DebugVideo:
    def __init__(self, path: str | Path, camera: Camera, fps: float):
        self.path = Path(path)
        self.camera = camera
        self.fps = fps
        self._container = None
        self._stream = None

    def add(self, index: int, t: float, frame: np.ndarray, result: FrameResult, alerts: list[Alert]) -> None:
        bgr = render_overlay(frame, result, self.camera, detections=[a.detection for a in alerts])
        if self._container is None:
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
            self._stream.pix_fmt = "yuv420p"
            self._stream.width, self._stream.height = bgr.shape[1] // 2 * 2, bgr.shape[0] // 2 * 2
            self._stream.options = {"crf": "23", "preset": "veryfast"}
        h, w = self._stream.height, self._stream.width
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:h, :w]), format="bgr24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
