"""The empty scene: quay paving, a quay wall, bollards, water with moving ripples, ropes and masts.

`Background.at(t)` returns a fresh float32 °C image; everything static is computed once. Ripples are two
periodic noise textures (periodic so that scrolling them shows no seam) drifting at different speeds.
An optional real plate (8-bit AGC frame) replaces the synthetic paving for realism.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quaywatch.simulator.climate import Climate
from quaywatch.simulator.geometry import SceneGeometry

SHARED_AALBORG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "aalborg-ltd"


def periodic_noise(rng: np.random.Generator, shape: tuple[int, int], sx: float, sy: float) -> np.ndarray:
    """Smooth, seamlessly tileable noise with unit std: white noise low-passed in the Fourier domain."""
    h, w = shape
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    gain = np.exp(-2 * (np.pi**2) * ((fx * sx) ** 2 + (fy * sy) ** 2))
    out = np.real(np.fft.ifft2(np.fft.fft2(white) * gain))
    return (out / (out.std() + 1e-9)).astype(np.float32)


class Background:
    def __init__(self, geo: SceneGeometry, climate: Climate, rng: np.random.Generator,
                 plate: np.ndarray | None = None, plate_water: np.ndarray | None = None):
        self.geo = geo
        self.climate = climate
        H, W = geo.height, geo.width
        water = geo.water_mask if plate_water is None else plate_water
        self.water = water
        rows = np.linspace(0, 1, H, dtype=np.float32)[:, None]
        if plate is None:
            land = climate.quay_c + 0.35 * periodic_noise(rng, (H, W), 10, 10) + 0.15 * periodic_noise(rng, (H, W), 1, 1)
            land += (rows - 0.5) * rng.uniform(-1.0, 1.5)  # the far quay is seen at a grazing angle
            self._paving(land, rng)
            self._bollards(land, rng)
            # Far water reflects more sky (grazing angle): colder towards the top of the image.
            sea = climate.water_c - (1 - rows) * rng.uniform(0.5, 1.5) + 0.3 * periodic_noise(rng, (H, W), 12, 4)
            static = np.where(water, sea, land).astype(np.float32)
            self._quay_wall(static, rng)
            self._quay_edge(static, rng)
        else:
            # A real AGC frame: grey levels mapped to a plausible temperature window around the season.
            g = plate.astype(np.float32)
            g_water = float(np.median(g[water]))
            span = rng.uniform(10, 14)
            static = (climate.water_c + (g - g_water) / 255.0 * span).astype(np.float32)
        self.static = static
        self._ripple_a = periodic_noise(rng, (H, W), 10, 1.5) * 0.35
        self._ripple_b = periodic_noise(rng, (H, W), 4, 1.0) * 0.2
        self._drift_a = rng.uniform(-3, 3, 2) + np.array([4.0, 0.0])
        self._drift_b = rng.uniform(-6, 6, 2)
        self._water_f = water.astype(np.float32)
        self.ropes = self._rope_lines(rng) if plate is None else []  # a real plate has its own ropes
        self.rope_temp = climate.sky_c

    def _bollards(self, land: np.ndarray, rng: np.random.Generator) -> None:
        """Bollards along the quay edge, a little warmer than the paving (they are iron, painted)."""
        geo = self.geo
        for u in np.linspace(0.08, 0.92, int(rng.integers(3, 7))):
            p, _, n = geo.quay_point(u + rng.uniform(-0.03, 0.03))
            hpx = geo.person_px(p[1])
            c = p - n * 0.25 * hpx
            r = max(1, round(0.08 * hpx))
            x, y = round(c[0]), round(c[1])
            cv2.rectangle(land, (x - r, y - 2 * r), (x + r, y), float(self.climate.quay_c + rng.uniform(-2, 2)), -1)

    def _paving(self, land: np.ndarray, rng: np.random.Generator) -> None:
        """Paving joints parallel to the quay (spaced in perspective) and street furniture: benches and bins
        (painted metal reflecting the cold sky), lamp posts."""
        geo, c = self.geo, self.climate
        joint = float(c.quay_c - rng.uniform(0.2, 0.5))
        for k in np.arange(0.6, 12.0, rng.uniform(0.6, 1.0)):
            pts = []
            for u in np.linspace(-0.2, 1.2, 15):
                p, tangent, n = geo.quay_point(np.clip(u, 0, 1))
                p = p + tangent * (u - np.clip(u, 0, 1)) * geo.quay_length
                pts.append(p - n * k * float(geo.person_px(p[1])))
            cv2.polylines(land, [np.round(pts).astype(np.int32)], False, joint, 1)
        for _ in range(int(rng.integers(2, 6))):
            p, _, n = geo.quay_point(rng.uniform(0.05, 0.95))
            hpx = float(geo.person_px(p[1]))
            q = p - n * rng.uniform(1.5, 5.0) * hpx
            w, h = rng.uniform(0.3, 1.0) * hpx, rng.uniform(0.2, 0.35) * hpx
            cv2.rectangle(land, (int(q[0] - w / 2), int(q[1] - h)), (int(q[0] + w / 2), int(q[1])),
                          float(c.quay_c - rng.uniform(1, 3)), -1)
        for _ in range(int(rng.integers(1, 4))):
            p, _, n = geo.quay_point(rng.uniform(0.05, 0.95))
            hpx = float(geo.person_px(p[1]))
            q = p - n * rng.uniform(0.8, 3.0) * hpx
            cv2.line(land, (int(q[0]), int(q[1])), (int(q[0]), int(q[1] - 2.5 * hpx)), float(c.sky_c + 2),
                     max(1, round(0.04 * hpx)))

    def _quay_wall(self, img: np.ndarray, rng: np.random.Generator) -> None:
        """The wet face of the quay wall, seen just beyond the edge: between water and paving temperature."""
        geo = self.geo
        ys, xs = np.nonzero(geo.water_mask)
        d = geo.water_side(np.stack([xs, ys], axis=1).astype(np.float64))
        band = d < 0.22 * geo.person_px(ys)
        mix = rng.uniform(0.3, 0.6)
        img[ys[band], xs[band]] = self.climate.water_c + mix * (self.climate.quay_c - self.climate.water_c)

    def _quay_edge(self, img: np.ndarray, rng: np.random.Generator) -> None:
        """The quay wall's top edge (granite kerb) as a thin line a bit colder than the paving."""
        pts = np.round(self.geo.quay_line).astype(np.int32)
        kerb = float(self.climate.quay_c - rng.uniform(0.5, 1.5))
        cv2.polylines(img, [pts], False, kerb, thickness=max(1, self.geo.width // 300))

    def _rope_lines(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """One rope or mast along the long axis of each `exclude` polygon: (end a, end b, thickness)."""
        lines = []
        for poly in self.geo.exclude:
            (cx, cy), (w, h), ang = cv2.minAreaRect(poly.astype(np.float32))
            long_, short = (w, h) if w >= h else (h, w)
            theta = np.deg2rad(ang if w >= h else ang + 90)
            d = np.array([np.cos(theta), np.sin(theta)]) * long_ / 2
            lines.append((np.array([cx, cy]) - d, np.array([cx, cy]) + d, float(np.clip(short / 3, 1, 3))))
        return lines

    def at(self, t: float) -> np.ndarray:
        img = self.static.copy()
        a = self._shift(self._ripple_a, self._drift_a * t)
        b = self._shift(self._ripple_b, self._drift_b * t)
        img += (a + b) * self._water_f
        for a_end, b_end, thick in self.ropes:
            sway = np.array([np.sin(0.9 * t + a_end[0]), 0.0]) * 0.8  # ropes swing a little in the wind
            p = np.round(a_end).astype(int)
            q = np.round(b_end + sway).astype(int)
            cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), self.rope_temp, round(thick))
        return img

    @staticmethod
    def _shift(tex: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Scroll a periodic texture by a fractional offset (linear mix of two integer rolls)."""
        dx, dy = float(d[0]), float(d[1])
        ix, iy = int(np.floor(dx)), int(np.floor(dy))
        fx = dx - ix
        base = np.roll(tex, (iy, ix), axis=(0, 1))
        nxt = np.roll(base, 1, axis=1)
        return base * (1 - fx) + nxt * fx


def load_aalborg_plate(name: str = "busy") -> tuple[np.ndarray, np.ndarray]:
    """A real Aalborg harbourfront frame and its water mask from ../shared (never copied into the repo)."""
    files = {"busy": "busy_quay_20200816_0028.jpg", "walker": "walker_on_wet_quay.jpg"}
    if name not in files:
        raise ValueError(f"unknown Aalborg plate {name!r}; use one of {', '.join(files)}")
    img = cv2.imread(str(SHARED_AALBORG / files[name]), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(SHARED_AALBORG / "mask_water_and_ropes.png"), cv2.IMREAD_GRAYSCALE)
    if img is None or mask is None:
        raise FileNotFoundError(f"the Aalborg plates are not in {SHARED_AALBORG} (../shared beside the checkout)")
    # The mask marks water and ropes black; keep the big water body (the ropes are thin).
    dark = cv2.morphologyEx((mask < 128).astype(np.uint8), cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(dark)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return img, labels == largest
