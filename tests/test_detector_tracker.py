"""The tracker on synthetic blobs: identities kept where people cross, pass their reflection, or merge."""

from __future__ import annotations

import numpy as np

from quaywatch.config import Camera
from quaywatch.detector.blobs import Blobs
from quaywatch.detector.geometry import SceneGeometry
from quaywatch.detector.tracker import Tracker

FPS = 9.0


def geometry() -> SceneGeometry:
    cam = Camera.model_validate({"id": "t", "name": "t", "source": "x.mkv", "water": [[0, 0], [80, 0], [80, 120], [0, 120]],
                                 "quay_line": [[80, 0], [80, 120]],
                                 "detector": {"person_px_top": 24, "person_px_bottom": 24}})
    return SceneGeometry(cam, (120, 160))


def blobs(things: list[tuple[float, float, float, float, float]]) -> Blobs:
    """(cx, cy, w, h, warmth) each."""
    if not things:
        return Blobs.empty()
    a = np.array(things, np.float64)
    box = np.column_stack([a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 2], a[:, 3]])
    return Blobs(box, a[:, :2].copy(), a[:, 2] * a[:, 3], a[:, 4].copy(), a[:, 4].copy(), box.copy())


def run(frames: list[list[tuple]]) -> list[dict[int, tuple[float, float]]]:
    """Track ids per frame: id -> centre."""
    tracker = Tracker(geometry(), FPS)
    out = []
    for i, things in enumerate(frames):
        alive, _ = tracker.step(blobs(things), i / FPS, i)
        out.append({tr.id: tuple(tr.centroid) for tr in alive if tr.last_frame == i})
    return out


def test_two_walkers_passing_each_other_keep_their_ids():
    # side by side, 6 px apart at the closest, walking opposite ways at 1 person height a second
    frames = [[(100 + 24 * i / FPS, 60, 8, 24, 30.0), (140 - 24 * i / FPS, 66, 8, 24, 22.0)] for i in range(16)]
    ids = run(frames)
    first, last = ids[0], ids[-1]
    assert len(first) == len(last) == 2
    left_id = min(first, key=lambda k: first[k][0])
    assert last[left_id][0] > 130, "the walker from the left ends on the right: his id went with him"


def test_a_person_keeps_his_id_when_his_cooler_reflection_is_nearer_to_where_he_was_predicted():
    """Greedy nearest-first matching hands the person's id to his reflection when the reflection's blob
    happens to be nearer the prediction; the global assignment weighs warmth and size too."""
    frames = []
    for i in range(12):
        person_x = 110 - 2.0 * i
        # at frame 6 the person's blob jumps 8 px (a swinging arm) and his reflection shows 3 px from the prediction
        person = (person_x + (8 if i == 6 else 0), 60, 8, 24, 30.0)
        reflection = (person_x, 63, 5, 10, 12.0) if i >= 6 else None
        frames.append([b for b in (person, reflection) if b is not None])
    ids = run(frames)
    pid = next(iter(ids[0]))
    assert all(pid in f and f[pid][1] == 60 for f in ids), "the person's id never passes to his reflection"


def test_a_still_thing_does_not_take_the_blob_of_something_new_over_it():
    """A static warm patch (a reflection of a lamp) and then, over it, a splash four times its size: that is
    something new, a new track, not the patch growing."""
    frames = [[(40, 60, 4, 6, 15.0)] for _ in range(10)] + [[(40, 62, 16, 14, 30.0)] for _ in range(3)]
    ids = run(frames)
    patch = next(iter(ids[0]))
    assert patch not in ids[11] and len(ids[11]) == 1


def test_a_warm_body_is_not_handed_a_fragment_ten_times_fainter():
    """A walker at the edge whose blob is, for a frame, missing while a faint fragment (wet paving, spray) shows
    right where he was predicted: that fragment is something else. Handed his track, it 'moved' and 'sank', and
    the rules alerted a fall that never was (a random world, seed 160010)."""
    frames = [[(100, 60, 8, 24, 100.0)] for _ in range(6)] + [[(101, 70, 3, 3, 9.0)]]
    ids = run(frames)
    walker = next(iter(ids[0]))
    assert walker not in ids[6], "the faint fragment got a track of its own"
    assert len(ids[6]) == 1
