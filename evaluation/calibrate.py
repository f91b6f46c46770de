"""`quaywatch calibrate SITE --camera ID [--snapshot IMG] [--check u,v,x,y ...] [--overlay OUT.png]`: fit a
camera's calibration (detector/calibration.py), check it against measured points, print the fitted block
for the site file, and draw the ground grid over a snapshot to see whether it lies on the quay."""

from __future__ import annotations

import argparse
import math

import numpy as np
import yaml

from quaywatch.errors import QuaywatchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit a camera's ground calibration and check it against measured points",
                       description="Fit cameras[ID].calibration (a homography or >= 4 measured points, or "
                       "camera_height_m with person_px_at), print each check point's reprojection error in px and m, "
                       "the fitted block for the site file, and optionally the ground grid over a snapshot.")
    p.add_argument("site", help="site YAML (or a name under config/sites)")
    p.add_argument("--camera", required=True, help="camera id")
    p.add_argument("--snapshot", help="a frame from the camera (PNG/JPEG) to draw the grid over")
    p.add_argument("--check", nargs="*", default=[], metavar="U,V,X,Y",
                   help="extra measured points to check: pixel u,v and quay-top metres x,y")
    p.add_argument("--overlay", metavar="OUT.png", help="write the snapshot with the ground grid (needs --snapshot)")
    p.add_argument("--grid-m", type=float, default=5.0, help="grid spacing on the ground, metres (default 5)")
    p.set_defaults(func=_run)


def _parse_point(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise QuaywatchError(f"--check {text!r}: give a point as u,v,x,y (pixel, then metres)")
    return vals


def _run(args: argparse.Namespace) -> int:
    import cv2

    from quaywatch.config import load_site
    from quaywatch.detector.calibration import CalibrationError, apply_h, calibration_for

    camera = load_site(args.site).camera(args.camera)
    snapshot = None
    if args.snapshot:
        snapshot = cv2.imread(args.snapshot, cv2.IMREAD_GRAYSCALE)
        if snapshot is None:
            raise QuaywatchError(f"--snapshot {args.snapshot}: not an image this tool can read")
    shape = snapshot.shape if snapshot is not None else None
    try:
        cal = calibration_for(camera, shape)
    except CalibrationError as exc:
        raise QuaywatchError(f"camera {camera.id}: {exc}") from None
    if cal is None:
        raise QuaywatchError(f"camera {camera.id} has neither calibration: nor detector.person_px_at to fit")
    cam = cal.camera
    w, _ = cam.size
    hfov = math.degrees(2 * math.atan(w / 2 / cam.K[0, 0]))
    print(f"camera {camera.id}: from {cal.fitted_from}; {cam.height_m:.2f} m above the quay, horizontal field of "
          f"view {hfov:.1f} deg, freeboard {cal.freeboard_m:.2f} m; pinhole fit {cam.fit_px:.2f} px rms")
    points = [list(p) for p in (camera.calibration.points or [])] if camera.calibration else []
    points += [_parse_point(t) for t in args.check]
    if points:
        pts = np.asarray(points, np.float64)
        ground = cal.quay_ground(pts[:, :2])
        px = cam.project(np.c_[pts[:, 2:], np.zeros(len(pts))])
        print(f"{'u':>7} {'v':>7} {'x m':>8} {'y m':>8}  {'error px':>8} {'error m':>8}")
        for p, g, q in zip(pts, ground, px, strict=True):
            print(f"{p[0]:7.1f} {p[1]:7.1f} {p[2]:8.2f} {p[3]:8.2f}  {np.linalg.norm(q - p[:2]):8.2f} "
                  f"{np.linalg.norm(g - p[2:]):8.2f}")
    # the fitted block: an exact homography of the fitted pinhole's quay plane (image -> metres)
    ground_px = np.array([[w * 0.2, cam.size[1] * 0.9], [w * 0.8, cam.size[1] * 0.9], [w * 0.3, cam.size[1] * 0.6],
                          [w * 0.7, cam.size[1] * 0.6]])
    g = cal.quay_ground(ground_px)
    block: dict = {"camera_height_m": round(cam.height_m, 2), "freeboard_m": round(cal.freeboard_m, 2)}
    if np.all(np.isfinite(g)):
        H, _ = cv2.findHomography(ground_px, g, 0)
        if H is not None:
            check = apply_h(H, ground_px)
            if np.allclose(check, g, atol=1e-3):
                block = {"homography": [[round(float(v), 9) for v in row] for row in H / H[2, 2]], **block}
    if camera.calibration and camera.calibration.origin:
        block["origin"] = camera.calibration.origin.model_dump()
    print("\n# fitted block for cameras[...].calibration:")
    print(yaml.safe_dump({"calibration": block}, sort_keys=False).rstrip())
    if args.overlay:
        if snapshot is None:
            raise QuaywatchError("--overlay needs --snapshot")
        cv2.imwrite(args.overlay, grid_overlay(snapshot, cal, camera, args.grid_m))
        print(f"overlay: {args.overlay}")
    return 0


def grid_overlay(snapshot: np.ndarray, cal, camera, step_m: float) -> np.ndarray:
    """The quay plane's metre grid (green) and the water plane's (blue) around the camera, the quay line
    (yellow), over the snapshot."""
    import cv2

    out = cv2.cvtColor(snapshot, cv2.COLOR_GRAY2BGR)
    h, w = snapshot.shape
    us, vs = np.meshgrid(np.linspace(0, w - 1, 12), np.linspace(0, h - 1, 12))
    g = cal.quay_ground(np.c_[us.ravel(), vs.ravel()])
    g = g[np.all(np.isfinite(g), axis=1)]
    if len(g) == 0:
        return out
    c = cal.camera.centre[:2]  # the grid within 60 m of the camera: beyond, its lines crowd into the horizon
    g = np.clip(g, c - 60.0, c + 60.0)
    lo, hi = np.floor(g.min(axis=0) / step_m) * step_m, np.ceil(g.max(axis=0) / step_m) * step_m
    for z, colour in ((0.0, (0, 200, 0)), (-cal.freeboard_m, (255, 120, 0))):
        for x in np.arange(lo[0], hi[0] + step_m, step_m):
            _polyline(out, cal, np.c_[np.full(50, x), np.linspace(lo[1], hi[1], 50), np.full(50, z)], colour)
        for y in np.arange(lo[1], hi[1] + step_m, step_m):
            _polyline(out, cal, np.c_[np.linspace(lo[0], hi[0], 50), np.full(50, y), np.full(50, z)], colour)
    line = np.rint(np.asarray(camera.quay_line)).astype(np.int32)
    cv2.polylines(out, [line], False, (0, 255, 255), 1)
    return out


def _polyline(img, cal, world, colour) -> None:
    import cv2

    px = cal.camera.project(world)
    ok = np.all(np.isfinite(px), axis=1) & (np.abs(px) < 1e5).all(axis=1)
    if ok.sum() >= 2:
        cv2.polylines(img, [np.rint(px[ok]).astype(np.int32)], False, colour, 1)
