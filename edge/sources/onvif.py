"""onvif://user@host:port[?profile=TOKEN]: ask the camera for its stream over ONVIF, then read it as RTSP.

The stream URI is asked afresh at every (re)connect: a camera that rebooted may hand out a new one.
"""

from __future__ import annotations

from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.onvif_client import OnvifDevice, OnvifError, parse_onvif_url, query_device
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.sources.base import RawFrame, SourceError, SourceTimeout
from quaywatch.edge.sources.rtsp import RtspSource


class OnvifSource:
    live = True

    thinned = True  # the RTSP stream behind it thins to detect_fps

    def __init__(self, url: str, config: CaptureConfig, *, password: str | None = None,
                 ring: EncodedRing | None = None, detect_fps: float | None = None):
        self.target = parse_onvif_url(url)
        self._url = url
        self._config = config
        self._password = password
        self.description = self.target.display
        self.nominal_fps: float | None = None
        self.device: OnvifDevice | None = None
        self._rtsp: RtspSource | None = None
        self.ring, self.detect_fps = ring, detect_fps

    def open(self) -> None:
        self.close()
        try:
            self.device = query_device(self._url, self._password, profile=self._config.onvif_profile,
                                       timeout_s=self._config.open_timeout_s)
        except OnvifError as exc:
            text = str(exc).removeprefix(f"{self.description}: ")  # the capture names the camera already
            raise (SourceTimeout if "no ONVIF answer" in text else SourceError)(text) from None
        rtsp = RtspSource(self.device.stream_uri, self._config, user=self.target.user, password=self._password,
                          description=f"{self.description} ({self.device.profile.token})",
                          ring=self.ring, detect_fps=self.detect_fps)
        rtsp.open()
        self._rtsp = rtsp
        self.nominal_fps = rtsp.nominal_fps or self.device.profile.fps

    def read(self) -> RawFrame:
        if self._rtsp is None:
            raise SourceError(f"{self.description}: not open")
        return self._rtsp.read()

    def close(self) -> None:
        rtsp, self._rtsp = self._rtsp, None
        if rtsp is not None:
            rtsp.close()

    def interrupt(self) -> None:
        """A blocked read ends at its read timeout; the ONVIF query at the open timeout."""
