"""Evidence: a small false-colour snapshot, a browser-playable clip around the entry served over HTTP, and
the dark-camera watch that turns a blind camera into an event."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import av
import cv2
import numpy as np
import pytest

from quaywatch.config import load_site
from quaywatch.config.edge import EvidenceConfig
from quaywatch.detector.types import Detection
from quaywatch.edge.evidence import EvidenceStore, FrameRing, snapshot_jpeg
from quaywatch.edge.evidence_http import EvidenceServer
from quaywatch.edge.health import DarkCameraWatch
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


def test_ring_keeps_recent_frames_thinned_to_the_clip_rate():
    ring = FrameRing(seconds=2.0, fps_max=10)
    for i in range(90):  # 3 s at 30 fps
        ring.add(i / 30, np.zeros((4, 4), np.uint8))
    kept = ring.window(0, 10)
    assert 18 <= len(kept) <= 22  # 2 s at ~10 fps
    assert kept[-1][0] - kept[0][0] <= 2.0 + 1e-9
    assert ring.nearest(2.51)[0] == pytest.approx(2.5, abs=0.07)


TOKEN = "evidence-test-token-123"


def authorized(url: str, header: str = f"Bearer {TOKEN}") -> urllib.request.Request:
    return urllib.request.Request(url, headers={"Authorization": header})


def test_an_evidence_server_without_a_token_does_not_start(tmp_path):
    store = EvidenceStore(tmp_path / "evidence", EvidenceConfig(http_port=0))
    with pytest.raises(QuaywatchError, match="needs a token"):
        EvidenceServer(store, "127.0.0.1", 0, "")


def test_clip_is_recorded_around_the_entry_and_served_over_http(tmp_path):
    camera = SITE.cameras[0]
    cfg = EvidenceConfig(http_port=0, pre_s=1.0, post_s=1.0, clip_fps_max=10)
    store = EvidenceStore(tmp_path / "evidence", cfg).start()
    server = EvidenceServer(store, "127.0.0.1", 0, TOKEN).start()
    ring = FrameRing(seconds=5, fps_max=cfg.clip_fps_max)
    t0 = time.time()
    for i in range(15):  # 1.5 s already buffered before the entry at t0 + 1.5
        ring.add(t0 + i / 10, noisy((288, 384), i))
    event_id = "0b7c3a4e-1111-4e1b-9d1c-2b2f0a9e0001"
    store.schedule_clip(event_id, camera, ring, Detection("water_entry", t0 + 1.5, 0, 1, (40, 40, 8, 8), 0.9))

    def more_frames():  # the camera keeps streaming after the entry
        for i in range(15, 30):
            time.sleep(0.02)
            ring.add(t0 + i / 10, noisy((288, 384), i))

    feeder = threading.Thread(target=more_frames)
    feeder.start()
    try:
        # Asked for while still recording: the request waits and gets the finished clip.
        with urllib.request.urlopen(authorized(server.clip_url(event_id)), timeout=20) as resp:
            assert resp.headers["Content-Type"] == "video/mp4"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            body = resp.read()
        feeder.join()
        path = tmp_path / "clip.mp4"
        path.write_bytes(body)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert stream.codec_context.pix_fmt == "yuv420p"
            frames = list(container.decode(stream))
        assert 18 <= len(frames) <= 22  # from 1 s before to 1 s after the entry at 10 fps
        assert body[4:8] == b"ftyp" and body.find(b"moov") < body.find(b"mdat")  # faststart: plays while loading
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
