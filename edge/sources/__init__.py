"""Frame sources by URL scheme: rtsp(s)://, onvif://, sim://SCENE?seed=N, or a clip path (file://)."""

from __future__ import annotations

from urllib.parse import urlsplit

from quaywatch.config import Camera
from quaywatch.config.capture import CaptureConfig
from quaywatch.config.secrets import secret_from_env
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.sources.base import EndOfStream, FrameSource, RawFrame, SourceError, SourceTimeout
from quaywatch.errors import QuaywatchError

__all__ = ["EndOfStream", "FrameSource", "RawFrame", "SourceError", "SourceTimeout", "camera_password", "open_source"]


def camera_password(camera: Camera) -> str | None:
    """The password from the environment variable the config names; a clear error when it is unset."""
    return secret_from_env(camera.password_env, f"camera {camera.id}: password_env")


def open_source(camera: Camera, config: CaptureConfig, *, realtime: bool = True,
                ring: EncodedRing | None = None) -> FrameSource:
    """Build (not yet open) the source for `camera.source`; `realtime` paces file replay at the clip's fps.
    Sources that read an encoded stream keep its packets in `ring` (evidence) and thin their frames to the
    camera's `detect_fps` before decoding where the codec allows."""
    url = camera.source
    keep = {"ring": ring, "detect_fps": camera.detect_fps}
    scheme = urlsplit(url).scheme if "://" in url else "file"
    if scheme in ("rtsp", "rtsps"):
        from quaywatch.edge.sources.rtsp import RtspSource

        return RtspSource(url, config, password=camera_password(camera), **keep)
    if scheme == "onvif":
        from quaywatch.edge.sources.onvif import OnvifSource

        return OnvifSource(url, config, password=camera_password(camera), **keep)
    if scheme == "sim":
        from quaywatch.edge.sources.sim import SimSource

        return SimSource(url, realtime=realtime)
    if scheme == "file":
        from quaywatch.edge.sources.replay import ReplaySource

        path = urlsplit(url).path if url.startswith("file://") else url
        return ReplaySource(path, realtime=realtime, **keep)
    raise QuaywatchError(f"camera {camera.id}: unknown source scheme {scheme!r}")
