"""One camera's capture loop in its own thread: open with timeouts, read, watch for a frozen picture, reconnect.

A hung camera blocks only its own thread (and only until its read timeout fires); `stop()` never waits
for a camera. Nothing raises out of the thread: every failure becomes a health state with a reason.

Health:
  online    frames arrive and change.
  degraded  the picture froze (the same frame again and again, or a stream clock that stopped), or a
            read failed and we are reconnecting; a short glitch stays here.
  offline   the camera cannot be opened, or has been degraded for `offline_after_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from quaywatch.config import Camera
from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.sources import open_source
from quaywatch.edge.sources.base import EndOfStream, FrameSource, RawFrame, SourceError
from quaywatch.edge.sources.decode import Thinner
from quaywatch.edge.sources.redact import redact

log = logging.getLogger(__name__)

State = Literal["starting", "online", "degraded", "offline", "stopped"]


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    index: int  # 0, 1, 2... over the capture's life, across reconnects
    t: float  # wall-clock epoch seconds of capture, or clip time for fast replay
    frame: np.ndarray  # uint8 grey or uint16 centikelvin, (height, width)


@dataclass(frozen=True, slots=True)
class CaptureStats:
    camera_id: str
    state: State
    fps: float  # measured over the last few seconds of delivered frames
    decode_ms: float  # mean CPU time decoding one delivered frame (not the network wait), recent frames
    frames: int  # delivered to on_frame
    dropped: int  # read but not delivered: a frozen picture's repeats (short repeats are delivered)
    reconnects: int  # successful re-opens after a failure
    errors: int  # open/read failures (each counted, none raised)
    last_frame_age_s: float | None  # since the last new picture; None before the first
    last_reconnect_s: float | None  # how long the last outage lasted, failure to first new frame
    source: str  # redacted description


@dataclass(frozen=True, slots=True)
class CameraHealth:
    camera_id: str
    state: Literal["online", "degraded", "offline"]
    reason: str
    stats: CaptureStats


class CameraCapture:
    def __init__(
        self,
        camera: Camera,
        config: CaptureConfig,
        on_frame: Callable[[CapturedFrame], None],
        on_health: Callable[[CameraHealth], None],
        *,
        realtime: bool = True,
        source: FrameSource | None = None,  # for tests and the simulator; default from camera.source
        ring: EncodedRing | None = None,  # the camera's evidence ring, for sources that read packets
    ):
        self.camera = camera
        self.config = config
        self._on_frame = on_frame
        self._on_health = on_health
        self._source = source or open_source(camera, config, realtime=realtime, ring=ring)
        # a source that decodes a stream thins to detect_fps itself (before decoding); others are thinned here
        self._thin = Thinner(None if getattr(self._source, "thinned", False) else camera.detect_fps)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state: State = "starting"
        self._frames = 0
        self._dropped = 0
        self._reconnects = 0
        self._errors = 0
        self._last_frame_mono: float | None = None
        self._delivered: deque[float] = deque(maxlen=64)  # monotonic times, for fps
        self._decode: deque[float] = deque(maxlen=64)
        self._degraded_since: float | None = None
        self._outage_since: float | None = None
        self._last_reconnect_s: float | None = None
        self._picture: RawFrame | None = None  # the last delivered frame, to tell a frozen picture
        self._repeats = 0
        self._frozen_since: float | None = None
        self.finished = threading.Event()  # set when the thread ends (stop, or a replay's end)

    # -- public -------------------------------------------------------------------------------

    def start(self) -> CameraCapture:
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.camera.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to end; waits at most `timeout`. A hung read ends by itself when its read timeout
        fires and the thread then closes the source (the thread is a daemon: it never holds the process)."""
        self._stop.set()
        try:
            self._source.interrupt()
        except Exception as exc:
            log.debug("%s: interrupt: %s", self._source.description, exc)
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self) -> CaptureStats:
        with self._lock:
            now = time.monotonic()
            fps = 0.0
            if len(self._delivered) >= 2 and now - self._delivered[-1] < 2 * self.config.max_frame_age_s:
                span = self._delivered[-1] - self._delivered[0]
                fps = (len(self._delivered) - 1) / span if span > 0 else 0.0
            return CaptureStats(
                camera_id=self.camera.id,
                state=self._state,
                fps=round(fps, 2),
                decode_ms=round(1000 * sum(self._decode) / len(self._decode), 2) if self._decode else 0.0,
                frames=self._frames,
                dropped=self._dropped,
                reconnects=self._reconnects,
                errors=self._errors,
                last_frame_age_s=None if self._last_frame_mono is None else round(now - self._last_frame_mono, 3),
                last_reconnect_s=self._last_reconnect_s,
                source=self._source.description,
            )

    @property
    def state(self) -> State:
        return self._state

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.config.reconnect_min_s
        opened_once = False
        try:
            while not self._stop.is_set():
                try:
                    self._source.open()
                except Exception as exc:  # SourceError, or a camera answering something no driver expected
                    self._failed(f"cannot open {self._source.description}: {_why(exc)}", opening=True)
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.config.reconnect_max_s)
                    continue
                if opened_once:
                    self._reconnects += 1
                opened_once = True
                try:
                    if self._read_until_failure():
                        delay = self.config.reconnect_min_s  # it worked for a while: start backoff afresh
                    else:
                        delay = min(delay * 2, self.config.reconnect_max_s)
                except EndOfStream:
                    self._set_state("offline", f"{self._source.description}: end of clip")
                    return
                finally:
                    self._close_quietly()
                if not self._stop.is_set():
                    self._stop.wait(delay)
        except Exception as exc:  # a bug must not kill the thread silently
            text = redact(f"{type(exc).__name__}: {exc}")  # driver errors may quote the URL with its password
            log.error("%s: capture crashed: %s", self.camera.id, text)
            log.debug("%s: capture crash details", self.camera.id, exc_info=True)
            self._set_state("offline", f"capture crashed: {text}")
        finally:
            self._close_quietly()
            with self._lock:
                self._state = "stopped" if self._stop.is_set() else self._state
            self.finished.set()

    def _read_until_failure(self) -> bool:
        """Read frames until a read fails, the picture stays frozen too long, or we are stopped.
        True when a fresh (moving) picture came through, i.e. the session was worth having.

        The last delivered picture is kept across reconnects: a camera that comes back still showing the
        frozen picture is not called online again (no online/offline flapping), only one whose picture moves.
        """
        same_session = False  # stream clocks (pts) compare only within one session
        session_start = time.monotonic()
        fresh = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                raw = self._source.read()
            except EndOfStream:
                raise
            except Exception as exc:  # a read error, or a driver surprised by what the camera sent: reconnect
                if not self._stop.is_set():
                    self._failed(f"{self._source.description}: {_why(exc)}", opening=False)
                return fresh
            now = time.monotonic()
            previous = self._picture
            new_picture = previous is None or not _same_picture(previous, raw, self.config.frozen_diff, same_session)
            if new_picture:
                self._repeats, self._frozen_since = 0, None
                self._picture, same_session, fresh = raw, True, True
            else:
                self._repeats += 1
                self._frozen_since = self._frozen_since or now
                if self._repeats >= self._frozen_repeats() or now - self._frozen_since >= self.config.max_frame_age_s:
                    with self._lock:
                        self._dropped += 1  # a dead picture is not fed to the detector
                    why = ("stream clock stopped" if same_session and raw.pts is not None and raw.pts == previous.pts
                           else f"the same picture {self._repeats + 1} times")
                    self._degraded(f"{self._source.description}: picture frozen ({why})")
                    since = max(self._degraded_since or now, session_start)
                    if now - since >= self.config.offline_after_s:
                        self._failed(f"{self._source.description}: picture frozen for "
                                     f"{now - self._frozen_since:.0f} s", opening=True)
                        return fresh  # reconnect: a stuck encoder often recovers on a fresh session
                    continue
                # a short repeat (a sensor's NUC pause) is delivered as sent, exactly as replay would see it
            if not self._thin.due(raw.t):
                continue  # the detector runs slower than the stream (detect_fps); the watchdog saw it
            self._thin.take(raw.t)
            with self._lock:
                index = self._frames
                self._frames += 1
                self._decode.append(raw.decode_s if raw.decode_s is not None else now - started)
                self._delivered.append(now)
                if new_picture:
                    self._last_frame_mono = now
                    if self._outage_since is not None:
                        self._last_reconnect_s = round(now - self._outage_since, 3)
                        self._outage_since = None
            if new_picture and self._state != "online":
                self._check_resolution(raw.frame)
                self._set_state("online", f"{self._source.description}: frames arriving")
            try:
                self._on_frame(CapturedFrame(index, raw.t, raw.frame))
            except Exception:
                log.exception("%s: on_frame failed (frame %d dropped)", self.camera.id, index)
        return fresh

    def _check_resolution(self, frame: np.ndarray) -> None:
        """The water polygon and quay line are in the configured resolution's pixels: say so when the
        stream disagrees (a camera reconfigured, or the wrong ONVIF profile)."""
        want = self.camera.resolution
        got = (frame.shape[1], frame.shape[0])
        if want is not None and tuple(want) != got:
            log.warning("%s: the stream is %dx%d but the site config says %dx%d: the water polygon and quay line "
                        "are drawn for %dx%d", self.camera.id, *got, *want, *want)

    def _frozen_repeats(self) -> int:
        if self.config.frozen_repeats:
            return self.config.frozen_repeats
        fps = self._source.nominal_fps or self.camera.fps or 9.0
        return max(3, round(fps * self.config.max_frame_age_s))

    # -- health -------------------------------------------------------------------------------

    def _failed(self, reason: str, *, opening: bool) -> None:
        with self._lock:
            self._errors += 1
            if self._outage_since is None:
                self._outage_since = time.monotonic()
        log.warning("%s: %s", self.camera.id, reason)
        if opening or self._state in ("starting", "offline"):
            self._set_state("offline", reason)
        else:
            self._degraded(reason)
            if self._degraded_since and time.monotonic() - self._degraded_since >= self.config.offline_after_s:
                self._set_state("offline", reason)

    def _degraded(self, reason: str) -> None:
        if self._state not in ("degraded", "offline"):
            self._degraded_since = time.monotonic()
            self._set_state("degraded", reason)

    def _set_state(self, state: Literal["online", "degraded", "offline"], reason: str) -> None:
        with self._lock:
            if self._state == state:
                return
            self._state = state
            if state == "online":
                self._degraded_since = None
        log.info("%s: %s (%s)", self.camera.id, state, reason)
        try:
            self._on_health(CameraHealth(self.camera.id, state, reason, replace(self.stats(), state=state)))
        except Exception:
            log.exception("%s: on_health failed", self.camera.id)

    def _close_quietly(self) -> None:
        try:
            self._source.close()
        except Exception as exc:
            log.debug("%s: close: %s", self._source.description, exc)


def _why(exc: Exception) -> str:
    """A source's own errors are already clear and redacted; anything else gets its type and is redacted."""
    return str(exc) if isinstance(exc, SourceError) else redact(f"{type(exc).__name__}: {exc}")


def _same_picture(a: RawFrame, b: RawFrame, max_diff: float, same_session: bool) -> bool:
    """A frozen camera hands back the old frame: the same pixels (give or take what re-encoding the same
    picture at a keyframe changes), or a stream clock that stopped. A live sensor's noise alone moves the
    pixels more than `max_diff` on average. Compared on every 4th pixel: the mean is as telling, 16x cheaper."""
    if same_session and a.pts is not None and b.pts is not None and b.pts <= a.pts:
        return True
    if a.frame.shape != b.frame.shape:
        return False
    x, y = a.frame[::4, ::4], b.frame[::4, ::4]
    if max_diff <= 0:
        return np.array_equal(x, y)
    return float(np.abs(x.astype(np.int32) - y).mean()) <= max_diff
