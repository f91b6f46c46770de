"""The random-worlds suite: worlds drawn per seed, rendered through a real pinhole, so sizes, the hidden wall
foot and reflections follow from the geometry; the site files written per world hold what an installer measures
and the calibration module reads them back to the same camera."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quaywatch.cli import main
from quaywatch.config import load_site
from quaywatch.detector.calibration import Calibration, calibration_for
from quaywatch.simulator.random_worlds import EXAM_SEEDS, edge_spots, parse_seeds, plan, quay_line, site_files
from quaywatch.simulator.world import SENSORS, draw_world
from quaywatch.simulator.world_actors import Look, Still, Swimmer, WorldScript
from quaywatch.simulator.world_render import WATER, WorldRenderer

LOOK = Look(1.8, 1.0, 30.0, 30.0, 33.0)


def world_of(layout: str, start: int = 7000):
    for seed in range(start, start + 300):
        w = draw_world(seed)
        if w.layout == layout and w.size[0] <= 384:
            return w
    raise AssertionError(f"no {layout} world in 300 seeds")


def test_worlds_are_drawn_from_the_seed_within_the_promised_ranges():
    a, b = draw_world(EXAM_SEEDS[0]), draw_world(EXAM_SEEDS[0])
    assert np.allclose(a.camera.M, b.camera.M) and a.layout == b.layout and a.freeboard == b.freeboard
    kinds = set()
    for seed in range(7000, 7040):
        w = draw_world(seed)
        assert 4.0 <= w.camera.height_m <= 20.0
        assert w.size in SENSORS and w.bits in (8, 16)
        kinds.add(w.layout)
    assert kinds >= {"straight", "canal", "pier"}
    assert parse_seeds("5-7,9") == [5, 6, 7, 9] and parse_seeds(None) == EXAM_SEEDS


def test_the_plan_has_the_hours_and_events_asked_for():
    items = plan([1, 2, 3], hours=0.5, events=7)
    assert sum(1 for *_, k, _ in items if k != "negative") == 7
    assert sum(s for *_, k, s in items if k == "negative") == pytest.approx(1800, abs=1)


def test_a_rendered_person_is_as_tall_as_the_written_calibration_says(tmp_path):
    world = world_of("straight")
    world.props.clear()
    world.rain = 0.0
    r = WorldRenderer(world, world.seed)
    full, _ = site_files(world, r, tmp_path)
    cam = load_site(str(full)).cameras[0]
    cal = calibration_for(cam)
    assert cal.fitted_from == "points" and cal.residual_m < 0.2
    assert cal.camera.height_m == pytest.approx(world.camera.height_m, rel=0.05)
    # someone standing 3 m in from the edge, in view
    ys, xs = np.nonzero((r.kind == 1) & (r.dist < 40))
    i = len(xs) // 2
    feet_xy = r.xy[ys[i], xs[i]]
    s = WorldScript(1.0, actors=[Still(feet_xy, 0, 1, LOOK, 1, None)])
    field, counts = r.scene(s.capsules(0.5), 0.5, np.random.default_rng(0))
    empty, _ = r.scene([], 0.5, np.random.default_rng(0))
    warm = np.nonzero((np.abs(field - empty) > 1.0) & (r.kind == 1))  # himself, not his mirror image
    measured = warm[0].max() - warm[0].min() + 1
    feet_px = world.camera.project([[*feet_xy, 0.0]])
    assert measured == pytest.approx(cal.person_px(feet_px, person_m=1.8)[0], rel=0.2, abs=2)
    assert counts[1] > 3


def test_the_quay_edge_hides_the_water_at_the_wall_foot_and_the_calibration_knows_how_much():
    world = world_of("high-wall")
    world.props.clear()
    r = WorldRenderer(world, world.seed)
    cal = Calibration(world.camera, world.freeboard, "points")
    w, h = world.size

    def hidden(p):  # similar triangles across the edge, from how far back the camera stands
        n = edge_spots(world)[0][1]
        return world.freeboard * float((p - world.camera.centre[:2]) @ n) / world.camera.height_m

    def in_frame(q):
        u, v = world.camera.project([[*q, -world.freeboard]])[0]
        return 5 <= u < w - 5 and 5 <= v < h - 5
    spots = [(p, n) for p, n in edge_spots(world) if in_frame(p + n * (hidden(p) + 3.0))]
    p, n = spots[len(spots) // 2]
    hidden_m = hidden(p)
    # a head well inside the hidden strip is not seen; one well beyond it is
    near = Swimmer(world, p + n * 0.4 * hidden_m, np.zeros(2), 1, np.random.default_rng(0))
    far = Swimmer(world, p + n * (hidden_m + 3.0), np.zeros(2), 2, np.random.default_rng(0))
    _, counts = r.scene(near.capsules(0.0) + far.capsules(0.0), 0.0, np.random.default_rng(0))
    assert counts.get(1, 0.0) == 0.0
    assert counts.get(2, 0.0) > 0.5
    # the module's strip, from the camera's own quay line and water, gives the same width there
    water_px = np.argwhere(r.kind == WATER)[:1, ::-1].astype(float)
    strip = cal.hidden_strip(np.asarray(quay_line(world)), water_px, samples=400)
    k = int(np.argmin(np.linalg.norm(strip.edge_m - p, axis=1)))
    assert strip.width_m[k] == pytest.approx(hidden_m, rel=0.1)


def test_someone_on_the_far_bank_is_mirrored_in_the_water_where_the_calibration_puts_his_reflection():
    # seen from across a canal the wall hides nothing and his mirror image lies on open water
    world = world_of("canal")
    world.props.clear()
    world.rain = 0.0
    r = WorldRenderer(world, world.seed)
    cal = Calibration(world.camera, world.freeboard, "points")
    w, h = world.size
    found = None
    for u in np.linspace(0.0, 1.0, 400):
        p, n = world.edges[1].sample(float(u))
        feet_px = world.camera.project([[*(p - n * 0.2), 0.0]])
        q = cal.reflection_px(feet_px, 1.6)[0]
        if np.all(np.isfinite(q)) and 0 <= q[0] < w and 0 <= q[1] < h and r.kind[int(q[1]), int(q[0])] == WATER:
            found = (p, n, q)
            break
    if found is None:
        pytest.skip("this canal world's camera does not see the far bank")
    p, n, q = found
    s = Still(p - n * 0.2, 0, 1, LOOK, 1, None)
    field, _ = r.scene(s.capsules(0.5), 0.5, np.random.default_rng(0))
    empty, _ = r.scene([], 0.5, np.random.default_rng(0))
    x, y = np.rint(q).astype(int)
    assert field[y, x] - empty[y, x] > 0.05  # the water there is warmer than without him


def test_the_suite_command_writes_clips_sidecars_and_both_site_files(tmp_path):
    assert main(["simulate", "suite", "random-worlds", "--seeds", "7003", "--hours", "0.002", "--events", "1",
                 "--out", str(tmp_path)]) == 0
    sidecars = sorted(tmp_path.glob("*.json"))
    assert len(sidecars) == 2
    truth = [json.loads(p.read_text()) for p in sidecars]
    assert sum(len(t["events"]) for t in truth) == 1
    for name in ("world-7003.yaml", "world-7003-person-px.yaml"):
        cam = load_site(str(tmp_path / "sites" / name)).cameras[0]
        assert calibration_for(cam) is not None
    assert main(["simulate", "suite", "random-worlds", "--seeds", "x-y", "--out", str(tmp_path)]) == 2
