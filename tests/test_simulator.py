"""The thermal scene simulator and the committed fixture library: determinism, ground truth that matches
what is rendered, plausible temperatures, AGC range, and a library that is complete and within budget."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from quaywatch.cli import main
from quaywatch.config.loader import load_site
from quaywatch.config.recording import find_clips, load_ground_truth, sidecar_for
from quaywatch.edge.clips import clip_info, read_frames
from quaywatch.simulator.climate import make_climate
from quaywatch.simulator.clip import ClipSpec, simulation
from quaywatch.simulator.falls import Fall, Swimmer
from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.live import LiveScene
from quaywatch.simulator.people import BodyLook, Person, Track
from quaywatch.simulator.scenarios import build_script
from quaywatch.simulator.scenes import SCENES, scene_geometry
from quaywatch.simulator.sensor import KELVIN_0C
from quaywatch.simulator.stage import Stage
from quaywatch.simulator.suites import AALBORG, FIXTURE_LIST, FIXTURES, LEPTON, PIER, heldout
from tests.peers import require_shared

FPS = 9.0


def ck_to_c(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) / 100.0 - KELVIN_0C


# --- determinism -------------------------------------------------------------------------------------------

def _frames(spec: ClipSpec) -> list[np.ndarray]:
    return [f for _, f in simulation(spec).frames()]


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    spec = ClipSpec("fall", LEPTON, "cam-3", 7, 1.5, FPS, 16)
    a, b = _frames(spec), _frames(spec)
    assert len(a) == len(b) == round(1.5 * FPS)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = _frames(ClipSpec("fall", LEPTON, "cam-3", 8, 1.5, FPS, 16))
    assert not np.array_equal(a[0], c[0])


def test_live_scene_is_deterministic_and_reports_falls_as_they_happen():
    a, b = LiveScene("lepton", seed=3, fps=3), LiveScene("lepton", seed=3, fps=3)
    for _ in range(5):
        (ta, fa), (tb, fb) = a.next_frame(), b.next_frame()
        assert ta == tb and np.array_equal(fa, fb)
    assert a.size == (160, 120) and fa.dtype == np.uint16
    seen = []
    while a.index < 3 * 75:  # 75 s: the first minute holds one fall
        t, _ = a.next_frame()
        for ev in a.pop_events():
            assert ev.t <= t + 1e-9  # reported only once it has happened
            seen.append(ev)
    assert [e.kind for e in seen] == ["water_entry"] and 0 < seen[0].t < 60


# --- ground truth agrees with what is drawn -----------------------------------------------------------------

def test_water_side_sign_follows_the_water_polygon():
    # water on the left of a vertical quay line at x=50
    geo = SceneGeometry(100, 80, [[0, 0], [50, 0], [50, 80], [0, 80]], [[50, 0], [50, 80]])
    assert geo.water_side(np.array([[40.0, 40.0], [60.0, 40.0]])).tolist() == pytest.approx([10.0, -10.0])
    # the same line with the water on the right flips the sign
    geo = SceneGeometry(100, 80, [[50, 0], [100, 0], [100, 80], [50, 80]], [[50, 0], [50, 80]])
    assert geo.water_side(np.array([[40.0, 40.0]]))[0] == pytest.approx(-10.0)


GEOMETRIES = [(AALBORG, "cam-1"), (PIER, "cam-2"), (LEPTON, "cam-3"), (AALBORG, "cam-1-half")]


@pytest.mark.parametrize(("site", "camera"), GEOMETRIES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fall_anchor_crosses_the_quay_line_at_the_truth_time(site, camera, seed):
    geo = SceneGeometry.from_camera(load_site(site).camera(camera))
    rng = np.random.default_rng(seed)
    script = build_script("fall", geo, make_climate(rng, "winter"), rng, 20, FPS)
    fall = next(a for a in script.actors if isinstance(a, Fall))
    (event,) = script.events
    assert event.kind == "water_entry"
    times = np.arange(0, 20, 1 / FPS)
    side = geo.water_side(np.array([fall.com(t) for t in times]))
    first_in = times[np.argmax(side > 0)]
    assert (side[times < first_in] < 0).all()
    assert abs(first_in - event.t) <= 1 / FPS + 1e-9
    # the head comes up inside the water polygon and stays there while it drifts
    assert geo.in_water(fall.landing)[0]
    heads = np.array([fall.head_at(t) for t in np.arange(fall.surface_t, 20, 0.5)])
    assert geo.in_water(heads).all()


@pytest.mark.parametrize("camera", ["canal", "mirror"])
def test_fall_truth_holds_on_the_held_out_views(tmp_path, camera):
    heldout(tmp_path)  # writes the held-out site file the suite's sidecars point at
    site = load_site(tmp_path / "sites" / "heldout-sim.yaml")
    geo = SceneGeometry.from_camera(site.camera(camera))
    for seed in range(4):
        rng = np.random.default_rng(seed)
        script = build_script("two_falls", geo, make_climate(rng, "summer"), rng, 40, FPS)
        falls = [a for a in script.actors if isinstance(a, Fall)]
        assert len(falls) == len(script.events) == 2
        for fall, event in zip(sorted(falls, key=lambda f: f.entry_t), script.events, strict=True):
            before, after = fall.com(event.t - 1 / FPS), fall.com(event.t + 1 / FPS)
            assert geo.water_side(before)[0] < 0 < geo.water_side(after)[0]
            assert geo.in_water(fall.landing)[0]


def test_the_rendered_head_is_a_warm_blob_in_the_water():
    sim = simulation(ClipSpec("fall", LEPTON, "cam-3", 11, 14, FPS, 16))
    fall = next(a for a in sim.script.actors if isinstance(a, Fall))
    c = sim.renderer.climate
    frames = dict(sim.frames())
    t = min(frames, key=lambda t: abs(t - (fall.surface_t + 1.5)))
    x, y = np.round(fall.head_at(t)).astype(int)
    patch = ck_to_c(frames[t][y - 4:y + 5, x - 4:x + 5])
    assert 24.0 <= patch.max() <= 32.0  # a wet head at the surface (FLIR P640 still: ~27 °C)
    water = ck_to_c(frames[t])[sim.geo.water_mask]
    assert abs(np.median(water) - c.water_c) < 1.5
    before = ck_to_c(frames[min(frames, key=lambda t: abs(t - (fall.drop_start - 2)))])
    assert before[sim.geo.water_mask].max() < c.water_c + 8  # nothing warm in the water before the fall


def test_swimmer_truth_is_the_first_frame_it_is_visible():
    sim = simulation(ClipSpec("swimmer", LEPTON, "cam-3", 5, 12, FPS, 16))
    swimmer = next(a for a in sim.script.actors if isinstance(a, Swimmer))
    (event,) = sim.script.events
    assert event.kind == "person_in_water"
    warm = {t: ck_to_c(f)[sim.geo.water_mask].max() for t, f in sim.frames()}
    threshold = sim.renderer.climate.water_c + 12
    first_warm = min(t for t, m in warm.items() if m > threshold)
    assert abs(first_warm - event.t) < 0.5 / FPS and swimmer.start == pytest.approx(event.t, abs=1e-3)


# --- sensor and AGC -----------------------------------------------------------------------------------------

def test_nuc_freeze_repeats_frames_then_steps_the_offset():
    sim = simulation(ClipSpec("nuc", LEPTON, "cam-3", 4, 12, FPS, 16))
    start, dur = sim.script.nucs[0]
    frames = list(sim.frames())
    frozen = [i for i, (t, _) in enumerate(frames) if start <= t < start + dur]
    assert len(frozen) >= 2
    for i in frozen:
        assert np.array_equal(frames[i][1], frames[frozen[0] - 1][1])
    assert not np.array_equal(frames[frozen[-1] + 1][1], frames[frozen[-1]][1])


def test_agc_output_uses_the_8bit_range_and_shifts_when_a_hot_engine_enters():
    sim = simulation(ClipSpec("fall_agc", AALBORG, "cam-1-half", 3, 20, FPS, 8))
    frames = list(sim.frames())
    water = sim.geo.water_mask
    levels = []
    for _, g in frames:
        assert g.dtype == np.uint8
        assert np.mean((g == 0) | (g == 255)) < 0.02  # not clipped flat
        levels.append(np.median(g[water]))
    assert max(g.max() for _, g in frames) >= 240 and min(np.percentile(g, 5) for _, g in frames) <= 40
    assert max(levels) - min(levels) > 15  # the engine stretches the range: the water darkens


def test_plausible_temperatures_per_season_against_the_real_flir_still():
    real = np.load(require_shared("data/real/flir-radiometric/16_celsius.npy"))
    head_real, water_real = float(real.max()), float(np.median(real))  # ~27 °C head, ~7 °C water
    heads = [make_climate(np.random.default_rng(i), "winter").head_in_water_c for i in range(200)]
    waters = [make_climate(np.random.default_rng(i), "winter").water_c for i in range(200)]
    assert min(heads) - 2 <= head_real <= max(heads) + 2
    assert min(waters) - 1 <= water_real <= max(waters) + 1
    for i in range(50):
        c = make_climate(np.random.default_rng(i), "summer", night=True)
        assert 16 <= c.water_c <= 20 and c.quay_c > c.water_c  # summer night: the quay is warmer than the water
        w = make_climate(np.random.default_rng(i), "winter")
        assert 3 <= w.water_c <= 7 and -5 <= w.air_c <= 5 and w.quay_c > w.water_c


def test_people_near_the_aalborg_quay_are_the_size_of_real_ones():
    geo = scene_geometry("aalborg")
    # LTD dataset: people near the quay edge ~9x24 px, around the middle of the image
    assert 20 <= geo.person_px(150) <= 28
    assert geo.person_px(30) < geo.person_px(250)  # perspective: smaller far away


def test_a_rendered_person_near_the_aalborg_quay_is_about_9_by_24_px():
    geo = scene_geometry("aalborg")
    climate = make_climate(np.random.default_rng(0), "winter")
    stage = Stage(geo, climate, geo.water_mask)
    stage.field = np.full((geo.height, geo.width), climate.quay_c, np.float32)
    feet = np.array([110.0, 160.0])  # on the quay, a few px from the edge
    Person(Track(np.array([0.0, 1.0]), np.stack([feet, feet])), BodyLook(climate.clothes_c, climate.skin_c)).draw(stage, 0.5)
    ys, xs = np.nonzero(stage.field > climate.quay_c + 1.0)
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert 6 <= w <= 12 and 20 <= h <= 30, (w, h)


def test_synthetic_water_is_darker_than_the_quay_like_the_real_aalborg_frame():
    real = require_shared("data/real/aalborg-ltd/busy_quay_20200816_0028.jpg")
    img = cv2.imread(str(real), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(real.parent / "mask_water_and_ropes.png"), cv2.IMREAD_GRAYSCALE) < 128
    assert np.median(img[mask]) < np.median(img[~mask])
    sim = simulation(ClipSpec("quiet", AALBORG, "cam-1", 2, 0.5, FPS, 8))
    _, frame = next(iter(sim.frames()))
    assert np.median(frame[sim.geo.water_mask]) < np.median(frame[~sim.geo.water_mask])


def test_aalborg_plate_renders_on_the_real_frame():
    require_shared("data/real/aalborg-ltd/busy_quay_20200816_0028.jpg")
    sim = simulation(ClipSpec("fall", AALBORG, "cam-1", 1, 1.0, FPS, 8, plate="busy"))
    frames = [f for _, f in sim.frames()]
    water = sim.renderer.background.water
    assert frames[0].shape == (288, 384)
    assert np.median(frames[-1][water]) < np.median(frames[-1][~water])  # water darker, as in the real frame


# --- the committed library ----------------------------------------------------------------------------------

COMMITTED = find_clips([FIXTURES])


def _seconds(clip) -> float:
    """A clip's length from its container (MKV streams do not state a frame count)."""
    info = clip_info(clip)
    if info.duration_s:
        return info.duration_s
    with av.open(str(clip)) as container:
        return container.duration / av.time_base


def test_every_committed_clip_has_a_valid_sidecar_naming_an_existing_site_and_camera():
    assert COMMITTED, "no fixtures committed"
    for clip in COMMITTED:
        truth = load_ground_truth(sidecar_for(clip))
        site = load_site(truth.site_path(sidecar_for(clip)))
        cam = site.camera(truth.camera)
        info = clip_info(clip)
        assert (info.width, info.height) == tuple(cam.resolution), clip.name
        assert info.bit_depth == (16 if clip.suffix == ".mkv" else 8)
        assert all(0 <= e.t < _seconds(clip) - 2.0 for e in truth.events), clip.name  # and time to see it


def test_library_size_scenarios_and_hours():
    total = sum(p.stat().st_size for p in COMMITTED)
    assert total <= 30e6, f"fixtures take {total / 1e6:.1f} MB (budget 30 MB)"
    truths = [load_ground_truth(sidecar_for(c)) for c in COMMITTED]
    positives = [t for t in truths if t.events]
    assert len(positives) >= 20
    neg_hours = sum(_seconds(c) for c, t in zip(COMMITTED, truths, strict=True) if not t.events) / 3600
    assert neg_hours >= 2.0
    scenarios = {t.scenario for t in truths}
    for needed in ("fall", "fall_submerge", "two_falls", "fall_agc", "swimmer", "walkers", "edge_sitters", "groups",
                   "reflections", "gulls", "ducks", "boat", "rain", "nuc", "ropes", "mixed"):
        assert needed in scenarios, needed
    assert {clip_info(c).bit_depth for c in COMMITTED} == {8, 16}


def test_fixture_list_and_files_agree_and_the_readme_lists_every_clip():
    names = {fx.filename for fx in FIXTURE_LIST}
    assert names == {c.name for c in COMMITTED}
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert name in readme, f"README does not describe {name}"


def test_committed_16bit_clip_holds_plausible_centikelvin():
    clip = next(c for c in COMMITTED if c.suffix == ".mkv")
    for i, (_, frame) in enumerate(read_frames(clip)):
        assert frame.dtype == np.uint16
        assert frame.min() >= 24315 and frame.max() <= 33315  # -30..+60 °C
        if i == 5:
            break


def test_built_in_scenes_match_the_site_files_and_the_demo():
    pairs = [("aalborg", AALBORG, "cam-1"), ("pier", PIER, "cam-2"), ("lepton", LEPTON, "cam-3"),
             ("aalborg", "demo", "cam-1"), ("pier", "demo", "cam-2")]
    for scene, site, cam_id in pairs:
        cam = load_site(site).camera(cam_id)
        sc = SCENES[scene]
        assert tuple(cam.resolution) == sc["resolution"]
        assert [list(p) for p in cam.water] == sc["water"] and [list(p) for p in cam.quay_line] == sc["quay_line"]
        assert [[list(p) for p in poly] for poly in cam.exclude] == sc["exclude"], (scene, site)


# --- the command --------------------------------------------------------------------------------------------

def test_simulate_command_writes_clip_and_sidecar(tmp_path, capsys):
    out = tmp_path / "x.mkv"
    code = main(["simulate", "--scenario", "swimmer", "--site", LEPTON, "--seed", "2", "--seconds", "2",
                 "--bits", "16", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    truth = load_ground_truth(sidecar_for(out))
    assert truth.camera == "cam-3" and load_site(truth.site_path(sidecar_for(out)))
    assert clip_info(out).bit_depth == 16
    assert main(["simulate", "--site", LEPTON, "--bits", "16", "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert "16-bit clips are .mkv" in err and "Traceback" not in err


def test_committed_clips_are_what_the_suite_renders():
    """`quaywatch simulate suite fixtures` reproduces the library: 16-bit exactly, 8-bit up to H.264 loss."""
    by_name = {fx.filename: fx for fx in FIXTURE_LIST}
    for suffix in (".mkv", ".mp4"):
        clip = next(c for c in COMMITTED if c.suffix == suffix and c.name.startswith("fall"))
        rendered = simulation(by_name[clip.name].spec).frames()
        for i, ((_, mine), (_, stored)) in enumerate(zip(rendered, read_frames(clip), strict=False)):
            if suffix == ".mkv":
                assert np.array_equal(mine, stored), f"{clip.name} frame {i}"
            else:
                assert np.abs(mine.astype(int) - stored.astype(int)).mean() < 3.0, f"{clip.name} frame {i}"
            if i == 30:
                break
