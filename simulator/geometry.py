"""Where things are in the image: water mask, which side of the quay line is water, and perspective.

Built from a site camera (`water` polygon, `quay_line` polyline). The simulator reasons in image pixels,
like the detector: a point's signed distance to the quay line is positive on the water side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class SceneGeometry:
    width: int
    height: int
    water: np.ndarray  # (N, 2) polygon, image px
    quay_line: np.ndarray  # (M, 2) polyline, image px
    exclude: list[np.ndarray] = field(default_factory=list)
    # Perspective: a standing person's height in px grows linearly with image row below a horizon
    # (flat ground, pinhole camera). Defaults fit the Aalborg camera: ~24 px tall near the quay at y~150.
    horizon_y: float | None = None
    person_px_at_bottom: float | None = None

    def __post_init__(self) -> None:
        self.water = np.asarray(self.water, np.float64)
        self.quay_line = np.asarray(self.quay_line, np.float64)
        self.exclude = [np.asarray(p, np.float64) for p in self.exclude]
        if self.horizon_y is None:
            self.horizon_y = -0.25 * self.height
        if self.person_px_at_bottom is None:
            self.person_px_at_bottom = 0.14 * self.height
        mask = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(mask, [np.round(self.water).astype(np.int32)], 1)
        self.water_mask = mask.astype(bool)
        self._seg_a = self.quay_line[:-1]
        self._seg_b = self.quay_line[1:]
        d = self._seg_b - self._seg_a
        self._seg_len = np.hypot(d[:, 0], d[:, 1])
        self._seg_dir = d / self._seg_len[:, None]
        normal = np.stack([-self._seg_dir[:, 1], self._seg_dir[:, 0]], axis=1)
        # Each segment's normal is flipped to point at the water: probe both sides a few px out.
        mid = (self._seg_a + self._seg_b) / 2
        probe = 4.0
        sign = np.array([
            1.0 if self._inside_water(m + probe * n) >= self._inside_water(m - probe * n) else -1.0
            for m, n in zip(mid, normal, strict=True)
        ])
        self._seg_normal = normal * sign[:, None]
        self._cum = np.concatenate([[0.0], np.cumsum(self._seg_len)])

    @classmethod
    def from_camera(cls, camera, **perspective) -> SceneGeometry:
        if camera.resolution is None:
            raise ValueError(f"camera {camera.id!r} needs `resolution:` for simulation")
        w, h = camera.resolution
        if "max_body_px" in camera.detector.model_fields_set and "person_px_at_bottom" not in perspective:
            # the camera's own statement of how big a person looks nearest to it
            perspective["person_px_at_bottom"] = camera.detector.max_body_px
        return cls(w, h, camera.water, camera.quay_line, list(camera.exclude), **perspective)

    def _inside_water(self, p: np.ndarray) -> float:
        return cv2.pointPolygonTest(self.water.astype(np.float32), (float(p[0]), float(p[1])), True)

    # --- the quay line ---------------------------------------------------------------------------
    def water_side(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (px) from each point to the quay line: > 0 on the water side."""
        p = np.atleast_2d(np.asarray(points, np.float64))
        rel = p[:, None, :] - self._seg_a[None]  # (P, S, 2)
        along = np.clip(np.einsum("psk,sk->ps", rel, self._seg_dir), 0, self._seg_len[None])
        closest = self._seg_a[None] + along[..., None] * self._seg_dir[None]
        dist = np.hypot(*(p[:, None, :] - closest).transpose(2, 0, 1))
        nearest = np.argmin(dist, axis=1)
        idx = np.arange(len(p))
        side = np.sign(np.einsum("pk,pk->p", p - closest[idx, nearest], self._seg_normal[nearest]))
        return dist[idx, nearest] * np.where(side == 0, 1.0, side)

    @property
    def quay_length(self) -> float:
        return float(self._cum[-1])

    def quay_point(self, u: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point at fraction u of the quay line's length, its unit tangent and unit normal towards water."""
        s = float(np.clip(u, 0, 1)) * self._cum[-1]
        i = int(np.clip(np.searchsorted(self._cum, s, side="right") - 1, 0, len(self._seg_len) - 1))
        p = self._seg_a[i] + (s - self._cum[i]) * self._seg_dir[i]
        return p, self._seg_dir[i].copy(), self._seg_normal[i].copy()

    def in_water(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        pts = np.atleast_2d(points)
        poly = self.water.astype(np.float32)
        return np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True) >= margin for x, y in pts])

    def in_frame(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        p = np.atleast_2d(points)
        return ((p[:, 0] >= margin) & (p[:, 0] <= self.width - 1 - margin)
                & (p[:, 1] >= margin) & (p[:, 1] <= self.height - 1 - margin))

    # --- perspective -----------------------------------------------------------------------------
    def person_px(self, y: float | np.ndarray) -> float | np.ndarray:
        """Height in px of a standing adult (1.75 m) whose feet are at image row y."""
        scale = self.person_px_at_bottom / (self.height - self.horizon_y)
        return np.maximum(3.0, (np.asarray(y, np.float64) - self.horizon_y) * scale)
