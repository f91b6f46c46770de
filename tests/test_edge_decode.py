"""Decoding only what the detector needs: the Y plane as a view of the decoder's buffer (stride kept), and a
camera's `detect_fps` honoured by skipping frames before decoding where the codec allows, after otherwise."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import av
import numpy as np
import pytest

from quaywatch.edge.sources.base import EndOfStream
from quaywatch.edge.sources.decode import Thinner, luma
from quaywatch.edge.sources.replay import ReplaySource


def write_clip(path, *, w=150, h=100, fps=30.0, frames=60, pix_fmt="yuvj420p", bframes=0):
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(100))
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        opts = {"preset": "ultrafast", "g": "30", "bf": str(bframes)}
        if bframes:
            opts["x264-params"] = "b-pyramid=none"  # B-frames nothing refers to, as most cameras send them
        else:
            opts["tune"] = "zerolatency"
        s.options = opts
        for i in range(frames):
            img = np.clip(rng.normal(40 + 2 * i, 6, (h, w)), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="gray").reformat(format=pix_fmt)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def all_frames(path):
    with av.open(str(path)) as c:
        return {round(float(f.time), 4): f.to_ndarray(format="gray") for f in c.decode(c.streams.video[0])}


def read_all(source):
    got = []
    with contextlib.suppress(EndOfStream):
        while True:
            got.append(source.read())
    return got


@pytest.mark.parametrize("pix_fmt", ["yuvj420p", "yuv420p"])
def test_luma_is_the_y_plane_read_in_place_with_its_stride(tmp_path, pix_fmt):
    path = write_clip(tmp_path / "c.mp4", pix_fmt=pix_fmt, frames=5)
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            plane = frame.planes[0]
            assert plane.line_size > frame.width  # 150 wide: the decoder pads its lines
            img = luma(frame)
            assert img.shape == (100, 150)
            # the very grey levels the sources always produced (swscale's, limited range expanded)
            assert np.array_equal(img, frame.to_ndarray(format="gray"))
            if pix_fmt == "yuvj420p":  # full range: no copy, a strided view of the decoder's buffer
                assert img.strides == (plane.line_size, 1) and not img.flags.owndata
                assert img.base is not None


def test_detect_fps_skips_unreferenced_frames_before_decoding(tmp_path):
    path = write_clip(tmp_path / "b.mp4", bframes=2)
    source = ReplaySource(path, realtime=False, detect_fps=10)
    source.open()
    reader = source._reader
    got = read_all(source)
    source.close()
    reference = all_frames(path)
    assert 19 <= len(got) <= 21  # 2 s at 10 of 30 fps
    assert np.allclose(np.diff([f.t for f in got]), 0.1, atol=0.035)
    assert reader.undecoded >= 20  # B-frames nobody refers to were never decoded
    for f in got:  # and skipping them broke no picture
        assert np.array_equal(f.frame, reference[round(f.t, 4)])


def test_detect_fps_on_a_stream_of_reference_frames_drops_after_decoding(tmp_path):
    path = write_clip(tmp_path / "p.mp4", bframes=0)
    source = ReplaySource(path, realtime=False, detect_fps=10)
    source.open()
    reader = source._reader
    got = read_all(source)
    source.close()
    assert 19 <= len(got) <= 21
    assert reader.undecoded == 0 and reader.discarded >= 38  # every P-frame is someone's reference
    full = ReplaySource(path, realtime=False)
    full.open()
    assert len(read_all(full)) == 60  # without detect_fps: every frame
    full.close()


def test_thinner_keeps_a_steady_grid():
    for fps, want in ((10, 10), (20, 20), (30, 30), (7, 7)):
        thin, kept = Thinner(fps), 0
        for i in range(300):  # 10 s at 30 fps
            t = i / 30
            if thin.due(t):
                thin.take(t)
                kept += 1
        assert abs(kept - want * 10) <= 1, (fps, kept)
