"""Evidence: a small false-colour snapshot, a browser-playable clip around the entry served over HTTP, and
the dark-camera watch that turns a blind camera into an event."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from quaywatch.config import load_site
from quaywatch.config.edge import EvidenceConfig
from quaywatch.detector.types import Detection, Track
from quaywatch.edge.evidence import EvidenceStore, snapshot_jpeg
from quaywatch.edge.evidence_codec import FrameEncoder, decode_units
from quaywatch.edge.evidence_http import EvidenceServer
from quaywatch.edge.health import DarkCameraWatch
from quaywatch.edge.packet_ring import EncodedRing, Session, Unit
from quaywatch.edge.sources.base import EndOfStream
from quaywatch.edge.sources.replay import ReplaySource
from quaywatch.edge.track_trail import TrackTrail
from quaywatch.errors import QuaywatchError

SITE = load_site("demo")


def noisy(shape, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    if dtype == np.uint16:
        return (28000 + rng.normal(0, 150, shape)).astype(np.uint16)
    return rng.integers(0, 255, shape, dtype=np.uint8)  # worst case for JPEG: pure noise


@pytest.mark.parametrize("cam,shape,dtype", [
    (0, (288, 384), np.uint8), (1, (512, 640), np.uint8), (0, (288, 384), np.uint16),
])
def test_snapshot_is_a_small_false_colour_jpeg_with_the_box(cam, shape, dtype):
    camera = SITE.cameras[cam]
    frame = noisy(shape, dtype=dtype)
    det = Detection("water_entry", 0.0, 0, 1, (50, 60, 10, 20), 0.9)
    jpeg = snapshot_jpeg(frame, camera, det, max_bytes=40_000)
    assert len(jpeg) <= 40_000
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.ndim == 3
    # False colour, not grey: the channels differ.
    assert np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean() > 5
    # The box (red in BGR) is drawn where the detection was, in the snapshot's own scale.
    s = img.shape[1] / shape[1]
    y, x0, x1 = int(57 * s), int(47 * s), int(63 * s)
    edge = img[max(0, y - 1): y + 2, x0:x1]
    assert ((edge[..., 2] > 150) & (edge[..., 0] < 110)).any()


def camera_stream(path, seconds=6.0, fps=9.0, size=(384, 288), seed=0):
    """An H.264 clip as a thermal camera streams it: keyframe each second, no B-frames; a warm blob moves."""
    rng = np.random.default_rng(seed)
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(100))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(round(fps)), "bf": "0"}
        for i in range(round(seconds * fps)):
            img = np.clip(rng.normal(60, 4, (h, w)), 0, 255).astype(np.uint8)
            x = 20 + 8 * i % (w - 40)
            img[100:130, x:x + 12] = 200
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="gray").reformat(format="yuv420p")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


TOKEN = "evidence-test-token-123"


def authorized(url: str, header: str = f"Bearer {TOKEN}") -> urllib.request.Request:
    return urllib.request.Request(url, headers={"Authorization": header})


def test_an_evidence_server_without_a_token_does_not_start(tmp_path):
    store = EvidenceStore(tmp_path / "evidence", EvidenceConfig(http_port=0))
    with pytest.raises(QuaywatchError, match="needs a token"):
        EvidenceServer(store, "127.0.0.1", 0, "")


def decoded(path):
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="gray")) for f in c.decode(c.streams.video[0])]


def test_ring_keeps_whole_groups_of_pictures_covering_its_seconds():
    ring = EncodedRing(seconds=2.0)
    ring.begin(Session("h264", Fraction(1, 90000), b"", 4, 4))
    ring.add(Unit(-0.1, b"p", 0, 0, 1, key=False))  # nothing decodes before a keyframe: not kept
    for i in range(90):  # 3 s at 30 fps, a keyframe each 0.5 s
        ring.add(Unit(i / 30, b"x" * 100, i, i, 1, key=i % 15 == 0))
    _, units = ring.window(-10, 10)
    assert units[0].key and units[0].t <= units[-1].t - 2.0  # starts at a keyframe, covers 2 s
    assert units[0].t == pytest.approx(0.5)  # the last keyframe before newest - 2 s; the group before is gone
    _, around = ring.window(2.2, 2.6)
    assert around[0].t == pytest.approx(2.0) and around[-1].t <= 2.6  # from the keyframe before t0
    capped = EncodedRing(seconds=2.0, max_bytes=2000)
    capped.begin(Session("h264", Fraction(1, 90000), b"", 4, 4))
    for i in range(90):
        capped.add(Unit(i / 30, b"x" * 100, i, i, 1, key=i % 15 == 0))
    assert capped.nbytes <= 2000 + 15 * 100 and capped.dropped_groups > 0  # a byte cap, counted


def test_clip_is_the_cameras_own_packets_remuxed_around_the_entry_and_served_over_http(tmp_path):
    camera = SITE.cameras[0]
    source_clip = camera_stream(tmp_path / "camera.mp4", seconds=6.0)
    cfg = EvidenceConfig(http_port=0, pre_s=1.0, post_s=1.0)
    store = EvidenceStore(tmp_path / "evidence", cfg).start()
    server = EvidenceServer(store, "127.0.0.1", 0, TOKEN).start()
    ring = EncodedRing(seconds=cfg.pre_s + cfg.post_s + 2)
    source = ReplaySource(source_clip, realtime=False, ring=ring)
    source.open()
    entry = 3.5
    try:
        while source.read().t < entry:  # the camera streams up to the entry ...
            pass
        event_id = "0b7c3a4e-1111-4e1b-9d1c-2b2f0a9e0001"
        store.schedule_clip(event_id, camera, ring, Detection("water_entry", entry, 0, 1, (40, 40, 8, 8), 0.9))

        def more_frames():  # ... and goes on after it
            with contextlib.suppress(EndOfStream):
                while True:
                    time.sleep(0.01)
                    source.read()

        feeder = threading.Thread(target=more_frames)
        feeder.start()
        # Asked for while still recording: the request waits and gets the finished clip.
        with urllib.request.urlopen(authorized(server.clip_url(event_id)), timeout=20) as resp:
            assert resp.headers["Content-Type"] == "video/mp4"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            body = resp.read()
        feeder.join()
        path = tmp_path / "clip.mp4"
        path.write_bytes(body)
        assert body[4:8] == b"ftyp" and body.find(b"moov") < body.find(b"mdat")  # faststart: plays while loading
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        clip, original = decoded(path), decoded(source_clip)
        # Not re-encoded: every picture is the camera's own, bit for bit (a re-encode changes pixels).
        start = next(i for i, (_, img) in enumerate(original) if np.array_equal(img, clip[0][1]))
        assert all(np.array_equal(img, original[start + k][1]) for k, (_, img) in enumerate(clip))
        # It starts at the keyframe before the pre-roll, so before the entry, and runs post_s past it.
        first_t, last_t = original[start][0], original[start + len(clip) - 1][0]
        assert entry - cfg.pre_s - 1.0 <= first_t <= entry - cfg.pre_s
        assert last_t >= entry + cfg.post_s - 0.12
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(authorized(server.clip_url("no-such-event-0000")), timeout=5)
        assert err.value.code == 404
        # The same clip without the token, with a wrong one, and the stats without one: refused.
        for asked in (server.clip_url(event_id), authorized(server.clip_url(event_id), "Bearer guess"),
                      authorized(server.clip_url(event_id), TOKEN), f"{server.base_url}/stats"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(asked, timeout=5)
            assert err.value.code == 401
        with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5) as resp:
            assert resp.status == 200  # health stays open: it tells nothing
    finally:
        source.close()
        server.stop()
        store.stop()


def test_sixteen_bit_frames_are_kept_losslessly_and_their_clip_is_browser_h264(tmp_path):
    camera = SITE.cameras[0]
    ring = EncodedRing(seconds=5)
    encoder = FrameEncoder(ring, fps_max=10)
    frames = [(i / 30, noisy((288, 384), i, np.uint16)) for i in range(60)]  # 2 s at 30 fps
    for t, f in frames:
        encoder.add(t, f)
    session, units = ring.window(0.5, 1.5)
    assert session.codec == "ffv1" and all(u.key for u in units)
    assert 9 <= len(units) <= 12  # thinned to the clip rate
    kept = dict(frames)
    assert all(np.array_equal(img, kept[t]) for t, img in decode_units(session, units))  # lossless
    cfg = EvidenceConfig(http_port=0, pre_s=0.5, post_s=0.5)
    store = EvidenceStore(tmp_path / "evidence", cfg).start()
    try:
        store.schedule_clip("sixteen-bit-0001", camera, ring, Detection("water_entry", 1.0, 0, 1, (40, 40, 8, 8), 0.9))
        assert store.wait_for("sixteen-bit-0001", 20)
    finally:
        store.stop()
    with av.open(str(tmp_path / "evidence" / "sixteen-bit-0001.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert 9 <= len(list(c.decode(s))) <= 12


def test_the_clip_plays_in_chromium(tmp_path, browser):
    """What the control room does with a clip: a <video> element loads and plays it, no media error."""
    camera = SITE.cameras[0]
    ring = EncodedRing(seconds=8)
    source = ReplaySource(camera_stream(tmp_path / "camera.mp4", seconds=5.0), realtime=False, ring=ring)
    source.open()
    with contextlib.suppress(EndOfStream):
        while True:
            source.read()
    source.close()
    cfg = EvidenceConfig(http_port=0, pre_s=2.0, post_s=1.0)
    store = EvidenceStore(tmp_path / "evidence", cfg).start()
    server = EvidenceServer(store, "127.0.0.1", 0, TOKEN).start()
    page = browser.new_page()
    page.set_extra_http_headers({"Authorization": f"Bearer {TOKEN}"})  # as the control room's relay asks
    try:
        store.schedule_clip("chromium-clip-0001", camera, ring, Detection("water_entry", 3.2, 0, 1, (4, 4, 8, 8), 0.9))
        page.goto(f"{server.base_url}/healthz")  # same origin as the clip, as the control room's proxy is
        page.set_content(f'<video id="v" muted autoplay src="{server.clip_url("chromium-clip-0001")}"></video>')
        page.wait_for_function("(() => { const v = document.getElementById('v'); "
                               "return v.error !== null || (v.readyState >= 3 && v.currentTime > 0.2); })()",
                               timeout=20_000)
        state = page.evaluate("(() => { const v = document.getElementById('v'); return {error: v.error && "
                              "v.error.code, ready: v.readyState, duration: v.duration, w: v.videoWidth}; })()")
        assert state["error"] is None, state
        assert state["ready"] >= 3 and state["w"] == 384
        assert 2.5 <= state["duration"] <= 5.0  # from the keyframe before the pre-roll to post_s past the entry
    finally:
        page.close()
        server.stop()
        store.stop()


def test_dark_camera_raises_offline_once_then_online_when_frames_return():
    watch = DarkCameraWatch("cam-1", offline_after_s=5, now=1000.0)
    assert watch.check(1004.0) is None
    ev = watch.check(1005.1)
    assert ev.kind == "camera_offline" and "no frame since the worker started" in ev.message
    assert watch.check(1010.0) is None  # raised once, not every check
    watch.frame(1011.0)
    watch.health("online", "frames arriving")
    assert watch.check(1011.1).kind == "camera_online"
    assert watch.check(1012.0) is None
    ev = watch.check(1016.5)  # frames stopped again at 1011
    assert ev.kind == "camera_offline" and "no fresh frame for 6 s" in ev.message


def test_a_camera_still_connecting_gets_its_open_timeout_before_it_counts_as_dark():
    watch = DarkCameraWatch("cam-1", offline_after_s=5, now=1000.0, startup_grace_s=4)
    assert watch.check(1008.9) is None
    assert watch.check(1009.0).kind == "camera_offline"
    late = DarkCameraWatch("cam-2", offline_after_s=5, now=1000.0, startup_grace_s=4)
    late.frame(1003.0)  # once it has sent a frame, the grace is over: 5 s of silence is dark
    assert late.check(1007.9) is None
    assert late.check(1008.1).kind == "camera_offline"


def test_beside_the_clip_the_alerts_box_on_each_of_its_frames_lands_on_the_person(tmp_path):
    """The clip is the camera's own stream with nothing drawn in; `<id>.boxes.json` gives the alert's track on
    each frame of it, in the clip's own time, so the page can draw the box frame by frame. Checked against the
    clip's decoded pictures: each box is where the warm body is in that very frame; a neighbour's never."""
    camera, fps, w = SITE.cameras[0], 9.0, 384
    source_clip = camera_stream(tmp_path / "camera.mp4", seconds=6.0, fps=fps)
    cfg = EvidenceConfig(http_port=0, pre_s=1.0, post_s=1.0)
    store = EvidenceStore(tmp_path / "evidence", cfg).start()
    server = EvidenceServer(store, "127.0.0.1", 0, TOKEN).start()
    ring, trail = EncodedRing(seconds=cfg.pre_s + cfg.post_s + 2), TrackTrail(cfg.pre_s + cfg.post_s + 12)
    source = ReplaySource(source_clip, realtime=False, ring=ring)
    source.open()

    def seen(t: float) -> list[Track]:  # camera_stream's warm body as the detector boxes it, and a neighbour
        i = round(t * fps)
        x = 20 + 8 * i % (w - 40)
        return [Track(1, (x, 100, 12, 30), (x + 6.0, 130.0), True, 1.0, i, True, "water"),
                Track(2, (300, 20, 10, 20), (305.0, 40.0), False, 1.0, i, True)]

    entry, event_id = 3.5, "0b7c3a4e-2222-4e1b-9d1c-2b2f0a9e0002"
    try:
        while True:
            t = source.read().t
            trail.add(t, seen(t))
            if t >= entry:
                break
        store.schedule_clip(event_id, camera, ring, Detection("water_entry", entry, 0, 1, (40, 40, 8, 8), 0.9),
                            trail)

        def more_frames():
            with contextlib.suppress(EndOfStream):
                while True:
                    time.sleep(0.01)
                    t = source.read().t
                    trail.add(t, seen(t))

        feeder = threading.Thread(target=more_frames)
        feeder.start()
        boxes_url = server.clip_url(event_id).replace(".mp4", ".boxes.json")
        with urllib.request.urlopen(authorized(boxes_url), timeout=20) as resp:  # waits for the clip
            assert resp.headers["Content-Type"] == "application/json"
            doc = json.loads(resp.read())
        with urllib.request.urlopen(authorized(server.clip_url(event_id)), timeout=20) as resp:
            (tmp_path / "clip.mp4").write_bytes(resp.read())
        feeder.join()
    finally:
        server.stop()
        store.stop()
    clip = decoded(tmp_path / "clip.mp4")
    assert doc["frame_size"] == [384, 288]
    assert len(doc["boxes"]) == len(clip) > 10  # a box for every frame of the clip
    for (ft, img), (bt, x, y, bw, bh) in zip(clip, doc["boxes"], strict=True):
        assert abs(bt - ft) < 0.5 / fps  # in the clip's own time
        assert (y, bw, bh) == (100, 12, 30)  # the alert's track only, never its neighbour
        warm = np.flatnonzero(img[100:130].mean(axis=0) > 130)
        assert abs(int(warm.min()) - x) <= 2 and abs(int(warm.max()) - (x + 11)) <= 2, (ft, x, warm)
    first_t = entry - doc["entry_t"]  # the source time of the clip's first frame
    assert entry - cfg.pre_s - 1.0 <= first_t <= entry - cfg.pre_s
