"""Recorded clips: the footage contract shared by the simulator, replay, eval and the edge.

- 8-bit AGC clips: MP4, H.264, grey (what thermal cameras stream over RTSP).
- 16-bit radiometric clips: MKV, FFV1, gray16le, values in centikelvin (K x 100).

PyAV is used on both sides because OpenCV's capture cannot return 16-bit frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quaywatch.errors import QuaywatchError


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    width: int
    height: int
    fps: float
    frames: int | None
    bit_depth: int  # 8 or 16

    @property
    def duration_s(self) -> float | None:
        return None if self.frames is None else self.frames / self.fps


def _open(path: Path):
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise QuaywatchError(f"{path}: clip not found") from None
    except av.error.FFmpegError as exc:
        raise QuaywatchError(f"{path}: cannot open clip: {exc}") from None
    if not container.streams.video:
        container.close()
        raise QuaywatchError(f"{path}: clip has no video stream")
    return container


def clip_info(path: str | Path) -> ClipInfo:
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        fmt = stream.codec_context.pix_fmt or ""
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 9.0
        frames = stream.frames or None
        if frames is None and stream.duration is not None and stream.time_base is not None:
            frames = round(float(stream.duration * stream.time_base) * fps)
        return ClipInfo(path, stream.codec_context.width, stream.codec_context.height, fps, frames,
                        16 if "16" in fmt else 8)


def read_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds from clip start, frame) with frame uint8 (8-bit clips) or uint16 centikelvin."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sixteen = "16" in (stream.codec_context.pix_fmt or "")
        fps = float(stream.average_rate or stream.guessed_rate or 9.0)
        for i, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else i / fps
            if sixteen:
                yield t, frame.to_ndarray(format="gray16le")
            else:
                yield t, frame.to_ndarray(format="gray")
    except av.error.FFmpegError as exc:
        raise QuaywatchError(f"{path}: clip is damaged: {exc}") from None
    finally:
        container.close()


class ClipWriter:
    """Write frames to a clip in the contract's format, chosen by dtype: uint8 -> MP4/H.264, uint16 -> MKV/FFV1."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, bit_depth: int = 8, crf: int = 20):
        self.path = Path(path)
        want = ".mkv" if bit_depth == 16 else ".mp4"
        if self.path.suffix.lower() != want:
            raise QuaywatchError(f"{self.path}: {bit_depth}-bit clips are {want} files")
        self.bit_depth = bit_depth
        self._container = av.open(str(self.path), "w")
        rate = Fraction(fps).limit_denominator(1000)
        if bit_depth == 16:
            self._stream = self._container.add_stream("ffv1", rate=rate)
            self._stream.pix_fmt = "gray16le"
        else:
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.pix_fmt = "yuv420p"  # what players and RTSP cameras use; grey lives in Y
            self._stream.options = {"crf": str(crf), "preset": "medium", "tune": "grain"}
        self._stream.width, self._stream.height = width, height
        self._fmt = "gray16le" if bit_depth == 16 else "gray"

    def write(self, frame: np.ndarray) -> None:
        expected = np.uint16 if self.bit_depth == 16 else np.uint8
        if frame.dtype != expected:
            raise QuaywatchError(f"{self.path}: expected {expected.__name__} frames, got {frame.dtype}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=self._fmt)
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
