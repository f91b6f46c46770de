"""Turns a script (actors, weather, NUC times) into frames: °C scene -> sensor -> uint16 cK or 8-bit AGC.

Every random draw made while rendering frame i comes from a generator seeded by (seed, i), so a frame
depends only on the seed, the script and its index: the same arguments always give identical frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from quaywatch.config.recording import TruthEvent
from quaywatch.simulator.agc import AGC
from quaywatch.simulator.background import Background
from quaywatch.simulator.climate import Climate
from quaywatch.simulator.geometry import SceneGeometry
from quaywatch.simulator.sensor import Sensor, to_centikelvin
from quaywatch.simulator.stage import Actor, Stage
from quaywatch.simulator.weather import rain


@dataclass
class Script:
    """Everything that happens in one stretch of simulated time (times in seconds from its start)."""

    seconds: float
    actors: list[Actor] = field(default_factory=list)
    events: list[TruthEvent] = field(default_factory=list)
    nucs: list[tuple[float, float]] = field(default_factory=list)  # (start, freeze duration)
    rain: float = 0.0  # intensity 0..1.5
    wet_ground: bool = False
    tags: list[str] = field(default_factory=list)


class Renderer:
    """The camera looking at a scene: keeps sensor and AGC state from frame to frame."""

    def __init__(self, geo: SceneGeometry, climate: Climate, seed: int, plate: tuple | None = None):
        self.geo = geo
        self.climate = climate
        self.seed = seed
        rng = np.random.default_rng([seed, 1])
        img, water = plate if plate is not None else (None, None)
        self.background = Background(geo, climate, rng, img, water)
        self.sensor = Sensor(np.random.default_rng([seed, 2]), (geo.height, geo.width))
        self.agc = AGC()
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def scene(self, parts: list[tuple[Script, float]], t: float, frame_rng: np.random.Generator) -> np.ndarray:
        """The true apparent temperatures (°C) at scene time t, before the sensor. `parts` are scripts with
        their local time (a live scene overlaps the end of one minute's script with the next)."""
        wet = any(sc.wet_ground or sc.rain > 0 for sc, _ in parts)
        stage = Stage(self.geo, self.climate, self.background.water, wet)
        stage.field = self.background.at(t)
        for script, local in parts:
            for actor in script.actors:
                if actor.start - 1.0 <= local <= actor.end + 1.0:
                    actor.draw(stage, local)
        rain_now = max((sc.rain for sc, _ in parts), default=0.0)
        if rain_now > 0:
            rain(stage, frame_rng, rain_now)
        return stage.field

    def shoot(self, parts: list[tuple[Script, float]], t: float, dt: float, frame_index: int, frozen: bool,
              nucs_done: int, since_nuc: float) -> tuple[np.ndarray, np.ndarray]:
        """One camera frame: (centikelvin uint16, AGC uint8). While the shutter is closed for a NUC the camera
        repeats its last frame."""
        if frozen and self._last is not None:
            return self._last
        frame_rng = np.random.default_rng([self.seed, 3, frame_index])
        field_c = self.scene(parts, t, frame_rng)
        sensed = self.sensor.expose(field_c, t, frame_rng, nucs_done, since_nuc)
        self._last = (to_centikelvin(sensed), self.agc(sensed, dt))
        return self._last

    def frames(self, script: Script, fps: float) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
        """(t, centikelvin uint16, AGC uint8) for every frame of the script."""
        for i in range(round(script.seconds * fps)):
            t = i / fps
            done = [s for s, _ in script.nucs if s <= t]
            frozen = any(s <= t < s + d for s, d in script.nucs)
            ck, g = self.shoot([(script, t)], t, 1.0 / fps, i, frozen, len(done), t - max(done, default=0.0))
            yield t, ck, g
