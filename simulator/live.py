"""A simulated camera that never ends: harbour life with a fall roughly every minute.

    scene = LiveScene("aalborg", seed=1, fps=9)      # also "pier" (640x512), "lepton" (160x120, 16-bit)
    t, frame = scene.next_frame()                    # uint8 AGC (bits=8) or uint16 centikelvin (bits=16)
    for ev in scene.pop_events(): ...                # ground truth that has happened by now

Time is split into episodes of `fall_every_s` seconds, each a script with a fall (now and then one that
sinks, or a swimmer instead) among walkers, birds and boats. The previous episode keeps playing under the
next so people who are mid-walk at the boundary walk on. Frames depend only on (scene, seed, fps, index).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from quaywatch.config.recording import TruthEvent
from quaywatch.simulator.climate import SEASONS, make_climate
from quaywatch.simulator.engine import Renderer, Script
from quaywatch.simulator.falls import NoRoom
from quaywatch.simulator.scenarios import add_boat, add_ducks, add_gull, build_script
from quaywatch.simulator.scenes import scene_geometry


class LiveScene:
    def __init__(self, scene: str = "aalborg", seed: int = 0, fps: float = 9.0,
                 resolution: tuple[int, int] | None = None, bits: int | None = None, season: str | None = None,
                 night: bool = True, fall_every_s: float = 60.0):
        self.scene = scene
        self.seed = int(seed)
        self.fps = float(fps)
        self.geo = scene_geometry(scene, resolution)
        self.size = (self.geo.width, self.geo.height)
        self.bits = bits or (16 if scene == "lepton" else 8)
        rng = np.random.default_rng([self.seed, 0])
        season = season or SEASONS[int(rng.integers(len(SEASONS)))]
        self.climate = make_climate(rng, season, night)
        self.renderer = Renderer(self.geo, self.climate, self.seed)
        self.episode_s = float(fall_every_s)
        self.index = 0
        self._episodes: dict[int, Script] = {}
        self._nucs_done = 0
        self._last_nuc = 0.0
        self._pending: list[TruthEvent] = []
        self.events: list[TruthEvent] = []  # every event so far, scene time in seconds

    def _episode(self, k: int) -> Script:
        if k not in self._episodes:
            rng = np.random.default_rng([self.seed, 100, k])
            kind = ["fall", "fall", "fall_submerge", "fall", "swimmer", "fall"][k % 6]
            for attempt in range(5):
                try:
                    script = build_script(kind if attempt < 4 else "fall", self.geo, self.climate, rng,
                                          self.episode_s, self.fps)
                    break
                except NoRoom:
                    continue
            else:
                script = Script(self.episode_s)
            # the harbour's other life: a gull or two, sometimes ducks or a boat, now and then a NUC
            for t0 in rng.uniform(0, self.episode_s, int(rng.integers(0, 3))):
                add_gull(script, self.geo, rng, self.climate, float(t0))
            if rng.random() < 0.3:
                add_ducks(script, self.geo, rng, self.climate, 0.0, self.episode_s)
            if rng.random() < 0.15:
                add_boat(script, self.geo, rng, self.climate, float(rng.uniform(0, self.episode_s)))
            if rng.random() < 0.3:
                script.nucs.append((float(rng.uniform(1, self.episode_s - 2)), float(rng.uniform(0.3, 1.0))))
            self._episodes = {j: s for j, s in self._episodes.items() if j >= k - 1}
            self._episodes[k] = script
        return self._episodes[k]

    def next_frame(self) -> tuple[float, np.ndarray]:
        t = self.index / self.fps
        k = int(t // self.episode_s)
        current = self._episode(k)
        local = t - k * self.episode_s
        parts = [(current, local)]
        if k > 0:
            parts.insert(0, (self._episode(k - 1), local + self.episode_s))
        nuc = [(s, d) for s, d in current.nucs if s <= local]
        frozen = any(s <= local < s + d for s, d in current.nucs)
        if nuc and k * self.episode_s + nuc[-1][0] > self._last_nuc:
            self._nucs_done += 1
            self._last_nuc = k * self.episode_s + nuc[-1][0]
        ck, g = self.renderer.shoot(parts, t, 1.0 / self.fps, self.index, frozen, self._nucs_done, t - self._last_nuc)
        for ev in current.events:
            t_ev = round(k * self.episode_s + ev.t, 3)
            if t_ev <= t and all(e.t != t_ev for e in self.events):
                happened = TruthEvent(kind=ev.kind, t=t_ev)
                self.events.append(happened)
                self._pending.append(happened)
        self.index += 1
        return t, (ck if self.bits == 16 else g)

    def pop_events(self) -> list[TruthEvent]:
        """Ground-truth events that happened since the last call (t = seconds since the scene started)."""
        out, self._pending = self._pending, []
        return out

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        while True:
            yield self.next_frame()


SimulatedScene = LiveScene


def from_url(url: str, fps: float = 9.0, resolution: tuple[int, int] | None = None) -> LiveScene:
    """`sim://aalborg?seed=1` -> LiveScene("aalborg", seed=1)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return LiveScene((parts.netloc + parts.path).strip("/"), seed=int(q.get("seed", 0)),
                     fps=float(q.get("fps", fps)), resolution=resolution)
