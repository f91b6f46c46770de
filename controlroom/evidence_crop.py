"""A zoomed crop of the person from the evidence snapshot, so an operator sees at a glance what the
detector saw: a 10-20 px box on a 384-px frame is a smudge, the same box 4-8x larger is a head or a body.

Cut around the event's box (in the snapshot's pixels: the edge may have shrunk the snapshot to fit the
event) with a margin of context, centred on the box even at the frame's edge (padded black there), then
enlarged with nearest-neighbour: every thermal pixel stays a visible square, nothing is invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_ZOOM, MAX_ZOOM = 4, 8
TARGET_PX = 160        # the box's longer side after zooming, within MIN_ZOOM..MAX_ZOOM
MARGIN = 1.0           # context on each side of the box, in box sizes (the box is a third of the crop)
MIN_WINDOW_PX = 32     # a 5x3 px head still comes with its surroundings (the quay edge, the water)


@dataclass(frozen=True)
class Crop:
    jpeg: bytes
    zoom: int
    box_in_crop: tuple[int, int, int, int]   # x, y, w, h of the box in the crop's pixels


def crop_person(snapshot: bytes, bbox: tuple[float, ...], frame_size: tuple[int, int]) -> Crop | None:
    """None when the snapshot cannot be decoded or the box is empty or outside the frame."""
    img = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    if img is None or len(bbox) != 4 or frame_size[0] <= 0 or frame_size[1] <= 0:
        return None
    sx, sy = img.shape[1] / frame_size[0], img.shape[0] / frame_size[1]
    x, y, w, h = bbox[0] * sx, bbox[1] * sy, max(1.0, bbox[2] * sx), max(1.0, bbox[3] * sy)
    if x >= img.shape[1] or y >= img.shape[0] or x + w <= 0 or y + h <= 0:
        return None
    side = max(w, h)
    zoom = int(min(MAX_ZOOM, max(MIN_ZOOM, round(TARGET_PX / side))))
    half_w = max(w / 2 + MARGIN * side, MIN_WINDOW_PX / 2)
    half_h = max(h / 2 + MARGIN * side, MIN_WINDOW_PX / 2)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - half_w), round(cy - half_h)
    x1, y1 = round(cx + half_w), round(cy + half_h)
    pad = max(0, -x0, -y0, x1 - img.shape[1], y1 - img.shape[0])
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    window = img[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    big = cv2.resize(window, (window.shape[1] * zoom, window.shape[0] * zoom), interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        return None
    box = (round((x - x0) * zoom), round((y - y0) * zoom), round(w * zoom), round(h * zoom))
    return Crop(buf.tobytes(), zoom, box)
