"""Is a camera dark? A blind camera is itself a safety problem, so it becomes an event, not just a status.

The capture reports online / degraded / offline (published retained as the camera's status). Separately,
a camera that has delivered no fresh frame for `offline_after_s` -- never opened, unplugged, or frozen
(the capture withholds repeated frames) -- raises one `camera_offline` event, and one `camera_online`
when fresh frames flow again. Pure logic with the clock passed in, so it is tested without waiting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HealthEvent:
    kind: str  # camera_offline | camera_online
    t: float  # wall-clock epoch seconds the event is about
    message: str


class DarkCameraWatch:
    def __init__(self, camera_id: str, offline_after_s: float, now: float, startup_grace_s: float = 0.0):
        """`startup_grace_s`: extra time before the first frame ever, for the camera to be opened
        (ONVIF + RTSP set-up takes seconds): a camera still connecting is not yet a blind camera."""
        self.camera_id = camera_id
        self.offline_after_s = offline_after_s
        self.startup_grace_s = startup_grace_s
        self.state = "starting"
        self.reason = "waiting for the first frame"
        self._last_frame = None  # epoch of the latest delivered frame
        self._since = now  # dark since: start, or the last frame
        self._raised = False
        self._lock = threading.Lock()

    @property
    def offline_raised(self) -> bool:
        return self._raised

    def frame(self, now: float) -> None:
        self._last_frame = now  # one assignment: cheap enough for every frame of every camera

    def health(self, state: str, reason: str) -> None:
        with self._lock:
            self.state, self.reason = state, reason

    def check(self, now: float) -> HealthEvent | None:
        with self._lock:
            last = self._last_frame
            dark_since = last if last is not None else self._since
            dark_for = now - dark_since
            limit = self.offline_after_s + (self.startup_grace_s if last is None else 0.0)
            if not self._raised and dark_for >= limit:
                self._raised = True
                what = "no frame since the worker started" if last is None else f"no fresh frame for {dark_for:.0f} s"
                return HealthEvent("camera_offline", now, f"camera {self.camera_id} is dark: {what} ({self.reason})")
            if self._raised and dark_for < self.offline_after_s and last is not None:
                self._raised = False
                return HealthEvent("camera_online", now, f"camera {self.camera_id} sends pictures again")
            return None
