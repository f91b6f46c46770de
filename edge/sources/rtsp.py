"""rtsp:// through PyAV (FFmpeg): TCP interleaved, open and read timeouts that really fire, grey frames
(the decoder's Y plane, no conversion: `decode.VideoReader`), thinned to the camera's `detect_fps`, every
packet kept for evidence, timed by the camera's own clock (the stream's PTS on the wall clock,
`clock.StreamClock`), not by when they happened to arrive.

PyAV's `timeout=(open_s, read_s)` installs FFmpeg's interrupt callback, so a camera that accepts the
connection and then says nothing (SIGSTOPped, hung firmware) ends the call with an error instead of a hang.
"""

from __future__ import annotations

import contextlib
import threading
import time

import av

from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.sources.base import RawFrame, SourceError, SourceTimeout
from quaywatch.edge.sources.clock import StreamClock
from quaywatch.edge.sources.decode import VideoReader
from quaywatch.edge.sources.redact import redact, with_credentials


class RtspSource:
    live = True

    def __init__(self, url: str, config: CaptureConfig, *, user: str | None = None, password: str | None = None,
                 description: str | None = None, ring: EncodedRing | None = None, detect_fps: float | None = None):
        self._user = user if user is not None else _user_of(url)
        self._password = password
        self._url = with_credentials(url, self._user, password) if password else url
        self._config = config
        self.description = description or redact(url, password)
        self.nominal_fps: float | None = None
        self.resolution: tuple[int, int] | None = None
        self.ring = ring  # the camera's evidence ring: every packet goes in (H.264/H.265)
        self.detect_fps = detect_fps
        self._container = None
        self._reader: VideoReader | None = None
        self.clock = StreamClock()  # frame times from the stream's PTS, anchored afresh at every open
        self._lock = threading.Lock()

    def open(self) -> None:
        self.close()
        # small probe: FFmpeg would otherwise buffer ~5 s of a 9 fps stream before returning from open
        options = {"rtsp_transport": "tcp", "fflags": "nobuffer", "flags": "low_delay",
                   "analyzeduration": "500000", "probesize": "65536"}
        if self._url.startswith("rtsp"):
            options["rtsp_flags"] = "prefer_tcp"
        started = time.monotonic()
        try:
            container = av.open(self._url, options=options,
                                timeout=(self._config.open_timeout_s, self._config.read_timeout_s))
        except Exception as exc:
            raise self._error("open", exc, time.monotonic() - started, self._config.open_timeout_s) from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.description}: the stream has no video")
        stream = container.streams.video[0]
        # one decoding thread per camera: frame threading would hold back frames (latency), and many
        # cameras share the cores anyway
        stream.codec_context.thread_count = 1
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.nominal_fps = float(rate) if rate else None
        self.resolution = (stream.codec_context.width, stream.codec_context.height)
        self.clock.reset()  # a new session: a new stream clock
        reader = VideoReader(container, stream, detect_fps=self.detect_fps, ring=self.ring, unit_time=self._unit_time)
        with self._lock:
            self._container = container
            self._reader = reader

    def _unit_time(self, pts: float | None, arrival: float) -> float:
        """A packet's time on the wall clock, as its frame will be stamped (without moving the clock)."""
        offset = self.clock.offset
        return pts + offset if pts is not None and offset is not None else arrival

    def read(self) -> RawFrame:
        reader = self._reader
        if reader is None:
            raise SourceError(f"{self.description}: not open")
        started = time.monotonic()
        try:
            image, pts, arrived, decode_s = reader.read()  # waits for the network, bounded by the read timeout
        except StopIteration:
            raise SourceError("the camera ended the stream") from None
        except Exception as exc:
            raise self._error("read", exc, time.monotonic() - started, self._config.read_timeout_s) from None
        return RawFrame(self.clock.stamp(pts, arrived), image, pts, decode_s)

    @property
    def thinned(self) -> bool:
        """Frames come already thinned to `detect_fps` (the capture need not)."""
        return True

    def close(self) -> None:
        with self._lock:
            container, self._container, self._reader = self._container, None, None
        if container is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone anyway
                container.close()

    def interrupt(self) -> None:
        """Nothing to do: a blocked read returns by itself within the read timeout."""

    def _error(self, what: str, exc: Exception, waited: float, limit: float) -> SourceError:
        text = redact(f"{type(exc).__name__}: {exc}", self._password)
        if "401" in text or "Unauthorized" in text:
            return SourceError(f"the camera refused the credentials (wrong user or password; {text})")
        if waited >= limit * 0.9 or isinstance(exc, TimeoutError) or "Immediate exit" in text:
            return SourceTimeout(f"no answer within {limit:g} s ({what} timeout; {text})")
        return SourceError(f"{what} failed: {text}")


def _user_of(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    user = urlsplit(url).username
    return unquote(user) if user else None
