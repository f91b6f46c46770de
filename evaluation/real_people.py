"""The real Aalborg people, measured from their boxes: height in px by the row of their feet (against what the
site's `person_px_at` line and its calibration predict there) and warmth against the empty background.
`python -m quaywatch.evaluation.real_people` prints the README's table."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quaywatch.config import Camera, load_site
from quaywatch.detector.calibration import calibration_for
from quaywatch.detector.geometry import person_heights
from quaywatch.evaluation.composites import Backgrounds, read_boxes
from quaywatch.evaluation.real_frames import FRAMES_DIR

BANDS = [(70, 110), (110, 140), (140, 170), (170, 200), (200, 240), (240, 288)]


def measure(frames_dir: Path = FRAMES_DIR, stride: int = 4) -> list[dict]:
    """Per box (every `stride`-th frame): feet row, height, column, warmth (grey levels of the box's warmest
    quarter over the matching background there)."""
    bgs = Backgrounds(frames_dir)
    out = []
    for path in sorted((Path(frames_dir) / "images").glob("*.jpg"))[::stride]:
        frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        boxes = read_boxes(Path(frames_dir) / "bboxes" / (path.stem + ".txt"), frame.shape)
        if not boxes:
            continue
        bg = bgs.nearest(frame, boxes)
        for x, y, w, h in boxes:
            if w < 2 or h < 4 or y < 0 or x < 0 or y + h > 288 or x + w > 384:
                continue
            box = frame[y:y + h, x:x + w].astype(np.float32)
            under = bg[y:y + h, x:x + w].astype(np.float32)
            warm = float(np.percentile(box - under, 75))
            out.append({"row": y + h, "h": h, "x": x + w / 2, "warmth": warm})
    return out


def table(camera: Camera, people: list[dict]) -> str:
    line = person_heights(camera.detector, 288)
    cal = calibration_for(camera)
    rows = ["| feet row | people | height px, median (p10-p90) | person_px_at line | calibration | warmth over background, grey levels, median (p10-p90) |",
            "|---|---|---|---|---|---|"]
    for lo, hi in BANDS:
        sel = [p for p in people if lo <= p["row"] < hi]
        if not sel:
            continue
        h = np.array([p["h"] for p in sel])
        warm = np.array([p["warmth"] for p in sel])
        mid = (lo + hi) / 2
        xs = np.array([p["x"] for p in sel])
        pred = float(np.median(cal.person_px(np.c_[xs, [p["row"] for p in sel]]))) if cal else float("nan")
        rows.append(f"| {lo}-{hi} | {len(sel)} | {np.median(h):.0f} ({np.percentile(h, 10):.0f}-{np.percentile(h, 90):.0f}) "
                    f"| {line[int(mid)]:.0f} | {pred:.0f} | {np.median(warm):.0f} ({np.percentile(warm, 10):.0f}-"
                    f"{np.percentile(warm, 90):.0f}) |")
    return "\n".join(rows)


if __name__ == "__main__":
    cam = load_site("aalborg-havnefront").camera("cam-1")
    print(table(cam, measure()))
