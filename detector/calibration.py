"""Geometry in metres: one camera as a pinhole over two planes, the quay top (z = 0) and the water surface
`freeboard_m` below it (z = -freeboard). Pure: arrays in, arrays out, no I/O.

A camera is calibrated from an image-to-ground homography (published, or fitted to four or more measured
points with cv2.findHomography). A homography of a plane fixes the whole pinhole once the pixels are square
and the principal point is the frame centre (true of thermal cores to a few pixels): the focal length comes
from the two ground axes being perpendicular, then rotation and position follow. Without a homography the
detector's perspective fit (`person_px_at`, a straight line of person height by row) gives the horizon and,
with the camera's height (or the 1.75 m person the line implies), a level-roll pinhole of assumed field of view
(50 degrees unless `hfov_deg` says): coarser, and flagged `fitted_from="person_px_at"`.

World axes: x, y on the ground in metres (the homography's own axes), z up. Everything is vectorised over
points: pass (N, 2) pixel arrays, get (N, ...) back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from quaywatch.config import Camera
from quaywatch.config.calibration import CalibrationConfig

PERSON_M = 1.75  # a standing adult
EARTH_R_M = 6_371_000.0
DEFAULT_HFOV_DEG = 50.0
UNCALIBRATED_SIGMA_M = 25.0  # position uncertainty when nothing but a perspective guess is known


class CalibrationError(ValueError):
    """The measurements do not describe a camera over a plane (degenerate points, a horizon below the frame)."""


@dataclass(frozen=True)
class PinholeCamera:
    """K [M | t]: X_cam = M @ X_world + t, pixel ~ K @ X_cam. M is orthonormal (the world may be left-handed
    in x, y, as published homographies sometimes are; z is always up)."""

    K: np.ndarray  # 3x3
    M: np.ndarray  # 3x3, world -> camera rotation (possibly with a reflection)
    t: np.ndarray  # 3
    size: tuple[int, int]  # (width, height) px
    fit_px: float = 0.0  # rms reprojection error of the pinhole against what it was fitted to, px

    @property
    def centre(self) -> np.ndarray:
        return -self.M.T @ self.t

    @property
    def height_m(self) -> float:
        return float(self.centre[2])

    def project(self, world: np.ndarray) -> np.ndarray:
        """(N, 3) world metres -> (N, 2) pixels (points behind the camera come out as NaN)."""
        xw = np.asarray(world, np.float64).reshape(-1, 3)
        cam = xw @ self.M.T + self.t
        z = cam[:, 2]
        pix = cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            out = pix[:, :2] / pix[:, 2:3]
        out[z <= 1e-9] = np.nan
        return out

    def depth(self, world: np.ndarray) -> np.ndarray:
        """Distance along the optical axis, metres (the z-buffer value)."""
        xw = np.asarray(world, np.float64).reshape(-1, 3)
        return (xw @ self.M.T + self.t)[:, 2]

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) world directions of the rays through them (not normalised)."""
        p = np.asarray(pixels, np.float64).reshape(-1, 2)
        hom = np.concatenate([p, np.ones((len(p), 1))], axis=1)
        return (hom @ np.linalg.inv(self.K).T) @ self.M

    def to_plane(self, pixels: np.ndarray, z: float) -> np.ndarray:
        """Where each pixel's ray meets the horizontal plane at height z: (N, 2) metres; NaN at or above the
        horizon (the ray never comes down to it)."""
        d = self.rays(pixels)
        c = self.centre
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = (z - c[2]) / d[:, 2]
        lam[~(lam > 0)] = np.nan
        return c[:2] + lam[:, None] * d[:, :2]


@dataclass(frozen=True)
class Calibration:
    """A camera over its two planes, plus where its ground is on the map."""

    camera: PinholeCamera
    freeboard_m: float
    fitted_from: str  # "homography" | "points" | "person_px_at"
    origin: tuple[float, float, float] | None = None  # lat, lon, bearing of +y (deg)
    residual_m: float = 0.0  # rms of the fit on its own points, metres (0 when published or guessed)

    @property
    def water_z(self) -> float:
        return -self.freeboard_m

    # --- image <-> planes -------------------------------------------------------------------------------
    def quay_ground(self, pixels: np.ndarray) -> np.ndarray:
        """Pixel -> (x, y) metres on the quay top."""
        return self.camera.to_plane(pixels, 0.0)

    def water_ground(self, pixels: np.ndarray) -> np.ndarray:
        """Pixel -> (x, y) metres on the water surface."""
        return self.camera.to_plane(pixels, self.water_z)

    def _plane_z(self, on_water: bool | np.ndarray, n: int) -> np.ndarray:
        return np.where(np.broadcast_to(np.asarray(on_water, bool), (n,)), self.water_z, 0.0)

    def person_px(self, feet_px: np.ndarray, on_water: bool | np.ndarray = False, person_m: float = PERSON_M) -> np.ndarray:
        """Image height in px of a person `person_m` tall whose feet are at these pixels (standing on the quay,
        or - on_water - with his feet at the water plane: the size his head and shoulders scale with)."""
        p = np.asarray(feet_px, np.float64).reshape(-1, 2)
        z = self._plane_z(on_water, len(p))
        feet = np.concatenate([self._to_planes(p, z), z[:, None]], axis=1)
        head = feet + np.array([0.0, 0.0, person_m])
        return np.linalg.norm(self.camera.project(head) - self.camera.project(feet), axis=1)

    def _to_planes(self, p: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = np.empty((len(p), 2))
        for zz in np.unique(z):
            sel = z == zz
            out[sel] = self.camera.to_plane(p[sel], float(zz))
        return out

    def ground_speed(self, times_s: np.ndarray, pixels: np.ndarray, on_water: bool | np.ndarray = False) -> np.ndarray:
        """Ground speed in m/s between successive points of a pixel track (N points -> N-1 speeds)."""
        t = np.asarray(times_s, np.float64).ravel()
        p = np.asarray(pixels, np.float64).reshape(-1, 2)
        g = self._to_planes(p, self._plane_z(on_water, len(p)))
        dt = np.maximum(np.diff(t), 1e-6)
        return np.linalg.norm(np.diff(g, axis=0), axis=1) / dt

    def metres_per_px(self, pixels: np.ndarray, on_water: bool | np.ndarray = False) -> np.ndarray:
        """Ground metres one pixel step spans at these pixels (the larger of the two directions)."""
        p = np.asarray(pixels, np.float64).reshape(-1, 2)
        z = self._plane_z(on_water, len(p))
        g0 = self._to_planes(p, z)
        gx = self._to_planes(p + np.array([1.0, 0.0]), z)
        gy = self._to_planes(p + np.array([0.0, 1.0]), z)
        return np.maximum(np.linalg.norm(gx - g0, axis=1), np.linalg.norm(gy - g0, axis=1))

    # --- reflections and the hidden wall foot ----------------------------------------------------------
    def mirror(self, world: np.ndarray) -> np.ndarray:
        """World points -> their mirror images in the water plane (a reflection is the camera seeing these)."""
        w = np.asarray(world, np.float64).reshape(-1, 3).copy()
        w[:, 2] = 2.0 * self.water_z - w[:, 2]
        return w

    def reflection_px(self, pixels: np.ndarray, height_m: float | np.ndarray = 0.0) -> np.ndarray:
        """Where the water shows the reflection of the point `height_m` above the quay-top spot seen at these
        pixels (height 0: the feet of someone at the edge; PERSON_M: his head)."""
        p = np.asarray(pixels, np.float64).reshape(-1, 2)
        g = self.quay_ground(p)
        h = np.broadcast_to(np.asarray(height_m, np.float64), (len(p),))
        return self.camera.project(self.mirror(np.concatenate([g, h[:, None]], axis=1)))

    def hidden_strip(self, quay_line_px: np.ndarray, water_px: np.ndarray, samples: int = 16) -> HiddenStrip:
        """The water along the wall foot that the quay edge hides from the camera.

        For each sampled point E of the quay line (on the quay top), a ray grazing the edge drops the freeboard
        while it moves `freeboard * d / camera_height` further out from the wall (d: how far the point under the
        camera stands back from the edge, across it), so that strip of water is out of sight. Only where the camera stands on the land
        side of the edge: seen from across the water the wall face and its foot are in view (width 0).
        `water_px`: any pixel of the water (tells the sides apart)."""
        line = np.asarray(quay_line_px, np.float64).reshape(-1, 2)
        seg_len = np.linalg.norm(np.diff(line, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg_len)])
        at = np.linspace(0.0, s[-1], samples)
        pts = np.stack([np.interp(at, s, line[:, 0]), np.interp(at, s, line[:, 1])], axis=1)
        edge = self.quay_ground(pts)
        water_g = self.water_ground(np.asarray(water_px, np.float64).reshape(-1, 2)).mean(axis=0)
        cam_xy = self.camera.centre[:2]
        # the edge's ground direction at each sample, and which side the camera and the water are on
        tangent = np.gradient(edge, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
        water_side = np.sign(((water_g - edge) * normal).sum(axis=1))
        normal *= np.where(water_side == 0, 1.0, water_side)[:, None]  # normal points out over the water
        cam_out = ((cam_xy - edge) * normal).sum(axis=1)  # > 0: the camera is over the water / across it
        # similar triangles in the vertical plane across the edge: the camera stands -cam_out back from it
        width = np.where(cam_out < 0, self.freeboard_m * -cam_out / self.camera.height_m, 0.0)
        foot = np.concatenate([edge, np.full((len(edge), 1), self.water_z)], axis=1)
        foot_px = self.camera.project(foot)
        return HiddenStrip(edge_px=pts, edge_m=edge, width_m=width, foot_px=foot_px)

    # --- the map --------------------------------------------------------------------------------------
    def latlon(self, ground_xy: np.ndarray) -> np.ndarray:
        """Ground metres -> (lat, lon) degrees, via `origin` (a local tangent plane: fine over a harbour)."""
        if self.origin is None:
            raise CalibrationError("the calibration has no origin: set calibration.origin {lat, lon, bearing_deg}")
        lat0, lon0, bearing = self.origin
        g = np.asarray(ground_xy, np.float64).reshape(-1, 2)
        b = math.radians(bearing)
        # +y points along `bearing`, +x 90 degrees clockwise from it
        north = g[:, 1] * math.cos(b) - g[:, 0] * math.sin(b)
        east = g[:, 1] * math.sin(b) + g[:, 0] * math.cos(b)
        lat = lat0 + np.degrees(north / EARTH_R_M)
        lon = lon0 + np.degrees(east / (EARTH_R_M * math.cos(math.radians(lat0))))
        return np.stack([lat, lon], axis=1)


@dataclass(frozen=True)
class HiddenStrip:
    edge_px: np.ndarray  # (S, 2) sampled quay-line pixels
    edge_m: np.ndarray  # (S, 2) their quay-top ground points
    width_m: np.ndarray  # (S,) hidden water out from the wall foot, across the edge, metres
    foot_px: np.ndarray  # (S, 2) where the wall foot would be in the image (behind the edge when hidden)


# --- building a calibration ------------------------------------------------------------------------------

def fit_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[[u, v, x, y], ...] -> (homography image->ground, per-point residual metres). Least squares over all
    points (an installer's few measured points have no outliers to vote away)."""
    pts = np.asarray(points, np.float64).reshape(-1, 4)
    if len(pts) < 4:
        raise CalibrationError(f"a homography needs at least 4 points, got {len(pts)}")
    H, _ = cv2.findHomography(pts[:, :2], pts[:, 2:], 0)
    if H is None:
        raise CalibrationError("cv2.findHomography found no homography: are the points degenerate?")
    return H, np.linalg.norm(apply_h(H, pts[:, :2]) - pts[:, 2:], axis=1)


def apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    q = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ np.asarray(H, np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return q[:, :2] / q[:, 2:3]


def camera_from_homography(H_img_to_ground: np.ndarray, size: tuple[int, int]) -> PinholeCamera:
    """The pinhole whose view of the z = 0 plane best matches this homography (square pixels, principal point
    at the frame centre). Hand-measured homographies are rarely an exact pinhole of that kind (the closed form
    from the two ground axes being perpendicular can even ask for an imaginary focal length), so the focal
    length is searched: for each, cv2.solvePnP places the camera on a grid of ground points the homography
    maps, and the focal length that reprojects them best wins."""
    w, h = size
    H = np.asarray(H_img_to_ground, np.float64)
    horizon = _horizon_rows(H, w)
    top = max(0.0, float(np.nanmax(horizon)) if np.all(np.isfinite(horizon)) else 0.0)
    if top >= h - 4:
        raise CalibrationError("the homography puts the horizon at the bottom of the frame: no ground in view")
    us, vs = np.meshgrid(np.linspace(0, w - 1, 9), np.linspace(top + 0.15 * (h - top), h - 1, 7))
    img = np.stack([us.ravel(), vs.ravel()], axis=1)
    ground = apply_h(H, img)
    ok = np.all(np.isfinite(ground), axis=1)
    img, ground = img[ok], ground[ok]
    if len(img) < 6:
        raise CalibrationError("the homography maps too little of the frame onto the ground")
    obj = np.concatenate([ground, np.zeros((len(ground), 1))], axis=1)

    def fit(f: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        K = np.array([[f, 0, (w - 1) / 2.0], [0, f, (h - 1) / 2.0], [0, 0, 1.0]])
        good, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_ITERATIVE)
        if not good:
            return np.inf, K, np.eye(3), np.zeros(3)
        proj, _ = cv2.projectPoints(obj, rvec, tvec, K, None)
        err = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))
        return err, K, cv2.Rodrigues(rvec)[0], tvec.ravel()

    focals = np.geomspace(0.25 * w, 12.0 * w, 40)
    errs = [fit(f)[0] for f in focals]
    k = int(np.argmin(errs))
    lo, hi = focals[max(k - 1, 0)], focals[min(k + 1, len(focals) - 1)]
    for _ in range(25):  # golden-section refinement between the neighbours of the best grid focal length
        a, b = hi - (hi - lo) / 1.618, lo + (hi - lo) / 1.618
        if fit(a)[0] < fit(b)[0]:
            hi = b
        else:
            lo = a
    err, K, R, t = fit((lo + hi) / 2.0)
    if not np.isfinite(err):
        raise CalibrationError("no pinhole camera fits the homography")
    M = R
    if (-(M.T @ t))[2] < 0:  # camera below the ground: the ground axes are left-handed; flip z to point up
        M = M @ np.diag([1.0, 1.0, -1.0])
    return PinholeCamera(K, M, t, (int(w), int(h)), fit_px=err)


def _horizon_rows(H: np.ndarray, w: int) -> np.ndarray:
    """Rows of the horizon (the image of the ground's line at infinity: H's last row = 0) at both frame sides."""
    a, b, c = H[2]
    if abs(b) < 1e-15:
        return np.array([np.nan, np.nan])
    return np.array([-(c + a * 0.0) / b, -(c + a * (w - 1)) / b])


def camera_from_perspective(person_px_at: list[tuple[float, float]], size: tuple[int, int],
                            camera_height_m: float | None, hfov_deg: float | None) -> PinholeCamera:
    """A level-roll pinhole from person height by row: the line's zero is the horizon; its slope is
    PERSON_M / camera height (a person's px height grows as (row - horizon) * PERSON_M / height)."""
    w, h = size
    at = np.asarray(person_px_at, np.float64)
    slope, intercept = np.polyfit(at[:, 0], at[:, 1], 1)
    if slope <= 0:
        raise CalibrationError("person_px_at: people do not grow towards the bottom of the frame; it gives no horizon")
    horizon = -intercept / slope
    height = camera_height_m or PERSON_M / slope
    f = (w / 2.0) / math.tan(math.radians(hfov_deg or DEFAULT_HFOV_DEG) / 2.0)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    pitch = math.atan2(cy - horizon, f)  # downwards
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    # world: x right, y forward (horizontal), z up; camera: x right, y down, z forward, pitched down
    cp, sp = math.cos(pitch), math.sin(pitch)
    M = np.array([[1.0, 0, 0], [0, -sp, -cp], [0, cp, -sp]])
    C = np.array([0.0, 0.0, height])
    return PinholeCamera(K, M, -M @ C, (int(w), int(h)))


def calibration_from_config(cfg: CalibrationConfig, size: tuple[int, int],
                            person_px_at: list[tuple[float, float]] | None = None) -> Calibration:
    origin = (cfg.origin.lat, cfg.origin.lon, cfg.origin.bearing_deg) if cfg.origin else None
    residual = 0.0
    if cfg.points is not None:
        H, res = fit_points(np.asarray(cfg.points))
        residual, source = float(np.sqrt(np.mean(res**2))), "points"
    elif cfg.homography is not None:
        H, source = np.asarray(cfg.homography, np.float64), "homography"
    else:
        if not person_px_at:
            raise CalibrationError("calibration has only camera_height_m: the detector's person_px_at is needed too")
        cam = camera_from_perspective(person_px_at, size, cfg.camera_height_m, cfg.hfov_deg)
        return Calibration(cam, cfg.freeboard_m, "person_px_at", origin)
    return Calibration(camera_from_homography(H, size), cfg.freeboard_m, source, origin, residual)


def calibration_for(camera: Camera, frame_shape: tuple[int, int] | None = None) -> Calibration | None:
    """The camera's calibration at its stream size (`frame_shape` (rows, cols), else `resolution`), or the
    perspective fallback from `person_px_at` alone (camera height from the 1.75 m person), or None."""
    if frame_shape is not None:
        size = (int(frame_shape[1]), int(frame_shape[0]))
    elif camera.resolution is not None:
        size = (int(camera.resolution[0]), int(camera.resolution[1]))
    else:
        raise CalibrationError(f"camera {camera.id}: the frame size is needed (set resolution)")
    at = camera.detector.person_px_at
    if camera.calibration is not None:
        return calibration_from_config(camera.calibration, size, at)
    if at:
        return Calibration(camera_from_perspective(at, size, None, None), 1.0, "person_px_at")
    return None


def ground_latlon(camera: Camera, bbox: tuple[float, float, float, float],
                  frame_shape: tuple[int, int] | None = None, on_water: bool = True) -> tuple[float, float, float] | None:
    """Where on the map the thing in `bbox` (x, y, w, h px) is: (lat, lon, uncertainty metres), for the
    control room. Calibrated with an origin: the box's bottom centre on the water (or quay) plane, uncertain
    by the fit's residual plus the ground span of a few pixels there. Otherwise the camera's own location,
    uncertain by how far out the point is estimated to be (or 25 m). None without either."""
    x, y, w, h = (float(v) for v in bbox)
    foot = np.array([[x + w / 2.0, y + h]])
    try:
        cal = calibration_for(camera, frame_shape)
    except CalibrationError:
        cal = None
    if cal is not None and cal.origin is not None and cal.fitted_from != "person_px_at":
        g = cal.water_ground(foot) if on_water else cal.quay_ground(foot)
        if np.all(np.isfinite(g)):
            lat, lon = cal.latlon(g)[0]
            sigma = cal.residual_m + 3.0 * float(cal.metres_per_px(foot, on_water)[0])
            return float(lat), float(lon), round(sigma, 2)
    if camera.location is None:
        return None
    sigma = UNCALIBRATED_SIGMA_M
    if cal is not None:
        g = cal.water_ground(foot) if on_water else cal.quay_ground(foot)
        dist = float(np.linalg.norm(g[0] - cal.camera.centre[:2]))
        if np.isfinite(dist):
            sigma = max(sigma, dist)
    return camera.location.lat, camera.location.lon, round(sigma, 2)
