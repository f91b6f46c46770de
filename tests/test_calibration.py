"""Geometry in metres (detector/calibration.py): a known pinhole is recovered from measured points, and every
derived quantity (ground points on both planes, person height, speed, reflections, the hidden wall foot, the
map position) agrees with that pinhole computed directly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quaywatch.config import Camera, load_site
from quaywatch.config.calibration import CalibrationConfig
from quaywatch.detector.calibration import (
    PERSON_M,
    Calibration,
    PinholeCamera,
    calibration_for,
    calibration_from_config,
    camera_from_homography,
    fit_points,
    ground_latlon,
)
from quaywatch.errors import ConfigError

W, H = 384, 288


def pinhole(height=8.0, pitch_deg=18.0, hfov_deg=48.0, yaw_deg=5.0) -> PinholeCamera:
    """Camera at (0, 0, height) looking along +y (turned by yaw), pitched down."""
    f = (W / 2) / math.tan(math.radians(hfov_deg) / 2)
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1.0]])
    p, y = math.radians(pitch_deg), math.radians(yaw_deg)
    yaw = np.array([[math.cos(y), math.sin(y), 0], [-math.sin(y), math.cos(y), 0], [0, 0, 1.0]])
    tilt = np.array([[1.0, 0, 0], [0, -math.sin(p), -math.cos(p)], [0, math.cos(p), -math.sin(p)]])
    M = tilt @ yaw
    return PinholeCamera(K, M, -M @ np.array([0.0, 0.0, height]), (W, H))


def measured_points(cam: PinholeCamera) -> list[list[float]]:
    ground = np.array([[-4.0, 12.0], [2.5, 14.0], [-6.0, 30.0], [7.0, 35.0], [0.0, 20.0], [2.0, 45.0]])
    px = cam.project(np.c_[ground, np.zeros(len(ground))])
    assert np.all((px >= 0) & (px < [W, H])), "test points must be in view"
    return np.c_[px, ground].tolist()


def test_a_pinhole_is_recovered_from_four_or_more_measured_points():
    truth = pinhole()
    cal = calibration_from_config(CalibrationConfig(points=measured_points(truth), freeboard_m=1.2), (W, H))
    assert cal.fitted_from == "points" and cal.residual_m < 1e-3
    assert cal.camera.height_m == pytest.approx(8.0, rel=0.01)
    assert cal.camera.K[0, 0] == pytest.approx(truth.K[0, 0], rel=0.01)
    # quay plane: a pixel maps back onto the ground point it shows
    g = np.array([[1.5, 25.0, 0.0], [-3.0, 16.0, 0.0]])
    assert cal.quay_ground(truth.project(g)) == pytest.approx(g[:, :2], abs=0.02)
    # water plane, 1.2 m lower: the same pixel is further out than on the quay top
    gw = np.array([[1.5, 25.0, -1.2]])
    assert cal.water_ground(truth.project(gw)) == pytest.approx(gw[:, :2], abs=0.03)


def test_person_height_speed_and_mirror_agree_with_the_pinhole():
    truth = pinhole()
    cal = Calibration(truth, 1.2, "points")
    feet = np.array([[2.0, 20.0, 0.0]])
    feet_px = truth.project(feet)
    head_px = truth.project(feet + np.array([0.0, 0.0, PERSON_M]))
    assert cal.person_px(feet_px)[0] == pytest.approx(np.linalg.norm(head_px - feet_px), rel=1e-6)
    # far people are smaller than near ones
    assert cal.person_px(truth.project([[2.0, 40.0, 0.0]]))[0] < cal.person_px(feet_px)[0] / 1.5
    # a walker at 1.4 m/s along x, seen at 9 fps
    t = np.arange(10) / 9.0
    track = truth.project(np.c_[2.0 + 1.4 * t, np.full(10, 20.0), np.zeros(10)])
    assert cal.ground_speed(t, track) == pytest.approx(np.full(9, 1.4), rel=0.01)
    # the reflection of his head is where the camera sees the head's mirror image in the water plane
    want = truth.project([[2.0, 20.0, -2 * 1.2 - PERSON_M]])
    assert cal.reflection_px(feet_px, PERSON_M) == pytest.approx(want, abs=0.05)
    assert cal.reflection_px(feet_px, PERSON_M)[0, 1] > feet_px[0, 1]  # below his feet in the picture


def test_the_hidden_wall_foot_strip_grows_with_distance_and_vanishes_seen_from_across():
    truth = pinhole(height=6.0)
    cal = Calibration(truth, 1.5, "points")
    # an edge along x at y = 15 m, water beyond it (camera on the land side)
    edge = truth.project([[-4.0, 15.0, 0.0], [4.0, 15.0, 0.0]])
    water_px = truth.project([[0.0, 25.0, -1.5]])
    strip = cal.hidden_strip(edge, water_px, samples=5)
    # similar triangles across the edge: the camera stands 15 m back from it, 6 m up, over a 1.5 m wall
    assert strip.width_m == pytest.approx(np.full(5, 1.5 * 15.0 / 6.0), rel=0.01)
    # the wall foot is behind the quay edge in the picture: nearer the camera's own row than the edge
    assert np.all(strip.foot_px[:, 1] > strip.edge_px[:, 1])
    # the same edge with the water on the camera's side (seen from across): its foot is in view
    near_water = truth.project([[0.0, 10.0, -1.5]])
    assert np.all(cal.hidden_strip(edge, near_water, samples=5).width_m == 0.0)


def test_a_published_homography_gives_the_same_camera():
    truth = pinhole(pitch_deg=22.0, yaw_deg=-6.0)
    H_img_to_ground, _ = fit_points(np.asarray(measured_points(truth)))
    cam = camera_from_homography(H_img_to_ground, (W, H))
    assert cam.fit_px < 0.1
    assert cam.height_m == pytest.approx(8.0, rel=0.01)
    # a left-handed ground (x mirrored) still gives a camera above the quay
    mirrored = np.diag([-1.0, 1.0, 1.0]) @ H_img_to_ground
    assert camera_from_homography(mirrored, (W, H)).height_m == pytest.approx(8.0, rel=0.01)


def camera_cfg(**extra) -> dict:
    return {"id": "c", "name": "c", "source": "x.mp4", "resolution": [W, H],
            "water": [[0, 0], [100, 0], [100, 100]], "quay_line": [[0, 0], [100, 100]], **extra}


@pytest.mark.parametrize(("calibration", "message"), [
    ({"homography": [[1, 0, 0], [0, 1, 0]]}, "calibration.homography: homography must be 3 rows of 3 numbers"),
    ({"homography": [[1, 0, 0], [2, 0, 0], [0, 0, 0]]}, "calibration.homography: homography is singular"),
    ({"points": [[1, 2, 3, 4]] * 3}, "calibration.points: a homography needs at least 4 measured points, got 3"),
    ({"points": [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 5], [3, 3, 3, 9]]}, "calibration.points: the image points lie on one line"),
    ({"points": [[0, 0, 0, 0], [1, 1]]}, "calibration.points: point 1 must be [u, v, x, y]"),
    ({"homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "points": [[0, 0, 0, 0], [9, 0, 1, 0], [0, 9, 0, 1], [9, 9, 1, 1]]},
     "calibration: give either homography or points, not both"),
    ({"freeboard_m": 1.0}, "calibration: needs a homography, measured points, or camera_height_m"),
    ({"camera_height_m": -3}, "calibration.camera_height_m"),
])
def test_a_wrong_calibration_is_reported_by_its_field_path(tmp_path, calibration, message):
    import yaml

    from quaywatch.config import load_site as load

    site = {"site": {"id": "s", "name": "s"}, "cameras": [camera_cfg(calibration=calibration)]}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(site))
    with pytest.raises(ConfigError) as err:
        load(str(f))
    assert any(p.startswith("cameras[0]." + message) for p in err.value.problems), err.value.problems


def test_uncalibrated_camera_falls_back_to_the_perspective_fit():
    # people 10 px at row 100 and 40 px at row 220: horizon at row 60, 1.75 m / (0.25 px/row) = 7 m up
    cam = Camera.model_validate(camera_cfg(detector={"person_px_at": [[100, 10], [220, 40]]}))
    cal = calibration_for(cam)
    assert cal.fitted_from == "person_px_at"
    assert cal.camera.height_m == pytest.approx(7.0, rel=1e-6)
    rows = np.array([100.0, 160.0, 220.0])
    got = cal.person_px(np.c_[np.full(3, W / 2), rows])
    assert got == pytest.approx(0.25 * (rows - 60), rel=0.08)  # the line it came from, to a pinhole's accuracy
    assert calibration_for(Camera.model_validate(camera_cfg())) is None  # nothing measured: nothing to say


def test_ground_latlon_uses_the_origin_and_says_how_uncertain_it_is():
    truth = pinhole()
    cfg = camera_cfg(location={"lat": 57.05, "lon": 9.92},
                     calibration={"points": measured_points(truth), "freeboard_m": 0.0,
                                  "origin": {"lat": 57.0, "lon": 10.0, "bearing_deg": 90.0}})
    cam = Camera.model_validate(cfg)
    # a body 20 m along +y, which points east (bearing 90): same latitude, 20 m east of the origin
    px = truth.project([[0.0, 20.0, 0.0]])[0]
    lat, lon, sigma = ground_latlon(cam, (px[0] - 3, px[1] - 6, 6, 6))
    assert lat == pytest.approx(57.0, abs=2e-6)
    assert (lon - 10.0) * math.radians(1) * 6_371_000 * math.cos(math.radians(57.0)) == pytest.approx(20.0, abs=0.1)
    assert 0 < sigma < 2.0
    # uncalibrated: the camera's own position, uncertain by tens of metres
    plain = Camera.model_validate(camera_cfg(location={"lat": 57.05, "lon": 9.92}))
    assert ground_latlon(plain, (10, 10, 5, 5)) == (57.05, 9.92, 25.0)


def test_aalborg_published_homography_loads_and_predicts_people_near_the_measured_ones():
    cam = load_site("aalborg-havnefront").camera("cam-1")
    cal = calibration_for(cam)
    assert cal.fitted_from == "homography"
    assert 3.0 < cal.camera.height_m < 15.0
    # the four people measured on the real frame ([row of the feet, px]), standing near the quay line
    for row, px in cam.detector.person_px_at:
        x = 15 + 0.477 * row + 10
        assert cal.person_px(np.array([[x, row]]))[0] == pytest.approx(px, rel=0.3)


def test_quaywatch_calibrate_prints_errors_per_point_the_fitted_block_and_an_overlay(tmp_path, capsys):
    import cv2
    import yaml

    from quaywatch.cli import main

    truth = pinhole()
    pts = measured_points(truth)
    site = {"site": {"id": "s", "name": "s"},
            "cameras": [camera_cfg(calibration={"points": pts, "freeboard_m": 1.2})]}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(site))
    snap = tmp_path / "snap.png"
    cv2.imwrite(str(snap), np.full((H, W), 90, np.uint8))
    bad = f"{pts[0][0] + 10},{pts[0][1]},{pts[0][2]},{pts[0][3]}"  # a point clicked 10 px off
    assert main(["calibrate", str(f), "--camera", "c", "--snapshot", str(snap), "--overlay", str(tmp_path / "o.png"),
                 "--check", bad]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].replace(".", "").isdigit()]
    errors_px = [float(r[4]) for r in rows]
    assert len(rows) == len(pts) + 1 and max(errors_px[:-1]) < 0.5 and errors_px[-1] == pytest.approx(10, abs=0.5)
    block = yaml.safe_load(out.split("# fitted block for cameras[...].calibration:")[1].split("overlay:")[0])
    cal = calibration_from_config(CalibrationConfig(**block["calibration"]), (W, H))
    assert cal.camera.height_m == pytest.approx(8.0, rel=0.01)
    overlay = cv2.imread(str(tmp_path / "o.png"))
    assert overlay.shape == (H, W, 3) and (overlay[..., 1] > 150).any()  # green grid lines drawn
    assert main(["calibrate", str(f), "--camera", "c", "--check", "1,2,3"]) == 2
