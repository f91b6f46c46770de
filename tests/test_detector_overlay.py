"""The debug overlay and the geometry it draws: what an engineer sees when tuning a camera."""

from __future__ import annotations

import numpy as np

from quaywatch.config import load_site
from quaywatch.detector.geometry import SceneGeometry
from quaywatch.detector.overlay import ALERT, QUAY, render_overlay
from quaywatch.detector.types import Detection, FrameResult, Track
from tests.test_detector_scene import FPS, Scene, Thing, body_then_head, camera, fall, render, run


def test_aalborg_geometry_water_on_the_left_people_bigger_near_the_camera():
    cam = load_site("aalborg-havnefront").camera("cam-1")
    geo = SceneGeometry(cam, (288, 384))
    # the quay line runs (15,0)->(152,287); the water polygon is on its left
    d = geo.water_distance(np.array([[40.0, 150.0], [150.0, 150.0]]))
    assert d[0] > 0 > d[1]
    assert geo.in_water(np.array([[40.0, 150.0]]))[0] and not geo.in_water(np.array([[200.0, 150.0]]))[0]
    assert geo.person_height(280) > geo.person_height(20) > 0
    assert geo.touches_exclude(np.array([75.0, 50.0, 4.0, 4.0]), 0) and not geo.touches_exclude(
        np.array([200.0, 200.0, 4.0, 4.0]), 2)


def test_overlay_draws_quay_line_tracks_and_alerts_on_a_false_colour_copy():
    cam = camera()
    frame = next(render(Scene([], seconds=0.2)))[1]
    track = Track(7, (30, 40, 6, 6), (33.0, 46.0), True, 20.0, 5, True, side="water", alerted=True)
    alert = Detection("person_in_water", 1.0, 3, 7, (30, 40, 6, 6), 0.9)
    out = render_overlay(frame, FrameResult([track], [alert], blobs=[(30, 40, 6, 6)]), cam, scale=2)
    assert out.dtype == np.uint8 and out.shape == (frame.shape[0] * 2, frame.shape[1] * 2, 3)
    line = out[200, 158:163].astype(int)  # the vertical quay line at x=80, scaled x2 (anti-aliased)
    assert (np.abs(line - np.array(QUAY)).sum(axis=1) < 40).any()
    assert (out[(40 - 3) * 2 : (46 + 3) * 2, (30 - 3) * 2] == ALERT).all(axis=1).any()  # the alert box's edge
    assert frame.ndim == 2  # the frame itself is left alone


def test_overlay_of_a_real_run_marks_the_alert_frame():
    dets, results = run(Scene([Thing(fall(120, 60, 2.0, visible_after=None), body_then_head(2.0), 30.0)]))
    hit = next(r for r in results if r.detections)
    frame = list(render(Scene([Thing(fall(120, 60, 2.0, visible_after=None), body_then_head(2.0), 30.0)])))
    img = render_overlay(frame[hit.frame_index][1], hit, camera())
    assert (img == np.array(ALERT, np.uint8)).all(axis=2).sum() > 20
    assert dets[0].frame_index <= hit.frame_index and hit.frame_index / FPS >= 2.0
