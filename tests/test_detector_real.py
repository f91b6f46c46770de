"""The detector on real thermal footage from ../shared/data/real (skipped where absent, failing under CI=true).

Stills are repeated as a short clip with fresh sensor noise each frame, as a camera would stream them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from quaywatch.config import Camera, load_site
from quaywatch.detector import Detector
from tests.peers import require_shared

FPS = 9.0


def still_clip(image: np.ndarray, seconds: float, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    hi = 65535 if image.dtype == np.uint16 else 255
    for i in range(int(seconds * FPS)):
        noisy = image.astype(np.float32) + rng.normal(0, noise, image.shape).astype(np.float32)
        yield i / FPS, np.clip(np.rint(noisy), 0, hi).astype(image.dtype)


def run(camera: Camera, frames):
    det, results = None, []
    for t, f in frames:
        det = det or Detector(camera, FPS, f.shape)
        results.append(det.process(f, t))
    return [d for r in results for d in r.detections], results


def cam(water, quay_line, **tuning) -> Camera:
    return Camera.model_validate({"id": "real", "name": "real footage", "source": "still.mkv", "water": water,
                                  "quay_line": quay_line, "detector": tuning})


def drifting_clip(image: np.ndarray, box: tuple[int, int, int, int], px_per_s: float, seconds: float, noise: float):
    """The still with the patch `box` (x, y, w, h) moved sideways at px_per_s over the rest of the frame, as a
    swimmer drifts: the real pixels of the real body, moving."""
    x, y, w, h = box
    patch = image[y : y + h, x : x + w].copy()
    base = image.copy()
    base[y : y + h, x : x + w] = np.median(image[y + h : y + 2 * h, x : x + w])  # water from below it
    for t, noisy_base in still_clip(base, seconds, noise):
        frame = noisy_base.copy()
        dx = round(px_per_s * t)
        frame[y : y + h, x + dx : x + dx + w] = np.maximum(frame[y : y + h, x + dx : x + dx + w], patch)
        yield t, frame


def test_man_in_the_water_flir_16_is_found_once_he_moves_and_is_scenery_while_the_frame_is_still():
    img = cv2.imread(str(require_shared("data/real/flir-radiometric/16_centikelvin_u16.png")), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (480, 640)
    # The water fills the frame below the far shore (people stand on it, top right); the shore is the quay.
    camera = cam([[0, 90], [640, 90], [640, 480], [0, 480]], [[0, 90], [640, 90]])
    # Held still, his head is warm and head-shaped, but has stood still since the start: nothing tells it from
    # a warm buoy or a lamp's reflection until it moves. Tracked on the water, judged, not raised.
    dets, results = run(camera, still_clip(img, 3.0, noise=5.0))  # 0.05 K sensor noise
    assert dets == []
    assert any(tr.on_water for tr in results[-1].tracks)
    # Drifting 15 px/s (he is ~100 px tall here: 0.15 heights/s), he is found, on the head, within 3 s.
    dets, results = run(camera, drifting_clip(img, (304, 190, 48, 48), 15.0, 5.0, noise=5.0))
    assert [d.kind for d in dets] == ["person_in_water"]
    x, y, w, h = dets[0].bbox
    assert x <= 328 + 15 * dets[0].t + 2 and x + w >= 328 - 2, f"alert box {dets[0].bbox} is not on the head"
    assert y <= 214 <= y + h
    assert dets[0].t <= 3.0


def test_four_ducks_flir_03_are_not_a_person():
    img = cv2.imread(str(require_shared("data/real/flir-radiometric/03_centikelvin_u16.png")), cv2.IMREAD_UNCHANGED)
    # The ducks are ~0.35 m long and ~20 px here, so a person would be ~100 px tall: at that scale they are
    # head-sized. Three things each say 'not a head': the warmest spot is 23 °C (a head in cold water is
    # warmer, head_min_c), they stand lower than a head (water_min_size) and are flat and small (birds).
    geometry = ([[0, 38], [120, 30], [120, 120], [0, 120]], [[0, 38], [120, 30]])
    dets, results = run(cam(*geometry, person_px_top=100, person_px_bottom=100), still_clip(img, 3.0, noise=5.0))
    assert dets == []
    assert sum(tr.on_water for tr in results[-1].tracks) >= 3  # the ducks were seen, and judged


@pytest.mark.parametrize(("name", "people_by_the_edge"),
                         [("busy_quay_20200816_0028.jpg", True), ("walker_on_wet_quay.jpg", False)])
def test_people_on_the_aalborg_quay_raise_no_water_alert(name, people_by_the_edge):
    img = cv2.imread(str(require_shared(f"data/real/aalborg-ltd/{name}")), cv2.IMREAD_GRAYSCALE)
    assert img.shape == (288, 384)
    camera = load_site("aalborg-havnefront").camera("cam-1")
    dets, results = run(camera, still_clip(img, 6.0, noise=1.5))
    assert dets == []
    # warm things on the quay were tracked, so the silence is a decision, not blindness (the lone walker is
    # 170 px from the edge, outside the band the detector watches; his reflection on the wet quay is inside)
    assert any(tr.side in ("land", "edge") for r in results[-5:] for tr in r.tracks)
    if people_by_the_edge:
        assert any(tr.side in ("land", "edge") and tr.bbox[3] >= 12 for r in results[-5:] for tr in r.tracks)


def test_small_warm_animal_in_cptv_clip_raises_nothing():
    from cptv import CPTVReader

    with open(require_shared("data/real/cptv/tests_data_v1.cptv"), "rb") as f:
        counts = np.stack([frame.pix for frame in CPTVReader(f)])
    # Lepton raw counts are not kelvin: stream them as a camera's 8-bit AGC output, range fixed per clip.
    lo, hi = np.percentile(counts, 0.5), np.percentile(counts, 99.99) + 20
    frames = [(i / FPS, np.clip((c - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)) for i, c in enumerate(counts)]
    # A quay line across the grass below the animal, water beyond it; a person here would be ~50 px tall.
    camera = cam([[0, 80], [160, 80], [160, 120], [0, 120]], [[0, 80], [160, 80]],
                 person_px_top=50, person_px_bottom=50)
    dets, results = run(camera, frames)
    assert dets == []
    assert sum(1 for r in results if r.tracks) >= 50  # the animal was tracked most of the clip
