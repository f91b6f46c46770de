"""CI holds the detector's quality on the whole fixture library through the real `quaywatch eval`.

Issue 3's targets, held here: every event found; at most 0.05 false alarms per camera-hour (the
library holds 2.24 camera-hours of negatives, so that can only show as no false alarm at all); time to
alert median <= 1 s and p95 <= 2 s. The fixtures were tuned on: `quaywatch simulate suite validation`
(fresh seeds, same views) and `suite heldout` (other views) show what they do not.
"""

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "recordings_fixtures"
GATE = "found=1.0,fa_per_hour=0.05,tta_median=1.0,tta_p95=2.0"


def test_fixture_library_meets_the_detector_targets(tmp_path):
    report = tmp_path / "eval.html"
    proc = subprocess.run(
        [sys.executable, "-m", "quaywatch", "eval", str(FIXTURES), "--fail-under", GATE, "--report", str(report)],
        capture_output=True, text=True, timeout=1800,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(proc.stdout)
    assert summary["errors"] == 0, proc.stderr
    assert summary["events"] >= 20, "the library must hold at least 20 positive events"
    assert summary["negative_camera_hours"] >= 2.0, "the library must hold at least 2 camera-hours of negatives"
    assert proc.returncode == 0 and summary["passed"], proc.stderr
    assert report.stat().st_size > 0
