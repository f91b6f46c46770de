"""Small temperature stamps (a body, a bird, a boat) blended into the scene with sub-pixel coverage.

A sprite is a patch of temperatures plus a coverage map (0..1): a pixel half covered by a 2 px head
mixes head and water temperature, as a real microbolometer pixel does. All maths is on the patch grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Ellipse:
    cx: float  # centre, px relative to the sprite origin
    cy: float
    a: float  # half-axis along the ellipse's own x, px
    b: float  # half-axis along its own y, px
    angle: float  # radians, rotation of the own x axis from the image x axis
    temp: float  # °C


@dataclass
class Sprite:
    x0: int  # image position of temp[0, 0]
    y0: int
    temp: np.ndarray  # float32 (h, w) °C
    cov: np.ndarray  # float32 (h, w) 0..1

    def flipped(self, axis_y: float, alpha: float, blur: float = 0.0) -> Sprite:
        """Mirror image about the image row `axis_y` (a reflection), dimmed to `alpha` coverage."""
        temp, cov = self.temp[::-1].copy(), self.cov[::-1] * alpha
        if blur > 0:
            cov = cv2.GaussianBlur(cov, (0, 0), blur)
        y0 = round(2 * axis_y - (self.y0 + self.temp.shape[0]))
        return Sprite(self.x0, y0, temp, cov.astype(np.float32))


def render_ellipses(parts: list[Ellipse], cx: float, cy: float, pad: float = 2.0) -> Sprite:
    """Draw ellipses (later ones on top) into a sprite centred near image point (cx, cy)."""
    reach = max(max(abs(p.cx) + max(p.a, p.b), abs(p.cy) + max(p.a, p.b)) for p in parts) + pad
    x0, y0 = int(np.floor(cx - reach)), int(np.floor(cy - reach))
    size = int(np.ceil(2 * reach)) + 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xs += x0 + 0.5 - cx  # pixel centres relative to (cx, cy)
    ys += y0 + 0.5 - cy
    temp = np.zeros((size, size), np.float32)
    cov = np.zeros((size, size), np.float32)
    for p in parts:
        c, s = np.cos(p.angle), np.sin(p.angle)
        dx, dy = xs - p.cx, ys - p.cy
        u = (dx * c + dy * s) / max(p.a, 1e-3)
        v = (-dx * s + dy * c) / max(p.b, 1e-3)
        r = np.sqrt(u * u + v * v)
        # distance to the rim in px (approx.), turned into ~1 px antialiased coverage
        k = np.clip((1.0 - r) * min(p.a, p.b) + 0.5, 0.0, 1.0) * min(1.0, 2 * min(p.a, p.b) + 0.2)
        # later parts lie on top: temperature is the coverage-weighted mix of what shows through
        new_cov = cov + k * (1.0 - cov)
        temp = (temp * cov * (1.0 - k) + p.temp * k) / np.maximum(new_cov, 1e-6)
        cov = new_cov
    return Sprite(x0, y0, temp, cov)


def paste(field: np.ndarray, sprite: Sprite, alpha: float = 1.0, where: np.ndarray | None = None) -> None:
    """Blend a sprite into the scene in place; `where` (bool image) limits it to e.g. the water."""
    h, w = sprite.temp.shape
    H, W = field.shape
    x0, y0 = sprite.x0, sprite.y0
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if xa >= xb or ya >= yb:
        return
    cov = sprite.cov[ya - y0:yb - y0, xa - x0:xb - x0] * alpha
    if where is not None:
        cov = cov * where[ya:yb, xa:xb]
    region = field[ya:yb, xa:xb]
    region += cov * (sprite.temp[ya - y0:yb - y0, xa - x0:xb - x0] - region)
