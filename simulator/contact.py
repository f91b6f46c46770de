"""Contact sheets: a grid of false-colour frames (upscaled, each labelled with its time) to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def false_colour(frame: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    f = frame.astype(np.float32)
    lo = float(np.percentile(f, 1)) if lo is None else lo
    hi = float(f.max()) if hi is None else hi
    g = np.clip((f - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(g, cv2.COLORMAP_INFERNO)


def contact_sheet(frames: list[tuple[float, np.ndarray]], out: str | Path, cols: int = 4, scale: float = 2.0,
                  lines: list[np.ndarray] | None = None, crop: tuple[int, int, int, int] | None = None) -> None:
    """Write `frames` [(t, frame)] as a grid PNG; `lines` (polylines, px) are drawn on each, e.g. the quay;
    `crop` (x0, y0, x1, y1) zooms in. One colour scale for the whole sheet, so levels compare across tiles."""
    lo = float(np.percentile(frames[0][1], 1))
    hi = float(max(f.max() for _, f in frames))
    tiles = []
    for t, fr in frames:
        img = false_colour(fr, lo, hi)
        for pl in lines or []:
            cv2.polylines(img, [np.round(pl).astype(np.int32)], False, (255, 255, 0), 1)
        if crop is not None:
            x0, y0, x1, y1 = crop
            img = img[max(y0, 0):y1, max(x0, 0):x1]
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        cv2.putText(img, f"t={t:.2f}s", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        tiles.append(img)
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(out), np.vstack(rows))
