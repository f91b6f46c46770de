"""The warmth model's start: a background that holds the whole scene, however warm the quay is."""

from __future__ import annotations

import numpy as np

from quaywatch.config import Camera
from quaywatch.detector import Detector


def sunny_quay_camera() -> Camera:
    return Camera.model_validate({
        "id": "t", "name": "t", "source": "x.mkv",
        "water": [[0, 0], [160, 0], [160, 60], [0, 60]],
        "quay_line": [[0, 60], [160, 60]],
        "detector": {"person_px_top": 12, "person_px_bottom": 30},
    })


def test_a_sun_warmed_quay_far_above_the_water_is_background_not_warm():
    """16-bit, summer day: water at 18 °C with 0.08 K of noise, the paving at 26 °C (100 of the water's spreads
    above it). The first background used to be quantised over a fixed +-32 spreads around the water: the quay
    was clipped, stayed 'warm', covered over a quarter of the scene, so every frame re-baselined and nothing
    was ever seen. A swimmer's head in the water must show."""
    rng = np.random.default_rng(3)
    det = Detector(sunny_quay_camera(), 9.0, (120, 160))
    rebaselined = 0
    seen_head = 0
    for i in range(40):
        c = np.full((120, 160), 18.0)
        c[60:, :] = 26.0
        c += rng.normal(0, 0.08, c.shape)
        if i >= 20:  # a head, 3x4 px, 32 °C, swimming along
            x = 40 + i
            c[30:34, x:x + 3] = 32.0
        frame = np.rint((c + 273.15) * 100).astype(np.uint16)
        r = det.process(frame, i / 9.0)
        rebaselined += r.rebaselined
        if i >= 22:
            seen_head += any(28 <= b[1] <= 34 and 38 + i <= b[0] <= 44 + i for b in r.blobs)
    assert rebaselined <= 1, f"re-baselined on {rebaselined} of 40 frames: the warm quay does not fit the background"
    assert seen_head >= 15, f"the swimmer's head was a blob on only {seen_head} of 18 frames"
