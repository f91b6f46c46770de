"""Ask an ONVIF camera what it is and where its stream is, with onvif-zeep-async (the `onvif` package).

One call, `query_device`, does what commissioning and every (re)connect need: device information,
media profiles, the chosen profile (highest-resolution H.264 unless a token is configured), its RTSP
stream URI and snapshot URI, and the camera clock's offset from ours (read before authenticating, so a
camera whose clock drifted still accepts our WS-Security tokens). Errors name the camera, never the password.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from quaywatch.edge.sources.redact import redact
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)
DEFAULT_PORT = 80


class OnvifError(QuaywatchError):
    """The ONVIF conversation failed: unreachable, refused credentials, or an answer we cannot use."""


class OnvifAuthError(OnvifError):
    pass


@dataclass(frozen=True)
class OnvifTarget:
    host: str
    port: int
    user: str | None
    profile: str | None  # ?profile=TOKEN in the URL

    @property
    def display(self) -> str:
        return f"onvif://{self.user + '@' if self.user else ''}{self.host}:{self.port}"


def parse_onvif_url(url: str) -> OnvifTarget:
    parts = urlsplit(url)
    if parts.scheme != "onvif" or not parts.hostname:
        raise OnvifError(f"{redact(url)}: expected onvif://user@host:port")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise OnvifError(f"{redact(url)}: the port is not a number") from None
    profile = parse_qs(parts.query).get("profile", [None])[-1]
    return OnvifTarget(parts.hostname, port, unquote(parts.username) if parts.username else None, profile)


@dataclass
class OnvifProfile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None


@dataclass
class OnvifDevice:
    address: str  # onvif://user@host:port
    manufacturer: str
    model: str
    firmware: str
    serial: str
    profiles: list[OnvifProfile]
    profile: OnvifProfile  # the one we stream
    stream_uri: str  # as the camera gave it (no credentials)
    snapshot_uri: str | None
    clock_offset_s: float | None  # camera clock minus ours; whole seconds resolution
    snapshot: bytes | None = field(default=None, repr=False)

    def as_json(self) -> dict:
        d = asdict(self)
        d.pop("snapshot")
        return d


def choose_profile(profiles: list[OnvifProfile], token: str | None = None) -> OnvifProfile:
    if token:
        for p in profiles:
            if p.token == token:
                return p
        raise OnvifError(f"the camera has no profile {token!r}; it has: {', '.join(p.token for p in profiles)}")
    h264 = [p for p in profiles if p.encoding.upper() == "H264"]
    if not h264:
        raise OnvifError("the camera offers no H.264 profile: " + ", ".join(f"{p.token} ({p.encoding})" for p in profiles))
    return max(h264, key=lambda p: (p.width * p.height, p.fps or 0))


def _profile(p) -> OnvifProfile:
    vec = p.VideoEncoderConfiguration
    res = getattr(vec, "Resolution", None) if vec is not None else None
    rate = getattr(vec, "RateControl", None) if vec is not None else None
    return OnvifProfile(
        token=p.token, name=str(p.Name),
        encoding=str(getattr(vec, "Encoding", "") or "") if vec is not None else "",
        width=int(res.Width) if res is not None else 0, height=int(res.Height) if res is not None else 0,
        fps=float(rate.FrameRateLimit) if rate is not None and rate.FrameRateLimit else None,
    )


async def _query(target: OnvifTarget, password: str | None, profile_token: str | None, snapshot: bool) -> OnvifDevice:
    import zeep.exceptions
    from onvif import ONVIFCamera
    from onvif.exceptions import ONVIFAuthError as LibAuthError
    from onvif.exceptions import ONVIFError as LibError

    cam = ONVIFCamera(target.host, target.port, target.user, password, no_cache=True, adjust_time=True)
    try:
        await cam.update_xaddrs()  # reads the camera clock first (adjust_time), then GetServices
        device = await cam.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        media = await cam.create_media_service()
        profiles = [_profile(p) for p in await media.GetProfiles()]
        chosen = choose_profile(profiles, profile_token or target.profile)
        req = media.create_type("GetStreamUri")
        req.ProfileToken = chosen.token
        req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        stream_uri = (await media.GetStreamUri(req)).Uri
        snapshot_uri = None
        jpeg = None
        try:
            snapshot_uri = await cam.get_snapshot_uri(chosen.token)
            if snapshot and snapshot_uri:
                jpeg = await cam.get_snapshot(chosen.token)
        except (LibError, zeep.exceptions.Fault) as exc:  # a camera without snapshots still streams
            log.info("%s: no snapshot: %s", target.display, redact(str(exc), password))
        offset = cam.dt_diff.total_seconds() if cam.dt_diff is not None else None
        return OnvifDevice(
            address=target.display, manufacturer=str(info.Manufacturer), model=str(info.Model),
            firmware=str(info.FirmwareVersion), serial=str(info.SerialNumber), profiles=profiles,
            profile=chosen, stream_uri=str(stream_uri), snapshot_uri=snapshot_uri,
            clock_offset_s=None if offset is None else round(offset, 1), snapshot=jpeg,
        )
    except zeep.exceptions.Fault as exc:
        text = f"{exc.message or exc}"
        if "not authorized" in text.lower() or "notauthorized" in str(exc.subcodes or "").lower():
            raise OnvifAuthError(
                f"{target.display}: the camera refused the credentials (wrong user or password)") from None
        raise OnvifError(f"{target.display}: the camera answered with a fault: {redact(text, password)}") from None
    except LibAuthError as exc:
        raise OnvifAuthError(f"{target.display}: the camera refused the credentials ({redact(str(exc), password)})") \
            from None
    except LibError as exc:
        raise OnvifError(f"{target.display}: {redact(str(exc), password)}") from None
    except OSError as exc:
        raise OnvifError(f"{target.display}: cannot reach the camera: {redact(str(exc), password)}") from None
    finally:
        await cam.close()


_wsdl_lock = threading.Lock()
_wsdl_loaded = False


def _load_wsdls_once() -> None:
    """Parse the device and media WSDLs once per process, outside any camera's timeout: parsing takes about
    a second of CPU (more on a busy machine), which is not the camera being slow. The client caches them."""
    global _wsdl_loaded
    with _wsdl_lock:
        if _wsdl_loaded:
            return
        _wsdl_loaded = True
        try:
            import onvif
            from onvif.client import _cached_document  # the client's own per-process document cache

            wsdl_dir = os.path.join(os.path.dirname(onvif.__file__), "wsdl")

            async def load() -> None:
                for name in ("devicemgmt.wsdl", "media.wsdl"):
                    await _cached_document(os.path.join(wsdl_dir, name))

            asyncio.run(load())
        except Exception as exc:  # an optimisation only: the client loads them itself otherwise
            log.debug("could not preload the ONVIF WSDLs: %s", exc)


def query_device(url: str, password: str | None, *, profile: str | None = None, timeout_s: float = 10.0,
                 snapshot: bool = False) -> OnvifDevice:
    """Synchronous: runs its own event loop (called from a camera's capture thread or the CLI)."""
    target = parse_onvif_url(url)
    _load_wsdls_once()

    async def bounded() -> OnvifDevice:
        try:
            return await asyncio.wait_for(_query(target, password, profile, snapshot), timeout_s)
        except TimeoutError:
            raise OnvifError(f"{target.display}: no ONVIF answer within {timeout_s:g} s") from None

    return asyncio.run(bounded())
