"""Scenario builders: who is where and when in a clip, and the ground truth that follows from it.

`build_script(name, geo, climate, rng, seconds, fps)` returns a Script. Positives: fall, fall_submerge,
two_falls, fall_agc, swimmer. Negatives: walkers, edge_sitters, groups, reflections, gulls, ducks, boat,
rain, nuc, ropes, quiet, mixed (a bit of everything; the long negatives).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quaywatch.config.recording import TruthEvent
from quaywatch.simulator.boats import Boat
from quaywatch.simulator.climate import Climate
from quaywatch.simulator.engine import Script
from quaywatch.simulator.falls import Fall, NoRoom, Swimmer, edge_feet
from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.people import BodyLook, Person, Track, walk
from quaywatch.simulator.wildlife import Duck, Gull

Rng = np.random.Generator


def _look(rng: Rng, c: Climate) -> BodyLook:
    return BodyLook(c.clothes_c + rng.uniform(-1.5, 1.5), c.skin_c + rng.uniform(-1, 1), rng.uniform(0.9, 1.15))


def _land_path(geo: SceneGeometry, rng: Rng, dist_h: float, u0: float, u1: float) -> list[np.ndarray]:
    """Points along the quay, `dist_h` body heights in from the edge, kept on land and in the frame."""
    pts = []
    for u in np.linspace(u0, u1, 8):
        p, _, n = geo.quay_point(u)
        q = p - n * dist_h * float(geo.person_px(p[1]))
        if geo.in_frame(q, margin=2)[0] and not geo.in_water(q)[0] and geo.water_side(q)[0] < 0:
            pts.append(q)
    return pts


def add_walker(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float, dist_h: float | None = None,
               offset: np.ndarray | None = None, speed: float | None = None) -> None:
    dist_h = rng.uniform(0.2, 3.0) if dist_h is None else dist_h
    u0, u1 = (0.0, 1.0) if rng.random() < 0.5 else (1.0, 0.0)
    pts = _land_path(geo, rng, dist_h, u0, u1)
    if len(pts) < 2:
        return
    if offset is not None:
        pts = [p + offset for p in pts]
    pauses = {int(rng.integers(1, len(pts))): rng.uniform(2, 10)} if rng.random() < 0.3 else None
    track = walk(geo, pts, t0, speed or rng.uniform(0.55, 0.85), pauses)
    s.actors.append(Person(track, _look(rng, c)))


def add_group(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float) -> None:
    """Two to four people walking together, side by side."""
    dist_h, speed = rng.uniform(0.3, 2.0), rng.uniform(0.5, 0.7)
    for _ in range(int(rng.integers(2, 5))):
        add_walker(s, geo, rng, c, t0 + rng.uniform(0, 0.6), dist_h + rng.uniform(-0.2, 0.4), speed=speed)


def add_stander(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float, t1: float,
                sitting: bool = False) -> None:
    """Someone standing or sitting right at the edge (their box overlaps the quay line) for a while."""
    for _ in range(10):
        p, _, n = geo.quay_point(rng.uniform(0.1, 0.9))
        h = float(geo.person_px(p[1]))
        try:
            feet = edge_feet(geo, p, n, h)
        except NoRoom:
            continue
        if not sitting:
            feet = feet - n * rng.uniform(0.0, 0.4) * h
        track = Track(np.array([t0, t1]), np.stack([feet, feet]))
        s.actors.append(Person(track, _look(rng, c), sitting=sitting, facing=n))
        return


def add_fall(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t_drop: float, submerge: bool = False,
             u: float | None = None) -> Fall:
    for attempt in range(30):
        uu = float(np.clip(u + rng.uniform(-0.05, 0.05), 0.02, 0.98)) if u is not None and attempt else (
            u if u is not None else rng.uniform(0.12, 0.88))
        try:
            fall = Fall(geo, rng, _look(rng, c), uu, t_drop, c.head_in_water_c + rng.uniform(-1, 1), c.water_c,
                        submerge=submerge, pause_s=float(rng.choice([0.0, rng.uniform(0.5, 3.0)])),
                        approach_h=rng.uniform(2, 7))
        except NoRoom:
            continue
        s.actors.append(fall)
        s.events.append(TruthEvent(kind="water_entry", t=round(fall.entry_t, 3)))
        return fall
    raise NoRoom("found no place along the quay line where a fall fits")


def _water_point(geo: SceneGeometry, rng: Rng, margin_h: float = 0.5) -> np.ndarray:
    ys, xs = np.nonzero(geo.water_mask)
    for _ in range(200):
        i = int(rng.integers(len(xs)))
        p = np.array([xs[i], ys[i]], float)
        if geo.in_water(p, margin=margin_h * float(geo.person_px(p[1])))[0]:
            return p
    return np.array([xs[len(xs) // 2], ys[len(ys) // 2]], float)


def add_swimmer(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float, fps: float) -> None:
    t0 = np.ceil(t0 * fps) / fps  # surfacing exactly on a frame: the first frame it is visible in
    s.actors.append(Swimmer(geo, rng, _water_point(geo, rng), float(t0), c.head_in_water_c, c.skin_c, c.water_c))
    s.events.append(TruthEvent(kind="person_in_water", t=round(float(t0), 3)))


def add_gull(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float) -> None:
    """A pass over the water; some cut across the quay line, as gulls do."""
    p = _water_point(geo, rng, 0.0)
    ang = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(ang), np.sin(ang)]) * (geo.width + geo.height)
    s.actors.append(Gull(geo, rng, p - d, p + d, t0, max(c.air_c + rng.uniform(8, 14), c.water_c + 4)))


def add_ducks(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float, t1: float) -> None:
    p = _water_point(geo, rng, 0.3)
    for _ in range(int(rng.integers(1, 5))):
        q = p + rng.normal(0, 0.5, 2) * float(geo.person_px(p[1]))
        s.actors.append(Duck(geo, rng, q, t0, t1, c.water_c + rng.uniform(3, 6), c.water_c + rng.uniform(5, 9),
                             dives=rng.random() < 0.5))


def add_boat(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, t0: float) -> Boat:
    boat = Boat(geo, rng, rng.uniform(1.2, 3.5), t0, c.air_c + rng.uniform(0, 3), rng.uniform(45, 80), c.water_c,
                reverse=rng.random() < 0.5)
    s.actors.append(boat)
    return boat


# --- the scenarios -------------------------------------------------------------------------------

def _busy(s: Script, geo: SceneGeometry, rng: Rng, c: Climate, per_min: float) -> None:
    """Background life on the quay: walkers at all distances from the edge, the odd group."""
    n = rng.poisson(per_min * s.seconds / 60)
    for t0 in np.sort(rng.uniform(-20, s.seconds, n)):
        (add_group if rng.random() < 0.2 else add_walker)(s, geo, rng, c, float(t0))


def _fall(s, geo, rng, c, fps, submerge=False, place=None, busy=2.0):
    _busy(s, geo, rng, c, busy)
    return add_fall(s, geo, rng, c, rng.uniform(0.35, 0.55) * s.seconds, submerge=submerge, u=place)


def _fall_busy(s, geo, rng, c, fps, place=None):
    """A fall among many people, some lingering right at the edge."""
    _walkers(s, geo, rng, c, fps)
    add_stander(s, geo, rng, c, 0.0, s.seconds, sitting=True)
    add_fall(s, geo, rng, c, rng.uniform(0.4, 0.55) * s.seconds, u=place)


def _fall_rain(s, geo, rng, c, fps, place=None):
    s.rain = rng.uniform(0.6, 1.2)
    _fall(s, geo, rng, c, fps, place=place)


def _fall_nuc(s, geo, rng, c, fps, place=None):
    """The camera's shutter closes for a NUC moments after the body enters the water."""
    fall = _fall(s, geo, rng, c, fps, place=place)
    s.nucs.append((float(fall.entry_t + rng.uniform(0.1, 0.5)), float(rng.uniform(0.4, 0.8))))
    s.tags.append("nuc")


def _two_falls(s, geo, rng, c, fps, place=None):
    _busy(s, geo, rng, c, 2)
    u1, u2 = (0.3, 0.7) if place is None else (place, min(place + 0.25, 0.95))
    add_fall(s, geo, rng, c, rng.uniform(0.15, 0.25) * s.seconds, u=u1)
    add_fall(s, geo, rng, c, rng.uniform(0.6, 0.7) * s.seconds, u=u2)


def _fall_agc(s, geo, rng, c, fps, place=None):
    """A boat's hot engine comes into view as the person falls: the AGC range jumps mid-fall."""
    t_drop = rng.uniform(0.4, 0.55) * s.seconds
    fall = add_fall(s, geo, rng, c, t_drop, u=place)
    boat = Boat(geo, rng, rng.uniform(2.5, 4.0), 0.0, c.air_c + 2, rng.uniform(70, 90), c.water_c,
                reverse=rng.random() < 0.5)
    # start the boat so that it enters the frame about a second before the body hits the water
    inside = [t for t in np.arange(boat.start, boat.end, 0.1) if geo.in_frame(boat.track.at(t))[0]]
    shift = fall.entry_t - 1.0 - (inside[0] if inside else 0.0)
    boat.track.times = boat.track.times + shift
    boat.start, boat.end = boat.start + shift, boat.end + shift
    s.actors.append(boat)
    s.tags.append("agc-shift")


def _swimmer(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 1)
    add_swimmer(s, geo, rng, c, rng.uniform(0.2, 0.4) * s.seconds, fps)


def _walkers(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 15)
    for _ in range(int(rng.integers(2, 5))):  # and people lingering at the very edge
        add_walker(s, geo, rng, c, rng.uniform(-10, s.seconds), dist_h=rng.uniform(0.12, 0.3))


def _edge_sitters(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 3)
    for _ in range(int(rng.integers(2, 5))):
        add_stander(s, geo, rng, c, 0.0, s.seconds, sitting=rng.random() < 0.6)
    for _ in range(2):
        t0 = rng.uniform(0, s.seconds * 0.6)
        add_stander(s, geo, rng, c, t0, t0 + rng.uniform(10, 40))


def _groups(s, geo, rng, c, fps):
    for t0 in np.sort(rng.uniform(-10, s.seconds, max(2, int(s.seconds / 15)))):
        add_group(s, geo, rng, c, float(t0))


def _reflections(s, geo, rng, c, fps):
    s.wet_ground = True
    _busy(s, geo, rng, c, 4)
    for _ in range(3):
        add_walker(s, geo, rng, c, rng.uniform(-10, s.seconds * 0.7), dist_h=rng.uniform(0.12, 0.4))
    add_stander(s, geo, rng, c, 0.0, s.seconds)


def _gulls(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 1)
    for t0 in np.sort(rng.uniform(0, s.seconds, max(3, int(s.seconds / 4)))):
        add_gull(s, geo, rng, c, float(t0))


def _ducks(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 1)
    for _ in range(int(rng.integers(1, 4))):
        add_ducks(s, geo, rng, c, 0.0, s.seconds)


def _birds(s, geo, rng, c, fps):
    _gulls(s, geo, rng, c, fps)
    for _ in range(int(rng.integers(1, 3))):
        add_ducks(s, geo, rng, c, 0.0, s.seconds)


def _boat(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 1)
    for t0 in np.arange(rng.uniform(0, 5), s.seconds, rng.uniform(12, 25)):
        add_boat(s, geo, rng, c, float(t0))


def _rain(s, geo, rng, c, fps):
    s.rain = rng.uniform(0.6, 1.3)
    _busy(s, geo, rng, c, 3)
    add_stander(s, geo, rng, c, 0.0, s.seconds)


def _nuc(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 3)
    add_ducks(s, geo, rng, c, 0.0, s.seconds)
    for t in np.arange(rng.uniform(3, 8), s.seconds - 1, rng.uniform(8, 15)):
        s.nucs.append((float(t), float(rng.uniform(0.3, 1.0))))


def _ropes(s, geo, rng, c, fps):
    _busy(s, geo, rng, c, 1)  # the ropes and masts in the camera's exclude zones, swaying


def _quiet(s, geo, rng, c, fps):
    pass


def _mixed(s, geo, rng, c, fps):
    """A long stretch of harbour life with everything but a person in the water."""
    _busy(s, geo, rng, c, rng.uniform(1, 4))
    minutes = s.seconds / 60
    for t0 in rng.uniform(0, s.seconds, rng.poisson(1.5 * minutes)):
        add_gull(s, geo, rng, c, float(t0))
    for t0 in rng.uniform(0, s.seconds, rng.poisson(0.15 * minutes)):
        add_boat(s, geo, rng, c, float(t0))
    for t0 in rng.uniform(0, s.seconds, rng.poisson(0.3 * minutes)):
        add_ducks(s, geo, rng, c, float(t0), float(t0 + rng.uniform(60, 400)))
    for t0 in rng.uniform(0, s.seconds, rng.poisson(0.2 * minutes)):
        add_stander(s, geo, rng, c, float(t0), float(t0 + rng.uniform(20, 200)), sitting=rng.random() < 0.5)
    for t in np.arange(rng.uniform(30, 120), s.seconds, rng.uniform(120, 300)):
        s.nucs.append((float(t), float(rng.uniform(0.3, 1.0))))


SCENARIOS: dict[str, Callable] = {
    "fall": _fall,
    "fall_submerge": lambda s, g, r, c, f, place=None: _fall(s, g, r, c, f, submerge=True, place=place),
    "fall_busy": _fall_busy,
    "fall_rain": _fall_rain,
    "fall_nuc": _fall_nuc,
    "two_falls": _two_falls,
    "fall_agc": _fall_agc,
    "swimmer": _swimmer,
    "walkers": _walkers,
    "edge_sitters": _edge_sitters,
    "groups": _groups,
    "reflections": _reflections,
    "gulls": _gulls,
    "ducks": _ducks,
    "birds": _birds,
    "boat": _boat,
    "rain": _rain,
    "nuc": _nuc,
    "ropes": _ropes,
    "quiet": _quiet,
    "mixed": _mixed,
}


def build_script(name: str, geo: SceneGeometry, climate: Climate, rng: Rng, seconds: float, fps: float,
                 place: float | None = None) -> Script:
    """`place` (0..1 along the quay line) puts a fall there instead of at a random place."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    s = Script(seconds=seconds, tags=[name, climate.season, "night" if climate.night else "day"])
    if place is not None and name.startswith(("fall", "two_falls")):
        SCENARIOS[name](s, geo, rng, climate, fps, place=place)
    else:
        SCENARIOS[name](s, geo, rng, climate, fps)
    s.events.sort(key=lambda e: e.t)
    return s
