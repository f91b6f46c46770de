"""sim://SCENE?seed=N: a live simulated thermal scene, frames made on demand by the simulator.

The simulator owns the scene (`quaywatch.simulator.live.LiveScene(scene, seed=..., fps=...)`, whose
`.next_frame()` returns (scene seconds, frame)); this adapter only paces it (realtime) and stamps the times.
"""

from __future__ import annotations

import importlib
import threading
import time
from urllib.parse import parse_qs, urlsplit

from quaywatch.edge.sources.base import RawFrame, SourceError


def parse_sim_url(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    scene = (parts.netloc + parts.path).strip("/")
    if not scene:
        raise SourceError(f"{url}: name a scene, e.g. sim://aalborg?seed=1 (scenes: aalborg, pier, lepton)")
    return scene, {k: v[-1] for k, v in parse_qs(parts.query).items()}


def live_scene(scene: str, params: dict[str, str]):
    """The simulator's live scene generator; a clear error while it is not available."""
    try:
        live = importlib.import_module("quaywatch.simulator.live")
    except ImportError as exc:
        raise SourceError(f"sim://{scene}: the live simulator is not available ({exc})") from None
    factory = getattr(live, "LiveScene", None) or getattr(live, "live_scene", None)
    if factory is None:
        raise SourceError("quaywatch.simulator.live has no LiveScene")
    kwargs = {"seed": int(params.get("seed", 0))}
    if "fps" in params:
        kwargs["fps"] = float(params["fps"])
    try:
        return factory(scene, **kwargs)
    except Exception as exc:
        raise SourceError(f"sim://{scene}: {type(exc).__name__}: {exc}") from None


class SimSource:
    live = True

    def __init__(self, url: str, *, realtime: bool = True):
        self.url = url
        self.realtime = realtime
        self.description = url
        self.nominal_fps: float | None = None
        self._scene = None
        self._t0 = 0.0
        self._closed = threading.Event()

    def open(self) -> None:
        scene, params = parse_sim_url(self.url)
        self._scene = live_scene(scene, params)
        self.nominal_fps = float(getattr(self._scene, "fps", 9.0))
        self._t0 = time.time()
        self._closed.clear()

    def read(self) -> RawFrame:
        if self._scene is None:
            raise SourceError(f"{self.description}: not open")
        t, frame = self._scene.next_frame()
        if not self.realtime:
            return RawFrame(t, frame, t)
        due = self._t0 + t
        self._closed.wait(max(0.0, due - time.time()))
        return RawFrame(due, frame, t)  # the scene's clock on the wall clock, not when the wait ended

    def interrupt(self) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        self._scene = None
