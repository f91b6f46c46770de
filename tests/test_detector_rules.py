"""Each detector rule on a small synthetic scene built here: what must alert does, once; what must not, doesn't."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_detector_scene import LINE_X, Scene, Thing, body_then_head, fall, run, walk


def kinds(dets):
    return [d.kind for d in dets]


@pytest.mark.parametrize("bits", [8, 16])
def test_fall_from_land_into_water_alerts_once_within_a_second(bits):
    dets, results = run(Scene([Thing(fall(120, 60, t_cross=2.0, visible_after=None), body_then_head(2.0), 30.0)]), bits)
    assert kinds(dets) == ["water_entry"]
    assert 2.0 <= dets[0].t <= 3.0
    assert dets[0].confidence >= 0.5
    # evidence frame is the crossing, within a few frames of t=2.0 s at 9 fps
    assert 17 <= dets[0].frame_index <= 24
    assert results[-1].tracks and results[-1].tracks[0].on_water


def test_crossing_then_vanishing_under_water_still_alerts():
    # visible in the water for only 0.55 s after crossing, then gone (submerged)
    dets, _ = run(Scene([Thing(fall(120, 60, t_cross=2.0, visible_after=0.55), body_then_head(2.0), 30.0)]))
    assert kinds(dets) == ["water_entry"]
    assert dets[0].t <= 3.2


def test_walking_out_of_the_water_is_not_an_entry():
    # the same track the other way: from the water onto land (a swimmer climbing out) is not a fall
    path, size = fall(120, 60, t_cross=2.0, visible_after=None), body_then_head(2.0)
    dets, _ = run(Scene([Thing(lambda t: path(6.0 - t), lambda t: size(6.0 - t), 30.0)], seconds=3.0))
    assert "water_entry" not in kinds(dets)


def test_walker_along_the_edge_with_box_over_the_line_does_not_alert():
    # centre 3 px from the line on the land side: the box overlaps the line the whole time
    walker = Thing(walk(LINE_X + 3, 5, 0, 18.0), (8, 24), 30.0)
    dets, results = run(Scene([walker], seconds=6.0))
    assert dets == []
    # it really was tracked with its box over the line
    assert any(tr.bbox[0] < LINE_X < tr.bbox[0] + tr.bbox[2] and tr.bbox[3] > 20 for r in results for tr in r.tracks)


def test_sitter_at_the_edge_with_legs_over_the_water_does_not_alert():
    # a sitter: torso on land, legs dangling over the water side (an L-shaped warm blob)
    torso = Thing(walk(LINE_X + 4, 60, 0, 0), (7, 16), 30.0)
    legs = Thing(walk(LINE_X - 3, 70, 0, 0), (10, 5), 28.0)
    dets, _ = run(Scene([torso, legs], seconds=8.0))
    assert dets == []


def test_swimmer_in_the_water_alerts_person_in_water_once():
    # already in the water at the first frame: found once he has swum (0.2 m/s here) beyond a static thing's jitter
    head = Thing(lambda t: (40 + 3 * t, 70 + np.sin(2 * t)), (5, 5), 29.0)
    dets, _ = run(Scene([head], seconds=8.0))
    assert kinds(dets) == ["person_in_water"]
    assert dets[0].t <= 3.0


@pytest.mark.parametrize("bits", [8, 16])
def test_a_warm_thing_static_since_the_start_is_scenery_however_head_like(bits):
    """Nothing is a person until it has behaved like one: a lamp's head over the water, a glint, a buoy, warm
    and head-sized in the water from the first frame and still since (sensor noise shakes its blob), never
    alerts; a head that appears later in the same spot is new and does."""
    lamp = Thing(lambda t: (40 + 0.4 * np.sin(7 * t), 70), (5, 5), 29.0)
    dets, results = run(Scene([lamp], seconds=12.0), bits)
    assert dets == []
    assert any(tr.on_water and tr.age > 50 for tr in results[-1].tracks)  # seen and judged, not missed
    later = Thing(lambda t: (40, 70) if t >= 3.0 else None, (5, 5), 29.0)
    dets, _ = run(Scene([later], seconds=6.0), bits)
    assert kinds(dets) == ["person_in_water"]


def test_a_glint_that_flickers_where_it_stood_stays_scenery():
    """A blob that comes and goes where a static thing stood is born again and again, never moving: each new
    track there is scenery too (it takes the static thing's place), not a fresh head in the water."""
    glint = Thing(lambda t: (40, 70) if (t < 4.0 or int(t * 3) % 2 == 0) else None, (5, 5), 29.0)
    dets, _ = run(Scene([glint], seconds=10.0))
    assert dets == []


def test_new_incident_elsewhere_alerts_again_but_the_same_person_reacquired_does_not():
    # one head dives (gone 1 s) and resurfaces nearby; a second head appears far away later
    first = Thing(lambda t: None if 3.0 < t < 4.0 else (30 + 3 * t, 30), (5, 5), 29.0)  # swims 0.2 m/s
    second = Thing(lambda t: (60, 110) if t > 5.0 else None, (5, 5), 29.0)
    dets, _ = run(Scene([first, second], seconds=8.0))
    assert kinds(dets) == ["person_in_water", "person_in_water"]
    assert dets[1].t > 5.0 and dets[1].bbox[1] > 80


def test_gull_flying_over_the_water_is_not_a_person():
    gull = Thing(walk(150, 20, -60.0, 8.0, t0=1.0, t1=3.6), (5, 3), 22.0)
    dets, _ = run(Scene([gull], seconds=5.0))
    assert dets == []


@pytest.mark.parametrize("bits", [16])
def test_duck_cooler_than_a_head_is_not_a_person(bits):
    duck = Thing(lambda t: (40 + 1.5 * t, 60), (8, 5), 18.0)  # radiometric: a duck's back is ~15-20 °C
    dets, _ = run(Scene([duck], seconds=6.0), bits)
    assert dets == []
    head = Thing(lambda t: (40 + 1.5 * t, 60), (5, 5), 29.0)  # the same path at head temperature alerts
    dets, _ = run(Scene([head], seconds=6.0), bits)
    assert kinds(dets) == ["person_in_water"]


def test_boat_large_fast_with_hot_engine_is_not_a_person():
    boat = Thing(walk(-20, 40, 30.0, 0.0), (40, 14), 20.0, hot_spot_c=60.0)
    dets, _ = run(Scene([boat], seconds=4.0))
    assert dets == []


def test_small_fast_engine_glow_at_boat_speed_is_not_a_person():
    glow = Thing(walk(5, 90, 35.0, 0.0), (5, 5), 29.0)  # head-sized, head-warm, but at 1.5 person-heights/s
    dets, _ = run(Scene([glow], seconds=3.0))
    assert dets == []


def test_exclude_zone_hides_a_warm_rope():
    rope = Thing(lambda t: (30 + 9 * np.sin(2 * t), 50), (6, 7), 29.0)  # a warm fender swinging on its rope
    dets, _ = run(Scene([rope], seconds=4.0))
    assert kinds(dets) == ["person_in_water"]  # without the zone the swaying warm rope looks like a body
    dets, _ = run(Scene([rope], seconds=4.0), exclude=[[[20, 30], [40, 30], [40, 70], [20, 70]]])
    assert dets == []


def test_agc_gain_jumps_raise_nothing():
    person = Thing(walk(100, 60, 0, 0), (8, 24), 30.0)
    dets, results = run(Scene([person], seconds=6.0, agc_jumps=[1.0, 2.0, 3.0, 4.0, 5.0]))
    assert dets == []
    # and the walker stays one track through the jumps
    ids = {tr.id for r in results[20:] for tr in r.tracks if tr.bbox[3] > 12}
    assert len(ids) == 1


def test_nuc_freeze_repeats_are_skipped_and_raise_nothing():
    person = Thing(walk(130, 60, -8.0, 0), (8, 24), 30.0)
    dets, results = run(Scene([person], seconds=6.0, freezes=[(2.0, 3.0)]))
    assert dets == []
    assert sum(r.frozen for r in results) >= 7


def test_fall_during_rain_still_alerts_and_rain_alone_does_not():
    dets, _ = run(Scene([], seconds=6.0, rain=0.002, noise_c=0.3))
    assert dets == []
    dets, _ = run(Scene([Thing(fall(120, 60, 2.0, visible_after=None), body_then_head(2.0), 30.0)], rain=0.002, noise_c=0.3))
    assert kinds(dets) == ["water_entry"]


def test_reflection_of_a_person_standing_at_the_edge_is_not_a_person_in_water():
    person = Thing(walk(LINE_X + 5, 60, 0, 0), (8, 24), 30.0)
    mirror = Thing(walk(LINE_X - 6, 74, 0, 0), (6, 8), 14.0)  # a dim, squashed copy on the water beside him
    dets, _ = run(Scene([person, mirror], seconds=6.0))
    assert dets == []


def test_walker_right_at_the_edge_who_then_falls_in_alerts():
    # walks along the line, box over it (never clearly on land), then drops into the water at t=3 s
    def path(t):
        if t < 3.0:
            return (LINE_X + 3, 10 + 18.0 * t)
        if t < 3.5:
            return (LINE_X + 3 - 46 * (t - 3.0), 64 + 10 * (t - 3.0))
        return (LINE_X - 20 + np.sin(3 * t), 74)

    dets, _ = run(Scene([Thing(path, lambda t: (8, 24) if t < 3.5 else (5, 5), 30.0)], seconds=6.0))
    assert kinds(dets) == ["water_entry"]
    assert 3.0 <= dets[0].t <= 4.0


def test_a_track_reborn_where_a_water_track_was_lost_keeps_that_record():
    """Track ids break (a blob splits, a wave hides it); the evidence must not. Something head-warm that
    appears exactly where a duck just vanished is taken for that duck at first: it alerts, but only once
    it has looked like a person for most of the combined record, later than in open water."""
    duck = Thing(lambda t: (40 + 2 * t, 60) if t < 4.0 else None, (8, 5), 18.0)  # paddling: not scenery
    # back 1.5 s later: past the tracker's patience (0.5 s), so a new track id, within the water memory (5 s)
    there = Thing(lambda t: (48, 60) if t >= 5.5 else None, (5, 5), 29.0)
    elsewhere = Thing(lambda t: (42, 110) if t >= 5.5 else None, (5, 5), 29.0)
    dets_there, _ = run(Scene([duck, there], seconds=12.0), 16)
    dets_elsewhere, _ = run(Scene([duck, elsewhere], seconds=12.0), 16)
    assert kinds(dets_there) == kinds(dets_elsewhere) == ["person_in_water"]
    assert dets_elsewhere[0].t <= 5.5 + 1.5
    assert dets_there[0].t >= dets_elsewhere[0].t + 1.0


def test_something_long_on_the_water_that_never_looked_like_a_person_does_not_turn_into_one():
    """A buoy or a duck tracked on the water for longer than `in_water_onset_s` without once looking like a
    person does not raise person_in_water when it later reads head-warm (the AGC or the light on it changed);
    the same head-warm body appearing there fresh does."""
    cool = Thing(lambda t: (42, 60) if t < 10.0 else None, (5, 5), 18.0)
    warm_later = Thing(lambda t: (42, 60) if t >= 10.0 else None, (5, 5), 29.0)
    # 15 s head-warm after 10 s cool: long enough for 'looked like a person most of the time' to hold on its own
    dets, _ = run(Scene([cool, warm_later], seconds=25.0), 16)
    assert "person_in_water" not in kinds(dets)
    fresh, _ = run(Scene([warm_later], seconds=14.0), 16)
    assert kinds(fresh) == ["person_in_water"]
    assert 10.0 <= fresh[0].t <= 11.5


@pytest.mark.parametrize("fps", [9.0, 2.0])
def test_fall_that_splits_and_goes_under_alerts_at_low_frame_rates_too(fps):
    """A walker who falls in and is hidden by the splash: he is lost at the edge and a body shows next to that
    spot. At 2 fps the tracker only gives up on him a second after he was last seen; the hand-off must still
    count him as someone who was standing on the quay."""
    from quaywatch.detector import Detector
    from tests.test_detector_scene import camera, render

    walker = Thing(lambda t: (LINE_X + 6 + 12.0 * max(0.0, 2.0 - t), 60) if t < 3.0 else None, (8, 24), 30.0)
    head = Thing(lambda t: (LINE_X - 16 + np.sin(3 * t), 70) if 4.2 <= t < 6.0 else None, (6, 6), 30.0)
    step = round(9.0 / fps)
    det = Detector(camera(), 9.0 / step, (120, 160))  # "2 fps": every 4th frame of 9, 2.25 fps
    frames = list(render(Scene([walker, head], seconds=8.0), 8))[::step]
    dets = [d for t, f in frames for d in det.process(f, t).detections]
    assert kinds(dets) == ["water_entry"], (fps, [(d.kind, round(d.t, 2)) for d in dets])


def test_a_crossing_right_after_a_body_was_reported_there_is_that_body_not_a_second_person():
    """A body reported in the water (person_in_water) and, seconds later, a crossing confirmed next to it: the
    faller was seen in the water before his crossing was confirmed. One alert. A crossing there long after
    the first report is another person: two."""
    body = Thing(lambda t: (LINE_X - 20 - 4 * t, 95), (5, 5), 30.0)  # swims off from 25 px from where he lands

    def crossing(t_cross):
        return Thing(fall(120, 60, t_cross=t_cross, visible_after=None), body_then_head(t_cross), 30.0)

    soon, _ = run(Scene([body, crossing(2.0)], seconds=6.0))
    assert kinds(soon) == ["person_in_water"]
    later, _ = run(Scene([body, crossing(7.0)], seconds=11.0))
    assert kinds(later) == ["person_in_water", "water_entry"]


@pytest.mark.parametrize(("bits", "alerts"), [(8, []), (16, ["person_in_water"])])
def test_no_person_in_water_from_8bit_heads_too_small_to_have_a_shape(bits, alerts):
    """Where a standing person is 12 px (under in_water_min_person_px) an 8-bit head is 2-3 px: nothing but
    brightness, which the AGC gives a duck too. Radiometric frames still know its temperature."""
    swimmer = Thing(lambda t: (LINE_X - 25 - 2 * t, 60), (3, 3), 30.0)
    dets, _ = run(Scene([swimmer], seconds=4.0), bits, person_px_top=12, person_px_bottom=12)
    assert kinds(dets) == alerts


def test_frames_a_few_milliseconds_apart_do_not_make_a_jitter_a_speed():
    """A source without timestamps can hand over two frames 2 ms apart; a 1 px jitter between them is not a
    body moving at 500 px/s (which would read as a gull or a boat). Half a frame interval is the floor."""
    from quaywatch.detector.blobs import Blobs
    from quaywatch.detector.geometry import geometry_for
    from quaywatch.detector.tracker import Tracker
    from tests.test_detector_scene import H, W, camera

    def blob(x):
        return Blobs(np.array([[x, 50.0, 5, 5]]), np.array([[x + 2.5, 52.5]]), np.array([20.0]), np.array([30.0]),
                     np.array([200.0]), np.array([[x, 50.0, 5, 5]]))

    tracker = Tracker(geometry_for(camera(), (H, W)), fps=9.0)
    tracker.step(blob(40.0), 0.0, 0)
    tracker.step(blob(41.0), 0.002, 1)
    (track,) = tracker.tracks
    assert np.hypot(*track.velocity) <= 1.0 / (0.5 / 9.0) + 1e-9  # 18 px/s, not 500


@pytest.mark.parametrize(("torso", "alerts"), [(True, []), (False, ["person_in_water"])])
def test_upper_body_of_someone_on_the_quay_seen_just_past_the_line_is_not_a_person_in_water(torso, alerts):
    """From a camera looking over a walker at the edge whose legs are as cold as the paving, only his upper body
    shows, and it shows over the water, its bottom (his hips) less than a hip height past the quay line: taller
    than a head, narrower than a splash, the face its warm core. A head alone at that spot is a person in the water."""
    x = LINE_X - 8
    head = Thing(walk(x, 17, 0, 4.0), (5, 5), 32.0)
    body = Thing(walk(x, 23, 0, 4.0), (7, 11), 17.0)  # clothes: far cooler than the face
    dets, results = run(Scene([body, head] if torso else [head], seconds=5.0))
    assert kinds(dets) == alerts
    # it was on the water side, and (with the torso) one blob taller than a head: only the torso rule kept it out
    seen = [tr for r in results for tr in r.tracks if tr.on_water]
    assert seen and (not torso or max(tr.bbox[3] for tr in seen) >= 13)


@pytest.mark.parametrize(("stander_x", "alerts"), [(LINE_X + 8, []), (150, ["person_in_water"])])
def test_mirror_image_below_a_cold_legged_stander_is_not_a_person_in_water(stander_x, alerts):
    """Someone standing near the edge with only his upper body warm (box 12 px of a 24 px person): his feet are a
    person height below his head, and the water mirrors his head up to a couple of person heights below them
    (the water lies below the quay top). That image, hanging below him, is no person in the water; the same
    warm patch with nobody standing above it is."""
    stander = Thing(walk(stander_x, 40 if stander_x < 150 else 20, 0, 0), (8, 12), 30.0)
    mirror = Thing(walk(LINE_X - 5, 100, 0, 0, t0=1.0), (5, 5), 24.0)
    dets, _ = run(Scene([stander, mirror], seconds=5.0))
    assert kinds(dets) == alerts


@pytest.mark.parametrize(("speed", "alerts"), [(1.5, []), (14.0, ["water_entry"])])
def test_a_crossing_is_only_a_fall_when_the_body_moves_like_one(speed, alerts):
    """A body crossing into the water falls, steps or jumps: it moves. A warm thing at the edge creeping over
    the line at walking-in-place pace (what is left when a walker's track id passes to a warm blob at the edge)
    and then gone is not a fall; the same path at a fall's pace (0.6 person heights/s here) is."""
    t_stop = 1.5
    t_cross = t_stop + 6.0 / speed  # from 6 px on the land side to the line

    def path(t):
        if t < t_stop:
            return (LINE_X + 6 + 12.0 * (t_stop - t), 60)
        x = LINE_X + 6 - speed * (t - t_stop)
        return (x, 60) if x > LINE_X - 14 else None  # gone under 14 px out

    def size(t):
        return (8, 24) if t < t_cross else (5, 5)

    dets, _ = run(Scene([Thing(path, size, 30.0)], seconds=t_stop + 20.0 / speed + 2.0))
    assert kinds(dets) == alerts


def test_a_second_fall_at_the_same_spot_after_the_first_went_under_alerts_again():
    """Two people go in at the same spot 15 s apart and each vanishes under the surface (the alert comes when
    the crossing track is lost). The first is long gone when the second crosses: a crossing from land is a
    new person, whichever way its alert is decided. One alert each."""
    def faller(t_cross):
        path = fall(120, 60, t_cross=t_cross, visible_after=0.55)
        return Thing(lambda t: path(t) if t >= t_cross - 4.0 else None, body_then_head(t_cross), 30.0)

    dets, _ = run(Scene([faller(4.0), faller(19.0)], seconds=22.0))
    assert kinds(dets) == ["water_entry", "water_entry"]
    assert dets[0].t < 6.0 and 19.0 <= dets[1].t <= 21.0


def test_a_body_that_came_over_the_line_does_not_inherit_a_lost_water_track_record():
    """On a summer day people are cooler than the sunlit quay and only a head shows, at the edge, never 'a
    person on land'. When he goes in where something cool sat on the water a moment ago, he must not take over
    its record (that is for a duck's blob split in two, born in the water): that record says 'never looked
    like a person' and would hold his alert back for seconds."""
    duck = Thing(lambda t: (LINE_X - 10, 60) if t < 4.0 else None, (8, 5), 18.0)

    def head_path(t):
        if t < 4.5:
            return None
        return (LINE_X + 1 - 11 * min(1.0, t - 4.5), 60)  # from the edge band into the water, then afloat

    head = Thing(head_path, (5, 5), 29.0)
    dets, _ = run(Scene([duck, head], seconds=10.0), 16)
    assert kinds(dets) == ["person_in_water"]
    assert dets[0].t <= 5.5 + 1.5


def test_one_frame_where_a_short_lived_warm_thing_was_lost_is_not_a_person_in_water():
    """A gull that touches the water for a third of a second, flies off and touches down again at the same
    spot for a single frame: the second track takes over the first one's record (born in the water next to
    it), which together spans more than `in_water_confirm_s`. A body that stays is seen more than once."""
    first = Thing(lambda t: (40, 60) if 1.0 <= t < 1.3 else None, (5, 5), 29.0)
    again = Thing(lambda t: (40, 60) if 1.85 <= t < 1.95 else None, (5, 5), 29.0)  # one frame: 1.89 s
    dets, _ = run(Scene([first, again], seconds=4.0), 16)
    assert dets == []
    # the same two sightings held for a second each are a person in the water
    held = Thing(lambda t: (40, 60) if 1.85 <= t < 3.0 else None, (5, 5), 29.0)
    dets, _ = run(Scene([first, held], seconds=4.0), 16)
    assert kinds(dets) == ["person_in_water"]


def _edge_walker_who_drops(t_drop: float, drop_s: float, left_px: float, stays: bool):
    """Walks down along the quay edge (box 8x24, bottom at the quay line's band), then from t_drop his top
    drops to `left_px` over the edge in drop_s while his bottom stays where it was; then gone unless `stays`."""

    def height(t):
        if t < t_drop:
            return 24.0
        return max(left_px, 24.0 - (24.0 - left_px) * (t - t_drop) / drop_s)

    def path(t):
        if not stays and t > t_drop + drop_s + 0.05:
            return None
        bottom = 40 + 12 * min(t, t_drop) + 12
        return (LINE_X + 4, bottom - height(t) / 2)

    return Thing(path, lambda t: (8.0, height(t)), 30.0)


@pytest.mark.parametrize(("drop_s", "left_px", "stays", "alerts"), [
    (0.35, 3.0, False, ["water_entry"]),  # falls over the edge and is gone behind it: the wall foot is unseen
    (1.2, 14.0, True, []),  # sits down at the edge
    (0.35, 12.0, True, []),  # crouches fast, and is still there
])
def test_a_body_that_sinks_out_of_sight_behind_the_quay_edge_is_a_fall(drop_s, left_px, stays, alerts):
    """From a camera on the same side the quay hides the water at its foot: a faller never crosses the line.
    His top drops at a fall's pace while the edge cuts off his bottom, and then he is gone."""
    dets, _ = run(Scene([_edge_walker_who_drops(2.0, drop_s, left_px, stays)], seconds=5.0))
    assert kinds(dets) == alerts
    if alerts:
        assert 2.0 <= dets[0].t <= 3.0


def test_alert_margin_holds_an_alert_back_until_the_evidence_outweighs_the_other_explanations():
    """A swimmer already in the water at start first looks like static scenery (he has not yet moved beyond
    a still thing's jitter), then like a person in the water. With the knob at -1 the rules alone decide; at
    0.5 the alert waits until 'a person in the water' out-scores 'scenery' by that much, and says so."""
    head = Thing(lambda t: (40 + 3 * t, 70 + np.sin(2 * t)), (5, 5), 29.0)
    loose, _ = run(Scene([head], seconds=8.0), alert_margin=-1.0)
    strict, _ = run(Scene([head], seconds=8.0), alert_margin=0.5)
    assert kinds(loose) == kinds(strict) == ["person_in_water"]
    assert loose[0].margin < 0.5 <= strict[0].margin
    assert strict[0].t > loose[0].t


def test_a_static_warm_thing_at_the_picture_border_has_not_appeared_it_must_move_in():
    """Something warm showing at the picture's border mid-stream is cut off by it, or came in from outside: it
    did not appear in the water. Static there, it is scenery; a swimmer who comes in from the border swims."""
    at_border = Thing(lambda t: (40, 116) if t >= 3.0 else None, (5, 6), 29.0)
    dets, results = run(Scene([at_border], seconds=9.0))
    assert dets == []
    assert any(tr.on_water for tr in results[-1].tracks)
    swims_in = Thing(lambda t: (40, 116 - 4 * (t - 3.0)) if t >= 3.0 else None, (5, 6), 29.0)
    dets, _ = run(Scene([swims_in], seconds=9.0))
    assert kinds(dets) == ["person_in_water"]
