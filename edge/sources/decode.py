"""Reading one opened PyAV video stream the way the detector needs it, shared by RTSP and clip replay:

- **Only the luma plane**: the detector works on grey, and a thermal camera's H.264 carries its grey in Y.
  The frame handed out is a NumPy view of the decoder's own Y buffer (its line stride kept: a strided view
  when the stride is wider than the picture), no colour conversion, no copy (limited-range video: one
  table lookup). The view holds the decoded picture alive for as long as someone uses it; the decoder never
  writes into a picture it has handed out.
- **Only the frames the detector wants** (`detect_fps` below the stream's rate): a packet whose frame is not
  due is decoded with `skip_frame=NONREF`, so the decoder drops it unread when nothing refers to it (B-frames,
  non-reference P-frames); frames the codec must decode anyway are dropped after decoding, which costs no
  conversion now.
- **Every packet kept for evidence** (H.264/H.265 only) in the camera's EncodedRing, Annex B, before any
  decoding decision: the clip is the camera's stream, at the camera's full rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import av
import cv2
import numpy as np

from quaywatch.edge.packet_ring import REMUXABLE, EncodedRing, Session, Unit

# pixel formats whose first plane is the grey picture, 8 bits a sample
_Y_FIRST = {"gray", "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21",
            "yuv411p", "yuv440p", "yuvj440p"}


def _limited_to_full() -> np.ndarray:
    """FFmpeg's own grey levels for limited-range ("TV", 16-235) luma, taken from swscale itself, so a frame
    reads exactly as `to_ndarray(format="gray")` gave it (what the detector was tuned on)."""
    frame = av.VideoFrame(256, 2, "yuv420p")
    frame.color_range = 1  # MPEG / limited
    y = frame.planes[0]
    np.ndarray((2, 256), np.uint8, buffer=y, strides=(y.line_size, 1))[:] = np.arange(256, dtype=np.uint8)
    for plane in frame.planes[1:]:
        np.ndarray((plane.height, plane.line_size), np.uint8, buffer=plane)[:] = 128
    return np.ascontiguousarray(frame.to_ndarray(format="gray")[0])


_LUT = _limited_to_full()


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The grey picture from the decoder's buffer: uint8 (the Y plane) or uint16 (gray16le).

    Full-range luma (a thermal camera's `yuvj420p`, grey, 16-bit) is a view, no copy. Limited-range luma
    (16-235, what most encoders write to files) goes through a 256-entry table, one cheap pass instead of
    swscale's conversion, to the very levels the detector always got."""
    fmt = frame.format.name
    if fmt in _Y_FIRST:
        dtype, size = np.uint8, 1
    elif fmt == "gray16le":
        dtype, size = np.uint16, 2
    else:  # anything else (RGB from an MJPEG camera, 10-bit YUV): convert, as before
        return frame.to_ndarray(format="gray16le" if "16" in fmt else "gray")
    plane = frame.planes[0]
    view = np.ndarray((frame.height, frame.width), dtype, buffer=plane, strides=(plane.line_size, size))
    if size == 1 and fmt != "gray" and not fmt.startswith("yuvj") and frame.color_range != 2:
        return cv2.LUT(view, _LUT)
    return view


class Thinner:
    """Which frames a detector running at `fps` takes from a faster stream: one per 1/fps of stream time, on
    a steady grid (20 of 30 fps gives 20, not 15); a quarter interval of slack absorbs timestamp rounding."""

    def __init__(self, fps: float | None):
        self.interval = 1.0 / fps if fps else 0.0
        self._next: float | None = None

    def due(self, t: float) -> bool:
        return not self.interval or self._next is None or t >= self._next - 0.25 * self.interval

    def take(self, t: float) -> None:
        if self.interval:
            late = self._next is None or t - self._next >= self.interval or t < self._next - self.interval
            self._next = t + self.interval if late else self._next + self.interval

    def reset(self) -> None:
        self._next = None


class VideoReader:
    """Packets of one opened stream in; due frames out as (luma view, pts seconds, arrival, decode CPU s).
    Frames are thinned on the stream's own clock (pts); `unit_time` gives a packet's time as the detector
    will see its frame (for the evidence ring)."""

    def __init__(self, container, stream, *, detect_fps: float | None = None, ring: EncodedRing | None = None,
                 unit_time: Callable[[float | None, float], float] | None = None):
        self._packets = container.demux(stream)
        self.codec = stream.codec_context
        self.time_base = stream.time_base
        self._pending: deque = deque()
        self._arrived = 0.0
        self.thin = Thinner(detect_fps)
        self.undecoded = 0  # frames the decoder dropped unread (not due, and nothing refers to them)
        self.discarded = 0  # frames decoded (others refer to them) but not due: dropped after decoding
        self._ring = ring if ring is not None and self.codec.name in REMUXABLE else None
        self._unit_time = unit_time or (lambda pts, arrival: arrival)
        self._bsf = None
        self._decoding_all = True
        if self._ring is not None:
            extradata = bytes(self.codec.extradata or b"")
            if extradata[:1] == b"\x01":  # MP4-style (avcC/hvcC): the ring keeps Annex B, as RTSP sends it
                self._bsf = av.BitStreamFilterContext(f"{self.codec.name}_mp4toannexb", stream)
                extradata = b""  # the filter puts the parameter sets in front of every keyframe
            self._ring.begin(Session(self.codec.name, stream.time_base, extradata,
                                     self.codec.width, self.codec.height))

    @property
    def keeps_packets(self) -> bool:
        return self._ring is not None

    def read(self) -> tuple[np.ndarray, float | None, float, float]:
        """Blocks on the network (bounded by the container's read timeout); StopIteration at the end."""
        cpu = 0.0
        while True:
            while not self._pending:
                packet = next(self._packets)
                self._arrived = time.time()
                c0 = time.thread_time()
                pts = float(packet.pts * self.time_base) if packet.pts is not None else None
                wanted = packet.is_keyframe or pts is None or self.thin.due(pts)
                if wanted != self._decoding_all:
                    self.codec.skip_frame = "DEFAULT" if wanted else "NONREF"
                    self._decoding_all = wanted
                self._pending.extend(self.codec.decode(packet))
                if not wanted and not self._pending:
                    self.undecoded += 1
                self._keep(packet)  # after decoding: the bitstream filter may take the packet's data
                cpu += time.thread_time() - c0
            frame = self._pending.popleft()
            pts = float(frame.time) if frame.time is not None else None
            if pts is not None:
                if not self.thin.due(pts):
                    self.discarded += 1
                    continue
                self.thin.take(pts)
            c0 = time.thread_time()
            image = luma(frame)
            return image, pts, self._arrived, cpu + time.thread_time() - c0

    def _keep(self, packet: av.Packet) -> None:
        if self._ring is None or not packet.size:
            return
        for p in self._bsf.filter(packet) if self._bsf is not None else (packet,):
            pts = float(p.pts * self.time_base) if p.pts is not None else None
            self._ring.add(Unit(self._unit_time(pts, self._arrived), bytes(p), p.pts, p.dts, p.duration or 0,
                                p.is_keyframe))
