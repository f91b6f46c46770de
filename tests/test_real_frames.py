"""Floor (issue 12): no alert on any of the 1,601 real Aalborg frames held as stills, nor on composite clips of
real people walked over the matching real background. Reads ../shared (skips on a laptop, fails under CI=true).

The full still run costs about 200 s of CPU (1,601 frames x 18 detector frames, a fresh detector per frame);
measured 2026-12-03 on this 2-core machine: 201 s CPU, 1,350 s wall while the machine was loaded ~10x.
"""

from __future__ import annotations

import pytest

from quaywatch.config import load_site
from quaywatch.evaluation.composites import run_composites
from quaywatch.evaluation.real_frames import frame_paths, run_real_frames
from tests.peers import require_shared

FRAMES = "data/real/aalborg-ltd-frames"


@pytest.fixture(scope="module")
def camera():
    return load_site("aalborg-havnefront").camera("cam-1")


# The detector at 982ac66 alerted on 1 of the 1,601 (image_0049.jpg, person_in_water at 1.22 s, bbox
# (52, 111, 16, 7)): the harness is not blind. Since issue 12's "scenery until it behaves like a person", none.
def test_floor_no_alert_on_any_of_the_1601_real_frames_held_as_stills(camera):
    paths = frame_paths(require_shared(FRAMES))
    assert len(paths) == 1601
    result = run_real_frames(camera, paths, seconds=2.0)
    assert result.unreadable == []
    assert result.alerts == [], f"{len(result.frames_alerting)} frames alert: {result.alerts}"


def test_floor_no_alert_on_composite_clips_of_real_people_walking_over_real_backgrounds(camera):
    result = run_composites(camera, clips=30, seconds=8.0, frames_dir=require_shared(FRAMES))
    assert result.clips == 30 and result.people >= 30
    assert result.alerts == [], result.alerts


def test_the_calibration_predicts_real_peoples_height_by_row(camera):
    """The published homography's pinhole against the real boxes: within 15 % of the median height in every band
    of feet rows from 110 down (measured: within 1-3 px; the person_px_at line is off by up to 30 % near the
    camera and by half at the far end)."""
    import numpy as np

    from quaywatch.detector.calibration import calibration_for
    from quaywatch.evaluation.real_people import BANDS, measure

    people = measure(require_shared(FRAMES), stride=8)
    cal = calibration_for(camera)
    for lo, hi in BANDS[1:]:
        sel = [p for p in people if lo <= p["row"] < hi]
        assert len(sel) >= 10, (lo, hi)
        pred = np.median(cal.person_px(np.array([[p["x"], p["row"]] for p in sel])))
        assert pred == pytest.approx(np.median([p["h"] for p in sel]), rel=0.15), (lo, hi)
