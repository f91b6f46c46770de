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

    def scene(self, script: Script, t: float, frame_rng: np.random.Generator) -> np.ndarray:
        """The true apparent temperatures (°C) at time t, before the sensor."""
        stage = Stage(self.geo, self.climate, self.background.water, script.wet_ground or script.rain > 0)
        stage.field = self.background.at(t)
        for actor in script.actors:
            if actor.start - 1.0 <= t <= actor.end + 1.0:
                actor.draw(stage, t)
        if script.rain > 0:
            rain(stage, frame_rng, script.rain)
        return stage.field

    def frames(self, script: Script, fps: float, t_offset: float = 0.0, index_offset: int = 0,
               nucs_before: int = 0) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
        """(t, centikelvin uint16, AGC uint8) for every frame of the script."""
        n = round(script.seconds * fps)
        for i in range(n):
            t = i / fps
            done = [s for s, _ in script.nucs if s + 0 <= t]
            frozen = any(s <= t < s + d for s, d in script.nucs)
            if frozen and self._last is not None:
                ck, g = self._last  # the shutter is closed: the camera repeats its last frame
                yield t, ck, g
                continue
            frame_rng = np.random.default_rng([self.seed, 3, index_offset + i])
            field_c = self.scene(script, t, frame_rng)
            last_nuc = max(done, default=0.0)
            sensed = self.sensor.expose(field_c, t + t_offset, frame_rng, nucs_before + len(done), t - last_nuc)
            ck = to_centikelvin(sensed)
            g = self.agc(sensed, 1.0 / fps)
            self._last = (ck, g)
            yield t, ck, g
