"""Camera self-test: on a schedule, prove each camera's path can still alert, without ever blinding or fooling
the real watch.

When a camera's test falls due, a SECOND detector for that camera is fed copies of its live frames with a
synthetic fall composited in (detector/inject.py); the real detector keeps seeing the untouched frames, so a
drill can neither hide a real fall nor be mistaken for one. Then:

- the test detector alerts near the synthetic person within `alert_within_s` of the entry -> a `water_entry`
  (or `person_in_water`) event with `drill: true`, through the same outbox and MQTT path as real alerts, so the
  drill also proves MQTT -> alerting -> SMS to the test group (alerting never pages the police for a drill);
- it does not, the camera has no frames, or the fall cannot be drawn -> `self_test_failed` (not a drill: the
  control room must see it), its message saying why.

Three parts, each testable alone: `SelfTestRun` (one test of one camera, fed frames, no threads, no clock of
its own), `SelfTestSchedule` (when each camera is due, from an injected `now`) and `SelfTester` (what the edge
worker holds: starts due runs, routes frames to them, turns outcomes into event payloads).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quaywatch.config import Camera, Site
from quaywatch.config.selftest import SelfTestConfig
from quaywatch.detector import Detector
from quaywatch.detector.inject import SyntheticFall
from quaywatch.detector.types import Detection
from quaywatch.simulator.falls import NoRoom

log = logging.getLogger(__name__)

EARLY_S = 0.5  # a detection this long before the computed entry still counts (the body's edge crosses first)
DEAD_FRACTION = 0.5  # more of the live frames than this flat or repeated: the camera itself cannot see anyone
FLAT_SPAN = {np.dtype(np.uint8): 3, np.dtype(np.uint16): 20}  # grey levels / centikelvin across the whole picture


@dataclass(frozen=True, slots=True)
class SelfTestOutcome:
    camera_id: str
    passed: bool
    t: float  # epoch seconds (frame time of the alert, or when the test gave up)
    message: str
    detection: Detection | None = None
    frame: np.ndarray | None = None  # the composited frame the alert came on: the drill's snapshot
    delay_s: float | None = None  # synthetic entry -> alert, seconds of frame time
    missed: bool = False  # the camera gave frames but the drill was not detected: worth another attempt


def camera_phase(camera_id: str) -> float:
    """A fixed fraction in [0, 1) per camera id: spreads the cameras' tests over the jitter window, stable
    across restarts (so a restarting worker does not re-draw every camera's slot)."""
    return int.from_bytes(hashlib.sha256(camera_id.encode()).digest()[:8], "big") / 2.0**64


class SelfTestRun:
    """One self-test of one camera. Feed it every frame the real detector gets; `check(now)` from a timer."""

    def __init__(self, camera: Camera, cfg: SelfTestConfig, started: float, seed: int = 0, fps: float | None = None,
                 attempt: int = 1):
        self.camera = camera
        self.attempt = attempt
        self.cfg = cfg
        self.started = started  # wall clock when the test began (for 'no frames')
        self.seed = seed
        self.fps = fps or camera.fps or 9.0
        self.frames = 0
        self.dead_frames = 0  # live frames that were one flat value or a repeat of the one before
        self._prev_sample: np.ndarray | None = None
        self.last_frame_at: float | None = None  # wall clock of the last frame fed
        self.fall: SyntheticFall | None = None
        self._detector: Detector | None = None
        self._t0 = 0.0
        # recent drill frames: a crossing is confirmed a moment after it happened, and the snapshot must show
        # the frame the detection is about
        self._recent: deque[tuple[float, np.ndarray]] = deque(maxlen=int(2 * self.fps) + 1)
        self.outcome: SelfTestOutcome | None = None

    def feed(self, t: float, frame: np.ndarray, now: float | None = None) -> SelfTestOutcome | None:
        """`t` is the frame's time (epoch seconds live, clip seconds in replay). Returns the outcome once known.
        Never raises: whatever goes wrong is a failed self-test with its reason."""
        if self.outcome is not None:
            return self.outcome
        self.last_frame_at = time.time() if now is None else now
        try:
            return self._feed(t, frame)
        except Exception as exc:  # a broken test must fail loudly, never take the real watch down with it
            log.exception("%s: self-test crashed", self.camera.id)
            return self.fail(t, f"self-test error on frame {self.frames}: {type(exc).__name__}: {exc}")

    def _feed(self, t: float, frame: np.ndarray) -> SelfTestOutcome | None:
        if self.fall is None:
            try:
                self.fall = SyntheticFall(self.camera, frame, seed=self.seed, start_s=self.cfg.warmup_s)
            except NoRoom as exc:
                return self.fail(t, f"cannot draw a synthetic fall on this camera: {exc}")
            self._detector = Detector(self.camera, fps=self.fps, frame_shape=frame.shape[:2])
            self._t0 = t
        s = t - self._t0
        if frame.shape[:2] != self.fall.shape or frame.dtype != self.fall.dtype:
            return self.fail(t, f"the stream changed to {frame.shape[1]}x{frame.shape[0]} {frame.dtype} mid-test")
        self.frames += 1
        if self._dead(frame) and s > self.cfg.warmup_s and self.dead_frames > DEAD_FRACTION * self.frames:
            # The drill draws a person into the copy, so it would 'pass' on a dead sensor: judge the live picture.
            return self.fail(t, f"self-test failed: the camera's own picture is flat or frozen in {self.dead_frames} "
                                 f"of {self.frames} frames: it could not show a real fall at {self.camera.name}")
        drill_frame = self.fall.composite(frame, s)  # a copy: `frame` is what the real detector sees
        result = self._detector.process(drill_frame, t)
        self._recent.append((t, drill_frame))
        for det in result.detections:
            if s >= self.fall.entry_s - EARLY_S and self.fall.near_fall(det.bbox, s):
                delay = (det.t - self._t0) - self.fall.entry_s
                self.outcome = SelfTestOutcome(
                    self.camera.id, True, det.t,
                    f"self-test drill: synthetic fall detected as {det.kind} {delay:.1f} s after it crossed "
                    f"the quay line at {self.camera.name}",
                    detection=det, frame=min(self._recent, key=lambda item: abs(item[0] - det.t))[1],
                    delay_s=round(delay, 3))
                return self.outcome
            # anything else is real life seen through the drill copy: the real detector reports it itself
        if s > self.fall.entry_s + self.cfg.alert_within_s:
            if result.frozen:
                why = "the picture is frozen"
            elif self.frames < 3:
                why = "too few frames"
            else:
                why = "the detector did not alert"
            return self.fail(t, f"self-test failed: {why}: no alert within {self.cfg.alert_within_s:g} s of a "
                                 f"synthetic fall at {self.camera.name} ({self.frames} frames tested, attempt "
                                 f"{self.attempt} of {self.cfg.attempts})", missed=True)
        return None

    def _dead(self, frame: np.ndarray) -> bool:
        """Is this live frame one flat value (a dead sensor, a black stream) or a repeat of the last one?"""
        sample = frame[::8, ::8]
        span = int(sample.max()) - int(sample.min())
        repeat = self._prev_sample is not None and np.array_equal(sample, self._prev_sample)
        self._prev_sample = sample.copy()
        dead = span < FLAT_SPAN.get(frame.dtype, 3) or repeat
        self.dead_frames += dead
        return dead

    def check(self, now: float) -> SelfTestOutcome | None:
        """The camera went quiet: a test that gets no frames fails ('no frames') instead of waiting forever."""
        if self.outcome is not None:
            return self.outcome
        limit = self.cfg.no_frames_after_s
        if self.last_frame_at is None and now - self.started >= limit:
            return self.fail(now, f"self-test failed: no frames from the camera in {limit:g} s")
        if self.last_frame_at is not None and now - self.last_frame_at >= limit:
            return self.fail(now, f"self-test failed: no frames from the camera for {now - self.last_frame_at:.0f} s "
                                   f"mid-test ({self.frames} frames tested)")
        return None

    def fail(self, t: float, message: str, missed: bool = False) -> SelfTestOutcome:
        self.outcome = SelfTestOutcome(self.camera.id, False, t, message[:500], missed=missed)
        return self.outcome


class SelfTestSchedule:
    """When each camera's next test is due: start + first_after_s + phase * jitter_s, then every interval_s."""

    def __init__(self, cfg: SelfTestConfig, camera_ids: list[str], start: float):
        self.cfg = cfg
        self.next_due = {cid: start + cfg.first_after_s + camera_phase(cid) * cfg.jitter_s
                         for cid in camera_ids if cfg.tests(cid)}

    def due(self, now: float) -> list[str]:
        """Cameras due now; each is moved to its next slot (a worker that slept through several slots runs one
        test, not a burst)."""
        out = []
        for cid, at in self.next_due.items():
            if at <= now:
                out.append(cid)
                steps = int((now - at) // self.cfg.interval_s) + 1
                self.next_due[cid] = at + steps * self.cfg.interval_s
        return out


class SelfTester:
    """What the edge worker holds. `frame()` from the detection thread right after the real detector ran on the
    frame; `tick()` from a timer (the health ticker); `publish(camera_id, payload)` is the worker's outbox path."""

    def __init__(self, site: Site, camera_ids: list[str], publish: Callable[[str, dict], None],
                 cfg: SelfTestConfig | None = None, clock: Callable[[], float] = time.time):
        self.site = site
        self.cfg = cfg or getattr(site.edge, "selftest", None) or SelfTestConfig()
        self.cameras = {cid: site.camera(cid) for cid in camera_ids}
        self.publish = publish
        self.clock = clock
        self.schedule = SelfTestSchedule(self.cfg, list(self.cameras), clock())
        self.outcomes: list[SelfTestOutcome] = []  # every finished test, oldest first (stats, tests)
        self._runs: dict[str, SelfTestRun] = {}
        self._requested: set[str] = set()
        self._count = 0
        self._lock = threading.Lock()

    def request(self, camera_id: str) -> None:
        """Test this camera at the next tick, whatever the schedule says (CLI, operator)."""
        if camera_id not in self.cameras:
            raise KeyError(camera_id)
        with self._lock:
            self._requested.add(camera_id)

    def running(self, camera_id: str) -> bool:
        with self._lock:
            return camera_id in self._runs

    def frame(self, camera_id: str, t: float, frame: np.ndarray) -> None:
        # Called by every detection thread for every frame: no lock shared between them here. A dict lookup
        # is atomic in CPython, and a run added or finished meanwhile is seen at the next frame.
        run = self._runs.get(camera_id)
        if run is None:
            return
        outcome = run.feed(t, frame, self.clock())
        if outcome is not None:
            self._finish(run, outcome)

    def tick(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        with self._lock:
            due = set(self.schedule.due(now)) | self._requested
            self._requested.clear()
            for cid in sorted(due):
                if cid in self._runs:
                    continue  # still testing: the slot is taken by the running test
                self._runs[cid] = self._new_run(cid, now)
                log.info("%s: self-test started (drill)", cid)
            runs = list(self._runs.values())
        for run in runs:
            outcome = run.check(now)
            if outcome is not None:
                self._finish(run, outcome)

    def _new_run(self, camera_id: str, now: float, attempt: int = 1) -> SelfTestRun:
        self._count += 1
        seed = int(camera_phase(camera_id) * 2**31) + self._count  # a different stretch of quay each time
        return SelfTestRun(self.cameras[camera_id], self.cfg, now, seed=seed, attempt=attempt)

    def _finish(self, run: SelfTestRun, outcome: SelfTestOutcome) -> None:
        with self._lock:
            if self._runs.get(run.camera.id) is not run:
                return  # already finished by the other thread
            self.outcomes.append(outcome)
            del self.outcomes[:-100]
            if outcome.missed and run.attempt < self.cfg.attempts:
                log.info("%s: %s; drilling again", run.camera.id, outcome.message)
                self._runs[run.camera.id] = self._new_run(run.camera.id, self.clock(), run.attempt + 1)
                return
            del self._runs[run.camera.id]
        payload = outcome_event(self.site.site.id, run.camera, outcome)
        level = logging.INFO if outcome.passed else logging.WARNING
        log.log(level, "%s: %s (event %s)", run.camera.id, outcome.message, payload["event_id"])
        try:
            self.publish(run.camera.id, payload)
        except Exception:  # the outbox is on a broken disk: the worker logs those; say which event was lost
            log.exception("%s: could not store the self-test event", run.camera.id)


def outcome_event(site_id: str, camera: Camera, outcome: SelfTestOutcome, max_snapshot_bytes: int = 40_000) -> dict:
    """The wire payload: a drill alert (drill: true, snapshot of the composited frame) or self_test_failed."""
    from quaywatch.edge.events import camera_event, detection_event  # the edge's own payload builders

    if not outcome.passed or outcome.detection is None:
        return camera_event(site_id, camera, "self_test_failed", outcome.t, outcome.message)
    evidence = None
    if outcome.frame is not None:
        from quaywatch.edge.evidence import snapshot_jpeg

        jpeg = snapshot_jpeg(outcome.frame, camera, outcome.detection, max_snapshot_bytes)
        evidence = {"snapshot_jpeg_b64": base64.b64encode(jpeg).decode("ascii")}
    h, w = outcome.frame.shape[:2] if outcome.frame is not None else (0, 0)
    size = (w, h) if w and h else tuple(camera.resolution or (1, 1))
    payload = detection_event(site_id, camera, outcome.detection, size, evidence, drill=True)
    payload["message"] = outcome.message[:500]
    return payload
