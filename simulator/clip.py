"""One simulated clip: site camera + scenario + seed -> frames, written with its ground-truth sidecar."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quaywatch.config.loader import SITES_DIR, load_site
from quaywatch.config.recording import GroundTruth, sidecar_for
from quaywatch.edge.clips import ClipWriter
from quaywatch.errors import QuaywatchError
from quaywatch.simulator.background import load_aalborg_plate
from quaywatch.simulator.climate import make_climate
from quaywatch.simulator.engine import Renderer, Script
from quaywatch.simulator.falls import NoRoom
from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.scenarios import build_script


@dataclass
class ClipSpec:
    scenario: str
    site: str  # path of the site YAML
    camera: str
    seed: int
    seconds: float
    fps: float
    bits: int = 8
    season: str = "winter"
    night: bool = True
    plate: str | None = None  # "busy" | "walker": a real Aalborg frame from ../shared as background
    place: float | None = None  # where along the quay line (0..1) a fall happens; None = anywhere
    crf: int = 26  # H.264 quality of 8-bit clips (higher = smaller files)


@dataclass
class Simulation:
    spec: ClipSpec
    geo: SceneGeometry
    renderer: Renderer
    script: Script

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        for t, ck, g in self.renderer.frames(self.script, self.spec.fps):
            yield t, (ck if self.spec.bits == 16 else g)


def simulation(spec: ClipSpec) -> Simulation:
    if spec.bits not in (8, 16):
        raise QuaywatchError(f"--bits must be 8 or 16, not {spec.bits}")
    site = load_site(spec.site)
    geo = SceneGeometry.from_camera(site.camera(spec.camera))
    rng = np.random.default_rng([spec.seed, 0])
    climate = make_climate(rng, spec.season, spec.night)
    plate = None
    if spec.plate:
        if (geo.width, geo.height) != (384, 288):
            raise QuaywatchError("the Aalborg plates are 384x288: use a camera with that resolution")
        try:
            plate = load_aalborg_plate(spec.plate)
        except (FileNotFoundError, ValueError) as exc:
            raise QuaywatchError(str(exc)) from None
    place = spec.place
    if plate is not None:
        # On the real frame only the lower-left is water (the far end of the polygon is buildings there):
        # keep swimmers, ducks and falls where the plate shows water.
        geo.water_mask &= plate[1]
        if place is None:
            place = float(np.random.default_rng([spec.seed, 7]).uniform(0.45, 0.9))
    try:
        script = build_script(spec.scenario, geo, climate, rng, spec.seconds, spec.fps, place)
    except NoRoom as exc:
        raise QuaywatchError(f"camera {spec.camera!r}: {exc}") from None
    except ValueError as exc:
        raise QuaywatchError(str(exc)) from None
    return Simulation(spec, geo, Renderer(geo, climate, spec.seed, plate), script)


def describe(sim: Simulation) -> str:
    s, c = sim.spec, sim.renderer.climate
    ev = ", ".join(f"{e.kind} at {e.t:.2f} s" for e in sim.script.events) or "no events"
    return (f"{s.scenario}, {c.label} (water {c.water_c:.1f} °C, air {c.air_c:.1f} °C, quay {c.quay_c:.1f} °C), "
            f"{ev}; simulated, seed {s.seed}" + (f", Aalborg plate '{s.plate}'" if s.plate else ""))


def site_file(site: str) -> Path:
    """The site YAML's real path (a bare name like `demo` means config/sites/demo.yaml, as for load_site)."""
    p = Path(site)
    if not p.exists() and not p.suffix and (SITES_DIR / f"{p.name}.yaml").exists():
        p = SITES_DIR / f"{p.name}.yaml"
    return p.resolve()


def write_clip(spec: ClipSpec, out: str | Path, description: str | None = None,
               final_dir: Path | None = None) -> tuple[Simulation, GroundTruth]:
    """Render the clip to `out` (.mp4 for 8-bit, .mkv for 16-bit) and its sidecar `<stem>.json`.
    `final_dir`: where the clip will finally live, if it is staged elsewhere first (the sidecar's site path
    is relative to the sidecar)."""
    out = Path(out)
    sim = simulation(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ClipWriter(out, spec.fps, sim.geo.width, sim.geo.height, bit_depth=spec.bits, crf=spec.crf) as w:
        for _, frame in sim.frames():
            w.write(frame)
    site_rel = os.path.relpath(site_file(spec.site), (final_dir or out.parent).resolve())
    truth = GroundTruth(site=site_rel, camera=spec.camera, events=sim.script.events,
                        description=description or describe(sim), scenario=spec.scenario, seed=spec.seed,
                        tags=sorted(set(sim.script.tags) | ({"aalborg-plate"} if spec.plate else set())))
    sidecar_for(out).write_text(json.dumps(truth.model_dump(exclude_none=True), indent=2) + "\n", encoding="utf-8")
    return sim, truth
