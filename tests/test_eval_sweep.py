"""`quaywatch eval --sweep`: falls found against false alarms per hour at each alert_margin, printed and plotted."""

import json
import subprocess
import sys
from pathlib import Path

CLIP = Path(__file__).resolve().parents[1] / "recordings_fixtures" / "fall-lepton-summer-16bit.mkv"


def test_sweep_prints_a_row_per_margin_and_plots_them(tmp_path):
    report = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "quaywatch", "eval", str(CLIP), "--jobs", "1",
                           "--sweep=-1,0.99", "--report", str(report)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    rows = {float(line.split()[0]): line.split()[1] for line in lines if line.strip().startswith(("-1.00", "0.99"))}
    assert set(rows) == {-1.0, 0.99}
    assert rows[-1.0] == "1/1"  # the site's own decision finds the fall
    found_strict = int(rows[0.99].split("/")[0])
    assert found_strict <= 1
    assert json.loads(lines[-1])["found"] == 1  # totals stay those of the site's own margin
    html = report.read_text()
    assert "Margin sweep" in html and html.count("<svg") == 3


def test_sweep_rejects_margins_outside_minus_one_to_one(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "quaywatch", "eval", str(CLIP), "--sweep", "0,2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "--sweep" in proc.stderr and "between -1 and 1" in proc.stderr
    assert "Traceback" not in proc.stderr
