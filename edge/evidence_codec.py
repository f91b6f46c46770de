"""Turning the evidence ring's encoded units into what a dispatcher sees, with PyAV:

- `remux_mp4`: the camera's own H.264/H.265 packets into a browser-playable MP4 (faststart), no decoding,
  no re-encoding: the clip is exactly the pictures the camera sent.
- `decode_units`: units back to grey pictures (the snapshot's one frame; clips of streams that cannot be
  remuxed, e.g. 16-bit FFV1).
- `FrameEncoder`: pictures from a source that has no packets (16-bit radiometric, the in-process simulator),
  encoded once as they arrive: 8-bit as H.264 (so its clips are remuxed too), 16-bit losslessly as FFV1.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from quaywatch.edge.packet_ring import EncodedRing, Session, Unit

_TIME_BASE = Fraction(1, 1000)


def _template(session: Session, first: Unit):
    """An input stream carrying the session's codec parameters (PyAV copies an output stream's parameters
    only from another stream): the out-of-band parameter sets and the first keyframe, read as a raw stream."""
    return av.open(io.BytesIO(session.extradata + first.data), format=session.codec)


def remux_mp4(path: Path, session: Session, units: list[Unit]) -> None:
    """Written to a temporary name and renamed, so a reader never sees half a file."""
    if not units or not units[0].key:
        raise ValueError("no keyframe to start the clip at")
    tmp = path.with_suffix(".part")
    base_dts = units[0].dts if units[0].dts is not None else units[0].pts
    with _template(session, units[0]) as template, \
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(template.streams.video[0])
        for i, u in enumerate(units):
            packet = av.Packet(u.data)
            if u.pts is not None and base_dts is not None:
                packet.pts = u.pts - base_dts
                packet.dts = (u.dts if u.dts is not None else u.pts) - base_dts
                packet.time_base = session.time_base
            else:  # no stream clock: the ring's own times, in ms
                packet.pts = packet.dts = round((u.t - units[0].t) * 1000) + i  # strictly increasing
                packet.time_base = _TIME_BASE
            packet.duration = u.duration
            packet.is_keyframe = u.key
            packet.stream = stream
            out.mux(packet)
    os.replace(tmp, path)


def decode_units(session: Session, units: list[Unit]) -> Iterator[tuple[float, np.ndarray]]:
    """(t, grey picture) for each unit, decoded from the first (a keyframe); uint8, or uint16 for 16-bit."""
    ctx = av.CodecContext.create(session.codec, "r")
    if session.extradata and not session.remuxable:
        ctx.extradata = session.extradata
    ctx.width, ctx.height = session.width, session.height
    times = {}
    for i, u in enumerate(units):
        data = session.extradata + u.data if i == 0 and session.remuxable else u.data
        packet = av.Packet(data)
        packet.pts = i  # our own order: frames come out in it (no B-frames are reordered past a keyframe)
        times[i] = u.t
        for frame in ctx.decode(packet):
            yield times.get(frame.pts, u.t), _grey(frame)
    for frame in ctx.decode(None):
        yield times.get(frame.pts, units[-1].t), _grey(frame)


def frame_near(ring: EncodedRing, t: float, within: float = 1.0) -> tuple[float, np.ndarray] | None:
    """The picture nearest `t` (decoding from the keyframe before it), when one lies within `within` s."""
    session, units = ring.window(t, t + within)
    if session is None or not units:
        return None
    best = None
    for ft, img in decode_units(session, units):
        if best is None or abs(ft - t) < abs(best[0] - t):
            best = (ft, img)
        if ft > t:
            break
    return best if best is not None and abs(best[0] - t) <= within else None


def _grey(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="gray16le" if "16" in frame.format.name else "gray")


class FrameEncoder:
    """Encodes pictures into an EncodedRing, thinned to `fps_max`. The first picture fixes size and depth."""

    def __init__(self, ring: EncodedRing, fps_max: float):
        self.ring = ring
        self.min_gap = 0.9 / fps_max
        self.fps = fps_max
        self._ctx = None
        self._last_t: float | None = None
        self._shape: tuple | None = None
        self._t0 = 0.0
        self._times: dict[int, float] = {}

    def add(self, t: float, frame: np.ndarray) -> None:
        if self._last_t is not None and 0 <= t - self._last_t < self.min_gap:
            return
        if self._ctx is None or frame.shape != self._shape[0] or frame.dtype != self._shape[1]:
            self._open(t, frame)
        self._last_t = t
        pts = round((t - self._t0) * 1000)
        self._times[pts] = t
        if frame.dtype == np.uint16:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="gray16le")
        else:
            vf = av.VideoFrame(frame.shape[1] - frame.shape[1] % 2, frame.shape[0] - frame.shape[0] % 2, "yuv420p")
            _fill_yuv(vf, frame)
        vf.pts = pts
        vf.time_base = _TIME_BASE
        for packet in self._ctx.encode(vf):
            self._store(packet)

    def _store(self, packet: av.Packet) -> None:
        t = self._times.pop(packet.pts, self._last_t)
        self.ring.add(Unit(t, bytes(packet), packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe))

    def _open(self, t: float, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        sixteen = frame.dtype == np.uint16
        if sixteen:
            ctx = av.CodecContext.create("ffv1", "w")
            ctx.pix_fmt = "gray16le"
            ctx.gop_size = 1  # every picture on its own: any of them can start a clip or a snapshot
            ctx.width, ctx.height = w, h
        else:
            ctx = av.CodecContext.create("libx264", "w")
            ctx.pix_fmt = "yuv420p"
            ctx.width, ctx.height = w - w % 2, h - h % 2
            ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23", "bf": "0",
                           "g": str(max(1, round(self.fps))), "threads": "1"}
        ctx.time_base = _TIME_BASE
        ctx.framerate = Fraction(self.fps).limit_denominator(1000)
        ctx.open()
        self._ctx, self._shape, self._t0, self._times = ctx, (frame.shape, frame.dtype), t, {}
        codec = "ffv1" if sixteen else "h264"
        extradata = bytes(ctx.extradata or b"") if sixteen else b""  # x264 repeats SPS/PPS in band
        self.ring.begin(Session(codec, _TIME_BASE, extradata, ctx.width, ctx.height))


def _fill_yuv(vf: av.VideoFrame, grey: np.ndarray) -> None:
    """Grey into a yuv420p frame: Y is the picture, chroma neutral (what a thermal camera streams)."""
    h, w = vf.height, vf.width
    y = vf.planes[0]
    np.ndarray((h, w), np.uint8, buffer=y, strides=(y.line_size, 1))[:] = grey[:h, :w]
    for plane in vf.planes[1:]:
        np.ndarray((plane.height, plane.line_size), np.uint8, buffer=plane)[:] = 128
