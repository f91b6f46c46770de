"""Composite clips from the real Aalborg frames: real people cut out of their boxes and walked along the quay
over the empty background that matches their frame best, as one more negative set (nobody goes in the water).

Paths are in metres: the camera's calibration (its published homography) puts each person's feet on the quay,
he walks parallel to the quay edge at his own distance from it (some turn towards the edge and stop there), and
his cut-out is rescaled to the person height the calibration predicts wherever he is. In-process, no files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.calibration import Calibration, calibration_for
from quaywatch.evaluation.real_frames import FRAMES_DIR, NoiseBank, StillAlert, run_clip

MIN_BOX_PX = 10  # people smaller than this have no cut-out worth moving


@dataclass
class Person:
    frame: str
    box: tuple[int, int, int, int]  # x, y, w, h
    patch: np.ndarray  # grey pixels of the box
    alpha: np.ndarray  # 0..1, who is the person inside the box


@dataclass
class CompositeResult:
    clips: int = 0
    people: int = 0
    video_s: float = 0.0
    cpu_s: float = 0.0
    alerts: list[StillAlert] = field(default_factory=list)

    def summary(self) -> dict:
        return {"clips": self.clips, "people": self.people, "video_hours": round(self.video_s / 3600, 3),
                "alerts": len(self.alerts), "cpu_s": round(self.cpu_s, 1)}


def read_boxes(path: Path, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    h, w = shape
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        xc, yc, bw, bh = (float(v) for v in parts[1:])
        x0, y0 = round((xc - bw / 2) * w), round((yc - bh / 2) * h)
        out.append((x0, y0, round(bw * w), round(bh * h)))
    return out


def _overlaps(a, b) -> bool:
    return not (a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1])


class Backgrounds:
    """The 401 empty backgrounds, small copies kept for matching a frame to its nearest one."""

    def __init__(self, frames_dir: Path = FRAMES_DIR):
        paths = sorted((Path(frames_dir) / "backgrounds").glob("*.jpg"))
        self.images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
        self.small = np.stack([cv2.resize(b, (96, 72), interpolation=cv2.INTER_AREA) for b in self.images]).astype(np.float32)

    def nearest(self, frame: np.ndarray, boxes: list) -> np.ndarray:
        keep = np.ones(frame.shape, np.float32)
        for x, y, w, h in boxes:
            keep[max(y, 0):y + h, max(x, 0):x + w] = 0
        k = cv2.resize(keep, (96, 72), interpolation=cv2.INTER_AREA) > 0.99
        f = cv2.resize(frame, (96, 72), interpolation=cv2.INTER_AREA).astype(np.float32)
        err = np.abs(self.small - f)[:, k].mean(axis=1)
        return self.images[int(np.argmin(err))]


def cut_people(frame_name: str, frame: np.ndarray, bg: np.ndarray, boxes: list) -> list[Person]:
    """Each box that stands alone (touches no other), is tall enough and lies in the frame."""
    h, w = frame.shape
    out = []
    for i, (x, y, bw, bh) in enumerate(boxes):
        if bh < MIN_BOX_PX or x < 1 or y < 1 or x + bw > w - 1 or y + bh > h - 1:
            continue
        if any(_overlaps((x, y, bw, bh), o) for j, o in enumerate(boxes) if j != i):
            continue
        patch = frame[y:y + bh, x:x + bw]
        diff = np.abs(patch.astype(np.float32) - bg[y:y + bh, x:x + bw].astype(np.float32))
        mask = (diff > max(6.0, 0.25 * float(diff.max()))).astype(np.float32)
        alpha = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (3, 3), 0)
        if alpha.sum() < 0.15 * bw * bh:
            continue  # the person is not warmer than where he stood: nothing to cut out
        out.append(Person(frame_name, (x, y, bw, bh), patch.copy(), np.clip(alpha, 0, 1)))
    return out


class Walk:
    """A person walking along the quay edge at his own distance from it (metres), bouncing at the frame's end."""

    def __init__(self, person: Person, cal: Calibration, edge_dir: np.ndarray, rng: np.random.Generator,
                 frame_shape: tuple[int, int], to_edge: bool):
        x, y, bw, bh = person.box
        self.person, self.cal = person, cal
        self.feet0 = np.array([[x + bw / 2, y + bh]], np.float64)
        self.g0 = cal.quay_ground(self.feet0)[0]
        self.px0 = float(cal.person_px(self.feet0)[0])
        self.dir = edge_dir * float(rng.choice([-1, 1]))
        self.speed = float(rng.uniform(0.8, 1.5))
        self.shape = frame_shape
        self.to_edge = to_edge
        self.normal = np.array([-edge_dir[1], edge_dir[0]])

    def feet_at(self, t: float, water_side: float) -> np.ndarray:
        g = self.g0 + self.dir * self.speed * t
        if self.to_edge:  # drifts towards the edge at 0.3 m/s for 4 s, then walks on along it
            g = g + self.normal * water_side * 0.3 * min(t, 4.0)
        p = self.cal.camera.project(np.array([[g[0], g[1], 0.0]]))[0]
        h, w = self.shape
        if not np.all(np.isfinite(p)) or not (3 <= p[0] < w - 3 and 3 <= p[1] < h - 3):
            return self.feet0[0]
        return p

    def draw(self, canvas: np.ndarray, t: float, water_side: float) -> None:
        p = self.feet_at(t, water_side)
        scale = float(self.cal.person_px(p[None])[0]) / max(self.px0, 1e-6)
        if not np.isfinite(scale) or scale <= 0.2 or scale > 4:
            return
        bh, bw = self.person.patch.shape
        nw, nh = max(1, round(bw * scale)), max(1, round(bh * scale))
        patch = cv2.resize(self.person.patch, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        alpha = cv2.resize(self.person.alpha, (nw, nh), interpolation=cv2.INTER_LINEAR)
        x0, y0 = round(p[0] - nw / 2), round(p[1] - nh)
        h, w = canvas.shape
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + nw, w), min(y0 + nh, h)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        sub = canvas[cy0:cy1, cx0:cx1]
        a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        sub += a * (patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] - sub)


def edge_direction(camera: Camera, cal: Calibration) -> tuple[np.ndarray, float]:
    """Unit ground direction of the quay line, and the sign of its normal that points at the water."""
    line = np.asarray(camera.quay_line, np.float64)
    g = cal.quay_ground(line[[0, -1]])
    if not np.all(np.isfinite(g)):  # the line reaches above the horizon: use its lower half
        mid = (line[0] + line[-1]) / 2
        g = cal.quay_ground(np.stack([mid, line[-1]]))
    d = (g[1] - g[0]) / np.linalg.norm(g[1] - g[0])
    water = np.asarray(camera.water, np.float64)
    wg = cal.water_ground(water.mean(axis=0, keepdims=True))[0]
    normal = np.array([-d[1], d[0]])
    side = 1.0 if np.isfinite(wg).all() and (wg - g[0]) @ normal > 0 else -1.0
    return d, side


def run_composites(camera: Camera, clips: int = 40, seconds: float = 8.0, fps: float = 9.0, noise: float = 1.5,
                   seed: int = 0, frames_dir: Path = FRAMES_DIR) -> CompositeResult:
    """`clips` composite clips: each takes the people of one real frame (chosen at random among frames with at
    least one cut-out), walks them over the nearest empty background, and runs the detector on it."""
    cal = calibration_for(camera, (288, 384))
    if cal is None:
        raise ValueError(f"camera {camera.id} has no calibration or person_px_at to walk people in metres")
    rng = np.random.default_rng(seed)
    bgs = Backgrounds(frames_dir)
    images = sorted((Path(frames_dir) / "images").glob("*.jpg"))
    edge_dir, water_side = edge_direction(camera, cal)
    bank = NoiseBank((288, 384), noise, seed)
    result = CompositeResult()
    start = time.process_time()
    for path in rng.permutation(images):
        if result.clips >= clips:
            break
        frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        boxes = read_boxes(Path(frames_dir) / "bboxes" / (Path(path).stem + ".txt"), frame.shape)
        if not boxes:
            continue
        bg = bgs.nearest(frame, boxes)
        people = cut_people(Path(path).name, frame, bg, boxes)
        if not people:
            continue
        walks = [Walk(p, cal, edge_dir, rng, frame.shape, to_edge=bool(rng.random() < 0.4)) for p in people[:6]]
        base = bg.astype(np.float32)

        def frames(walks=walks, base=base):
            for i in range(round(seconds * fps)):
                t = i / fps
                canvas = base.copy()
                for wk in sorted(walks, key=lambda wk: wk.feet_at(t, water_side)[1]):  # far ones first
                    wk.draw(canvas, t, water_side)
                yield t, bank.noisy(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), i)

        name = f"composite-{Path(path).stem}"
        for d in run_clip(camera, frames(), fps):
            result.alerts.append(StillAlert(name, d.kind, round(d.t, 2), tuple(int(v) for v in d.bbox)))
        result.clips += 1
        result.people += len(walks)
        result.video_s += seconds
    result.cpu_s = time.process_time() - start
    return result


def composite_frames(camera: Camera, image: str, seconds: float = 4.0, fps: float = 9.0, seed: int = 0,
                     frames_dir: Path = FRAMES_DIR) -> list[np.ndarray]:
    """The frames of one composite clip (for looking at it: `quaywatch real-frames --composite-sheet`)."""
    cal = calibration_for(camera, (288, 384))
    rng = np.random.default_rng(seed)
    frame = cv2.imread(str(Path(frames_dir) / "images" / image), cv2.IMREAD_GRAYSCALE)
    boxes = read_boxes(Path(frames_dir) / "bboxes" / (Path(image).stem + ".txt"), frame.shape)
    bg = Backgrounds(frames_dir).nearest(frame, boxes)
    edge_dir, water_side = edge_direction(camera, cal)
    walks = [Walk(p, cal, edge_dir, rng, frame.shape, to_edge=True) for p in cut_people(image, frame, bg, boxes)]
    out = []
    for i in range(round(seconds * fps)):
        canvas = bg.astype(np.float32)
        for wk in walks:
            wk.draw(canvas, i / fps, water_side)
        out.append(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    return out
