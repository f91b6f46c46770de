"""`quaywatch simulate suite random-worlds`: cameras the detector has never seen, in worlds drawn per seed.

THE EXAM is `EXAM_SEEDS` at the default size (`--hours 20 --events 64`): nobody tunes on it. Tune on other seeds
(`--seeds 5000-5023`). Each world gets its share of the negative hours (harbour life with crowds at the edge,
boats, birds, rain, NUCs) and of the events (falls, some going under or behind the wall foot, falls from the far
bank or a pier's tip, swimmers already in the water or swimming in from the frame's edge). An event is labelled
with `visible: false` when the camera never saw it (scoring then leaves it out of 'visible events').

Per world, two site files: `world-SEED.yaml` with what an installer measures (water polygon, quay line,
calibration points, camera height, freeboard, map origin) and `world-SEED-person-px.yaml` with only `person_px_at`
(four people measured in the picture) for the fallback. The sidecars point at one of them (`--site-variant`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import yaml

from quaywatch.config.recording import GroundTruth, TruthEvent, sidecar_for
from quaywatch.edge.clips import ClipWriter
from quaywatch.simulator.world import World, draw_world
from quaywatch.simulator.world_actors import (
    Duck,
    Fall,
    Gull,
    MovingBoat,
    Still,
    Swimmer,
    Walker,
    WorldScript,
    random_look,
)
from quaywatch.simulator.world_render import LAND, WATER, WorldRenderer

EXAM_SEEDS = list(range(120_001, 120_025))  # 24 worlds: THE EXAM. Never tune on these.
EXAM_HOURS, EXAM_EVENTS = 20.0, 64
EVENT_SECONDS = 24.0
NEG_CLIP_MAX_S = 600.0
EVENT_KINDS = ("fall", "fall", "fall_under", "fall_hidden", "swimmer_start", "swimmer_edge", "fall_far")
VISIBLE_PX = 2.0  # summed pixel coverage in one frame that counts as 'seen'
Rng = np.random.Generator


def parse_seeds(text: str | None) -> list[int]:
    """'5000-5009,5020' -> [5000..5009, 5020]; None -> the exam."""
    if not text:
        return list(EXAM_SEEDS)
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


# --- where things can be ------------------------------------------------------------------------------------

def edge_spots(world: World, edge_index: int = 0, min_px: float = 4.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points on an edge (with their water normals) where a standing person is in the frame and >= min_px."""
    edge = world.edges[edge_index]
    w, h = world.size
    out = []
    for u in np.linspace(0.0, 1.0, 400):
        p, n = edge.sample(float(u))
        feet = world.camera.project([[*p, 0.0]])[0]
        head = world.camera.project([[*p, 1.75]])[0]
        inside = np.all(np.isfinite(feet)) and 2 <= feet[0] < w - 2 and 2 <= feet[1] < h - 2 and head[1] >= 0
        if inside and np.linalg.norm(head - feet) >= min_px:
            out.append((p, n))
    return out


def water_spot(world: World, rng: Rng, renderer: WorldRenderer, margin_px: int = 3) -> np.ndarray | None:
    ys, xs = np.nonzero(renderer.kind[margin_px:-margin_px, margin_px:-margin_px] == WATER)
    if len(xs) == 0:
        return None
    for _ in range(50):
        i = int(rng.integers(len(xs)))
        xy = renderer.xy[ys[i] + margin_px, xs[i] + margin_px]
        if np.all(np.isfinite(xy)) and renderer.dist[ys[i] + margin_px, xs[i] + margin_px] < 150:
            return xy.copy()
    return None


# --- scripts ------------------------------------------------------------------------------------------------

class Owners:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def add_life(s: WorldScript, world: World, renderer: WorldRenderer, rng: Rng, owners: Owners, busy: float) -> None:
    """Harbour life: walkers along the edge (some right at it), crowds standing and sitting at the edge, boats
    with skippers, ducks, gulls; NUCs every minute or two."""
    c = world.climate
    spots = edge_spots(world)
    T = s.seconds
    if spots:
        for t0 in np.sort(rng.uniform(-30, T, rng.poisson(busy * 3 * T / 60))):
            p, n = spots[int(rng.integers(len(spots)))]
            along = np.array([-n[1], n[0]]) * float(rng.choice([-1, 1]))
            inset = float(rng.choice([rng.uniform(0.2, 0.6), rng.uniform(0.6, 6)]))
            start = p - n * inset - along * rng.uniform(5, 25)
            end = p - n * inset + along * rng.uniform(5, 25)
            for _ in range(1 if rng.random() < 0.7 else int(rng.integers(2, 5))):
                off = rng.normal(0, 0.4, 2)
                s.actors.append(Walker(np.stack([start + off, end + off]), float(t0 + rng.uniform(0, 1)),
                                       float(rng.uniform(0.9, 1.6)), random_look(rng, c), owners(),
                                       pause=(float(rng.uniform(3, 15)), float(rng.uniform(2, 20))) if rng.random() < 0.3 else None))
        for _ in range(rng.poisson(busy * max(1.0, T / 120))):  # a crowd at the edge
            p, n = spots[int(rng.integers(len(spots)))]
            along = np.array([-n[1], n[0]])
            t0 = float(rng.uniform(-60, T * 0.8))
            t1 = t0 + float(rng.uniform(20, 300))
            for _ in range(int(rng.integers(2, 9))):
                q = p + along * rng.normal(0, 1.5) - n * rng.uniform(0.15, 1.5)
                sit = n if rng.random() < 0.25 else None
                s.actors.append(Still(q if sit is None else p + along * rng.normal(0, 1.5), t0, t1,
                                      random_look(rng, c), owners(), sit))
    for _ in range(rng.poisson(T / 240)):
        start = water_spot(world, rng, renderer)
        if start is not None:
            v = rng.normal(0, 1, 2)
            v = v / np.linalg.norm(v) * rng.uniform(2, 5)
            s.actors.append(MovingBoat(world, start - v * 15, v, float(rng.uniform(0, T)), rng,
                                       random_look(rng, c) if rng.random() < 0.6 else None, owners()))
    for _ in range(rng.poisson(T / 200)):
        xy = water_spot(world, rng, renderer)
        if xy is not None:
            for _ in range(int(rng.integers(1, 4))):
                s.actors.append(Duck(world, xy + rng.normal(0, 1.0, 2), rng, owners()))
    for _ in range(rng.poisson(T / 90)):
        xy = water_spot(world, rng, renderer)
        if xy is not None:
            v = rng.normal(0, 1, 2)
            v = v / np.linalg.norm(v) * rng.uniform(6, 11)
            s.actors.append(Gull(world, xy - v * 4, v, float(rng.uniform(0, T)), rng, owners()))
    t = float(rng.uniform(20, 120))
    while t < T:
        s.nucs.append((t, float(rng.uniform(0.3, 1.0))))
        t += float(rng.uniform(60, 180))


def add_event(s: WorldScript, world: World, renderer: WorldRenderer, kind: str, rng: Rng, owners: Owners) -> str:
    """One event; returns what it actually is (a kind the world cannot hold falls back to a plain fall)."""
    c = world.climate
    t_event = float(rng.uniform(0.35, 0.6) * s.seconds)
    if kind == "fall_far" and len(world.edges) < 2 and world.layout != "pier":
        kind = "fall"
    if kind.startswith("swimmer"):
        start = water_spot(world, rng, renderer, margin_px=6)
        if start is not None:
            v = rng.normal(0, 1, 2)
            v = v / np.linalg.norm(v) * rng.uniform(0.3, 0.8)
            who = owners()
            if kind == "swimmer_edge":  # from outside the frame: start far back along its path
                start = start - v * s.seconds * 0.5
            s.actors.append(Swimmer(world, start, v, who, rng))
            s.events.append({"kind": "person_in_water", "t": 0.0, "owner": who, "label": kind})
            return kind
        kind = "fall"
    if kind == "fall_far":
        if world.layout == "pier":
            spots = [sp for sp in edge_spots(world, 0, 2.0) if abs(sp[1][1]) > 0.9]  # the tip faces +y
            kind = "fall_pier_tip"
        else:
            spots = edge_spots(world, 1, 2.0)
    else:
        spots = edge_spots(world, 0, 4.0)
    if not spots:
        spots = edge_spots(world, 0, 2.0)
    p, n = spots[int(rng.integers(len(spots)))]
    surface, stay, out = float(rng.uniform(0.3, 1.0)), None, float(rng.uniform(0.6, 1.5))
    if kind == "fall_under":
        stay = float(rng.uniform(1.0, 3.0))
    elif kind == "fall_hidden":
        if rng.random() < 0.5:
            surface = None
        else:
            surface, out = float(rng.uniform(1.0, 2.0)), float(rng.uniform(1.5, 3.0))
    who = owners()
    s.actors.append(Fall(world, p, n, t_event, random_look(rng, c), who, rng, surface, stay, out))
    s.events.append({"kind": "water_entry", "t": t_event, "owner": who, "label": kind})
    return kind


# --- site files -------------------------------------------------------------------------------------------

def water_polygon(renderer: WorldRenderer) -> list[list[float]]:
    mask = (renderer.kind == WATER).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    big = max(contours, key=cv2.contourArea)
    poly = cv2.approxPolyDP(big, 1.0, True).reshape(-1, 2)
    return [[float(x), float(y)] for x, y in poly]


def quay_line(world: World) -> list[list[float]]:
    w, h = world.size
    edge = world.edges[0]
    pts = np.concatenate([np.linspace(a, b, 4000) for a, b in zip(edge.points[:-1], edge.points[1:], strict=True)])
    px = world.camera.project(np.c_[pts, np.zeros(len(pts))])
    ok = np.all(np.isfinite(px), axis=1) & (px[:, 0] >= 0) & (px[:, 0] <= w) & (px[:, 1] >= 0) & (px[:, 1] <= h)
    runs, cur = [], []
    for i, good in enumerate(ok):
        if good:
            cur.append(px[i])
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    line = np.array(max(runs, key=len), np.float32)
    simple = cv2.approxPolyDP(line.reshape(-1, 1, 2), 0.7, False).reshape(-1, 2)
    out: list[list[float]] = []
    for x, y in simple:
        q = [round(float(x), 1), round(float(y), 1)]
        if not out or q != out[-1]:
            out.append(q)
    return out


def site_files(world: World, renderer: WorldRenderer, out: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng([world.seed, 77])
    w, h = world.size
    land = (renderer.kind == LAND) & (renderer.dist < 80)
    ys, xs = np.nonzero(land[2:-2, 2:-2])
    pick = rng.choice(len(xs), size=min(8, len(xs)), replace=False)
    points = []
    for i in pick:
        u, v = float(xs[i] + 2), float(ys[i] + 2)
        x, y = renderer.xy[int(v), int(u)] + rng.normal(0, 0.03, 2)  # a tape measure's error
        points.append([u, v, round(float(x), 2), round(float(y), 2)])
    lat, lon, bearing = world.lat_lon_bearing
    camera = {"id": "cam", "name": f"random world {world.seed} ({world.layout})",
              "source": f"sim://random-world?seed={world.seed}", "resolution": [w, h], "fps": world.fps,
              "water": water_polygon(renderer), "quay_line": quay_line(world), "location": {"lat": lat, "lon": lon}}
    calibrated = {**camera, "calibration": {
        "points": points, "camera_height_m": round(world.camera.height_m + float(rng.normal(0, 0.1)), 2),
        "freeboard_m": round(world.freeboard, 2), "origin": {"lat": lat, "lon": lon, "bearing_deg": round(bearing, 1)}}}
    people = []
    rows = np.quantile(ys + 2, [0.15, 0.4, 0.65, 0.9]) if len(ys) else []
    for r in rows:
        cand = np.nonzero(np.abs(ys + 2 - r) < 1)[0]
        if len(cand) == 0:
            continue
        u, v = float(xs[cand[0]] + 2), float(ys[cand[0]] + 2)
        g = renderer.xy[int(v), int(u)]
        feet = world.camera.project([[*g, 0.0]])[0]
        head = world.camera.project([[*g, 1.75]])[0]
        people.append([round(float(feet[1])), max(2, round(float(np.linalg.norm(head - feet))))])
    perspective = {**camera, "detector": {"person_px_at": people}} if len(people) >= 2 else camera
    site = {"id": f"world-{world.seed}", "name": f"Random world {world.seed}", "timezone": "Europe/Copenhagen"}
    out.mkdir(parents=True, exist_ok=True)
    a, b = out / f"world-{world.seed}.yaml", out / f"world-{world.seed}-person-px.yaml"
    head_note = f"# {world.describe()}\n# Random-worlds suite: never tune the detector on the exam seeds.\n"
    a.write_text(head_note + yaml.safe_dump({"site": site, "cameras": [calibrated]}, sort_keys=False))
    b.write_text(head_note + yaml.safe_dump({"site": site, "cameras": [perspective]}, sort_keys=False))
    return a, b


# --- the suite ----------------------------------------------------------------------------------------------

def plan(seeds: list[int], hours: float, events: int) -> list[tuple[int, int, str, float]]:
    """(world seed, clip index, kind or 'negative', seconds) for the whole suite."""
    items: list[tuple[int, int, str, float]] = []
    neg_per_world = hours * 3600.0 / max(len(seeds), 1)
    for k in range(events):
        seed = seeds[k % len(seeds)]
        kind = EVENT_KINDS[int(np.random.default_rng([seed, k, 5]).integers(len(EVENT_KINDS)))]
        items.append((seed, 1000 + k, kind, EVENT_SECONDS))
    for seed in seeds:
        left, i = neg_per_world, 0
        while left > 1.0:
            sec = min(NEG_CLIP_MAX_S, left)
            items.append((seed, i, "negative", round(sec, 1)))
            left -= sec
            i += 1
    return sorted(items)


def render_clip(world: World, renderer: WorldRenderer, index: int, kind: str, seconds: float, clip: Path,
                site: Path) -> GroundTruth:
    rng = np.random.default_rng([world.seed, index, 9])
    s = WorldScript(seconds)
    owners = Owners()
    add_life(s, world, renderer, rng, owners, busy=float(rng.uniform(0.5, 3.0)) if kind == "negative" else float(rng.uniform(0.3, 1.5)))
    actual = add_event(s, world, renderer, kind, rng, owners) if kind != "negative" else "negative"
    seen: dict[int, list[float]] = {e["owner"]: [] for e in s.events}
    crf = 26 if kind != "negative" else 30
    with ClipWriter(clip, world.fps, world.size[0], world.size[1], bit_depth=world.bits, crf=crf) as writer:
        for t, frame, counts in renderer.frames(s, world.fps):
            writer.write(frame)
            for who in seen:
                if counts.get(who, 0.0) >= VISIBLE_PX:
                    seen[who].append(t)
    truth_events = []
    for e in s.events:
        times = seen[e["owner"]]
        if e["kind"] == "person_in_water":
            visible = bool(times)
            t = times[0] if times else 0.0
        else:
            t = e["t"]
            visible = any(t <= x <= t + 5.0 for x in times)
        truth_events.append(TruthEvent(kind=e["kind"], t=round(t, 3), visible=visible))
    tags = [world.layout, world.climate.season, "night" if world.climate.night else "day", f"{world.bits}-bit"]
    if world.rain:
        tags.append("rain")
    if actual != "negative":
        tags.append(actual)
    truth = GroundTruth(site=os.path.relpath(site, clip.parent), camera="cam", events=truth_events,
                        description=f"{actual}: {world.describe()}", scenario=actual, seed=world.seed, tags=tags)
    sidecar_for(clip).write_text(json.dumps(truth.model_dump(exclude_none=True), indent=2) + "\n", encoding="utf-8")
    return truth


def write_suite(out: Path, seeds: list[int], hours: float, events: int, variant: str = "calibrated",
                log=print) -> list[Path]:
    out = Path(out)
    items = plan(seeds, hours, events)
    clips: list[Path] = []
    current: tuple[int, World, WorldRenderer, Path] | None = None
    for seed, index, kind, seconds in items:
        if current is None or current[0] != seed:
            world = draw_world(seed)
            renderer = WorldRenderer(world, seed)
            full, person_px = site_files(world, renderer, out / "sites")
            current = (seed, world, renderer, full if variant == "calibrated" else person_px)
        _, world, renderer, site = current
        stem = f"world-{seed}-{index:04d}-{kind}"
        clip = out / (stem + (".mkv" if world.bits == 16 else ".mp4"))
        render_clip(world, renderer, index, kind, seconds, clip, site)
        clips.append(clip)
        log(str(clip))
    return clips


def describe_plan(seeds: list[int], hours: float, events: int) -> str:
    items = plan(seeds, hours, events)
    neg = sum(s for _, _, k, s in items if k == "negative")
    return (f"{len(seeds)} worlds, {len(items)} clips, {events} events, {neg / 3600:.2f} negative camera-hours, "
            f"{sum(s for *_, s in items) / 3600:.2f} hours of video in all")

