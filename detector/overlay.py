"""The detector's view of a frame, drawn for people: false colour, water tint, quay line, blobs, tracks, alerts.

Pure: frame + result + camera in, a new BGR uint8 image out. Used by `quaywatch replay --debug` and by the
edge for the evidence snapshot.
"""

from __future__ import annotations

import cv2
import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.geometry import geometry_for
from quaywatch.detector.types import Detection, FrameResult

QUAY = (0, 255, 255)  # yellow
WATER_TINT = (255, 120, 0)  # blue
EXCLUDE = (128, 128, 128)
BLOB = (200, 200, 200)
SIDE_COLOUR = {"land": (0, 200, 0), "edge": (0, 200, 255), "water": (255, 200, 0)}
ALERT = (0, 0, 255)  # red


def false_colour(frame: np.ndarray) -> np.ndarray:
    """Any grey frame (uint8 AGC or uint16 centikelvin) as an inferno-coloured BGR image, robustly stretched."""
    f = frame.astype(np.float32)
    lo, hi = np.percentile(f[::4, ::4], [1, 99.7])
    grey = np.clip((f - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    return cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)


def render_overlay(
    frame: np.ndarray,
    result: FrameResult | None,
    camera: Camera,
    detections: list[Detection] | None = None,
    *,
    show_masks: bool = True,
    show_blobs: bool = True,
    scale: int = 1,
) -> np.ndarray:
    """BGR uint8 image (frame size x `scale`) with the water mask, exclude zones, quay line, blobs, tracks
    (colour = land / edge / water, red once alerted) and the alerts of this frame (red box and label).

    `detections` defaults to `result.detections`; pass alerts from elsewhere (replay) to draw those instead.
    """
    geo = geometry_for(camera, frame.shape[:2])
    img = false_colour(frame)
    if show_masks:
        tint = np.zeros_like(img)
        tint[geo.water_mask.astype(bool)] = WATER_TINT
        img = cv2.addWeighted(img, 1.0, tint, 0.25, 0)
        img[geo.exclude_mask.astype(bool)] //= 3
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    line = np.array([pt(x, y) for x, y in camera.quay_line], np.int32)
    cv2.polylines(img, [line], False, QUAY, 1, cv2.LINE_AA)
    for poly in camera.exclude:
        cv2.polylines(img, [np.array([pt(x, y) for x, y in poly], np.int32)], True, EXCLUDE, 1)
    if result is not None:
        if show_blobs:
            for x, y, w, h in result.blobs:
                cv2.rectangle(img, pt(x, y), pt(x + w, y + h), BLOB, 1)
        for tr in result.tracks:
            x, y, w, h = tr.bbox
            colour = ALERT if tr.alerted else SIDE_COLOUR.get(tr.side, BLOB)
            cv2.rectangle(img, pt(x - 1, y - 1), pt(x + w + 1, y + h + 1), colour, 1)
            cv2.circle(img, pt(*tr.anchor), 2, colour, -1)
            cv2.putText(img, str(tr.id), pt(x, y - 2), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1)
        if result.frozen:
            cv2.putText(img, "FROZEN", (4, 12), cv2.FONT_HERSHEY_PLAIN, 0.9, EXCLUDE, 1)
        elif result.rebaselined:
            cv2.putText(img, "REBASELINE", (4, 12), cv2.FONT_HERSHEY_PLAIN, 0.9, EXCLUDE, 1)
    for det in detections if detections is not None else (result.detections if result else []):
        x, y, w, h = det.bbox
        cv2.rectangle(img, pt(x - 3, y - 3), pt(x + w + 3, y + h + 3), ALERT, 2)
        label = f"{det.kind} {det.confidence:.2f}"
        cv2.putText(img, label, pt(x, y + h + 12 / scale), cv2.FONT_HERSHEY_PLAIN, 0.9, ALERT, 1)
    return img
