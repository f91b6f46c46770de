"""Site config and ground-truth sidecars: every mistake is named by its field path, never a traceback."""

import copy
import json
import subprocess
import sys

import pytest

from quaywatch.config import load_site, site_from_dict
from quaywatch.config.loader import SITES_DIR
from quaywatch.config.recording import load_ground_truth
from quaywatch.errors import ConfigError

GOOD = {
    "site": {"id": "aalborg-havnefront", "name": "Aalborg Havnefront", "timezone": "Europe/Copenhagen"},
    "cameras": [
        {
            "id": "cam-1", "name": "Honnørkajen", "source": "rtsp://cam1.local/stream",
            "water": [[0, 0], [15, 0], [152, 287], [0, 287]], "quay_line": [[15, 0], [152, 287]],
            "exclude": [[[1, 1], [5, 1], [5, 5]]], "location": {"lat": 57.05, "lon": 9.92},
        },
        {
            "id": "cam-2", "name": "Pier", "source": "onvif://admin@10.0.0.2:80", "password_env": "CAM2_PASSWORD",
            "water": [[0, 0], [100, 0], [100, 50]], "quay_line": [[0, 50], [100, 50]],
        },
    ],
}


def problems_for(mutate) -> list[str]:
    data = copy.deepcopy(GOOD)
    mutate(data)
    with pytest.raises(ConfigError) as exc:
        site_from_dict(data, "test.yaml")
    return exc.value.problems


def test_minimum_contract_loads():
    site = site_from_dict(copy.deepcopy(GOOD))
    assert site.camera("cam-2").password_env == "CAM2_PASSWORD"
    assert site.cameras[0].exclude[0] == [(1, 1), (5, 1), (5, 5)]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["cameras"][1].update(water=[[0, 0], [1, 1]]), "cameras[1].water: polygon needs at least 3 points"),
        (lambda d: d["cameras"][0].update(quay_line=[[3, 3]]), "cameras[0].quay_line: line needs at least 2 points"),
        (lambda d: d["cameras"][0].update(water=[[0, 0], [1, 1], [2, 2]]), "cameras[0].water: polygon has no area"),
        (lambda d: d["cameras"][0].update(exclude=[[[0, 0], [1, 0]]]), "cameras[0].exclude[0]: polygon needs at least 3"),
        (lambda d: d["cameras"][0].update(water=[[0, 0], [1, "a"], [2, 2]]), "cameras[0].water: point 1 must be two numbers"),
        (lambda d: d["cameras"][0].update(source="rtsp://admin:hunter2@cam/x"), "cameras[0].source: the password must not"),
        (lambda d: d["cameras"][0].update(source="ftp://cam/x"), "cameras[0].source: unknown source scheme 'ftp'"),
        (lambda d: d["cameras"][0].update(location={"lat": 99, "lon": 9}), "cameras[0].location.lat:"),
        (lambda d: d["cameras"][0].update(colour="red"), "cameras[0].colour: unknown field"),
        (lambda d: d["cameras"][0].pop("quay_line"), "cameras[0].quay_line: required field is missing"),
        (lambda d: d["cameras"][1].update(id="Cam 2"), "cameras[1].id:"),
        (lambda d: d["cameras"][1].update(id="cam-1"), "cameras: camera id 'cam-1' is used twice"),
        (lambda d: d["site"].update(timezone="Europe/Aalborg"), "site.timezone: unknown time zone"),
        (lambda d: d.update(cameras=[]), "cameras: List should have at least 1 item"),
        (lambda d: d["cameras"][0].update(password_env="lower case"), "cameras[0].password_env:"),
        (lambda d: d["cameras"][0].update(resolution=[100, 100]), "cameras[0].water: point 2 (152, 287) lies outside the 100x100 frame"),
        (lambda d: d["cameras"][0].update(detector={"min_body_px": 0}), "cameras[0].detector.min_body_px:"),
        (lambda d: d.update(detector={"nonsense": 1}), "detector.nonsense: unknown field"),
        (lambda d: d["cameras"][0].update(detector={"person_px_at": [[100, 20], [100, 30]]}),
         "cameras[0].detector.person_px_at: measure people at two different rows"),
        (lambda d: d["cameras"][0].update(detector={"person_px_at": [[100, 20], [200, -3]]}),
         "cameras[0].detector.person_px_at: each entry is [row >= 0, height px > 0]"),
        (lambda d: d["cameras"][0].update(detector={"person_px_at": [[100, 20]]}), "cameras[0].detector.person_px_at:"),
    ],
)
def test_each_mistake_names_its_field(mutate, expected):
    problems = problems_for(mutate)
    assert any(p.startswith(expected) for p in problems), problems


def test_several_mistakes_are_all_reported():
    def two(d):
        d["cameras"][0]["water"] = [[0, 0]]
        d["cameras"][1]["quay_line"] = []

    problems = problems_for(two)
    assert [p.split(":")[0] for p in problems] == ["cameras[0].water", "cameras[1].quay_line"]


def test_site_detector_defaults_are_overridden_per_camera():
    data = copy.deepcopy(GOOD)
    data["detector"] = {"min_body_px": 3.0, "max_body_px": 50.0}
    data["cameras"][1]["detector"] = {"max_body_px": 80.0}
    site = site_from_dict(data)
    assert site.cameras[0].detector.max_body_px == 50.0
    assert site.cameras[1].detector.max_body_px == 80.0
    assert site.cameras[1].detector.min_body_px == 3.0


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("site: {id: x\ncameras: []\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        load_site(p)


def test_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_site(p)


@pytest.mark.parametrize("path", sorted(SITES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_sites_validate(path):
    site = load_site(path)
    assert site.cameras


def test_aalborg_site_matches_the_real_camera():
    cam = load_site("aalborg-havnefront").camera("cam-1")
    assert cam.resolution == (384, 288)
    assert cam.quay_line == [(15, 0), (152, 287)]
    # water lies on the left of the quay edge: a point left of it is in the polygon, right of it is not
    import cv2
    import numpy as np

    poly = np.array(cam.water, np.float32)
    assert cv2.pointPolygonTest(poly, (40, 200), False) > 0
    assert cv2.pointPolygonTest(poly, (250, 200), False) < 0


def test_cli_prints_field_errors_without_traceback(tmp_path):
    p = tmp_path / "site.yaml"
    data = copy.deepcopy(GOOD)
    data["cameras"][1]["water"] = [[0, 0], [1, 1]]
    p.write_text(json.dumps(data))  # JSON is YAML
    proc = subprocess.run([sys.executable, "-m", "quaywatch", "check-config", str(p)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "cameras[1].water: polygon needs at least 3 points" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("sidecar", "expected"),
    [
        ({"site": "s.yaml", "camera": "cam-1", "events": [{"kind": "fell_in", "t": 3}]}, "events[0].kind:"),
        ({"site": "s.yaml", "camera": "cam-1", "events": [{"kind": "water_entry", "t": -1}]}, "events[0].t:"),
        ({"camera": "cam-1", "events": []}, "site: required field is missing"),
        ({"site": "s.yaml", "camera": "cam-1", "evnts": []}, "evnts: unknown field"),
    ],
)
def test_sidecar_errors_name_the_field(tmp_path, sidecar, expected):
    p = tmp_path / "clip.json"
    p.write_text(json.dumps(sidecar))
    with pytest.raises(ConfigError) as exc:
        load_ground_truth(p)
    assert any(x.startswith(expected) for x in exc.value.problems), exc.value.problems


def test_sidecar_not_json(tmp_path):
    p = tmp_path / "clip.json"
    p.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_ground_truth(p)


def test_negative_sidecar_has_no_events(tmp_path):
    p = tmp_path / "clip.json"
    p.write_text(json.dumps({"site": "../s.yaml", "camera": "cam-1", "description": "quiet night"}))
    truth = load_ground_truth(p)
    assert truth.events == [] and truth.site_path(p) == (tmp_path.parent / "s.yaml").resolve()


def test_measured_people_set_the_perspective_and_its_horizon():
    """Heights measured on the real Aalborg frame fit a flat quay: zero height near row 71 (the horizon), so
    a far head is expected small, where the frame-height guess (12 px at the top) expected it twice as big."""
    from quaywatch.detector.geometry import SceneGeometry

    cam = load_site("aalborg-havnefront").camera("cam-1")
    heights = SceneGeometry(cam, (288, 384)).person_px_by_row
    assert 17 <= heights[117] <= 21 and 45 <= heights[194] <= 52  # through the measured people
    assert heights[40] == 2.0  # above the horizon: the floor, not a negative height
    assert heights[90] < 0.5 * (12 + 24 * 90 / 287)  # a far person is half the guess
    guessed = cam.model_copy(update={"detector": cam.detector.model_copy(update={"person_px_at": None})})
    assert SceneGeometry(guessed, (288, 384)).person_px_by_row[0] == 12.0


def test_site_map_is_found_beside_the_site_or_in_config_sites_and_checked(tmp_path):
    import yaml

    data = yaml.safe_load((SITES_DIR / "demo.yaml").read_text())
    copy_elsewhere = tmp_path / "site.yaml"   # as the demo writes one under var/: the shipped map still found
    copy_elsewhere.write_text(yaml.safe_dump(data))
    site = load_site(copy_elsewhere)
    assert site.map.geojson == str((SITES_DIR / "maps" / "demo-harbour.geojson").resolve())
    assert site.cameras[0].location.bearing_deg == 320

    data["map"] = {"geojson": "maps/nowhere.geojson"}
    copy_elsewhere.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"map\.geojson: no file 'maps/nowhere\.geojson'"):
        load_site(copy_elsewhere)
    (tmp_path / "bad.geojson").write_text(json.dumps({"type": "Feature"}))
    data["map"] = {"geojson": "bad.geojson"}    # beside the site file
    copy_elsewhere.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"map\.geojson: .*bad\.geojson: expected a GeoJSON FeatureCollection"):
        load_site(copy_elsewhere)
    data["cameras"][0]["location"]["fov_deg"] = 400
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.location\.fov_deg"):
        site_from_dict(data)
