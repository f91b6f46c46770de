"""The simulated camera's ONVIF device and media services over HTTP (aiohttp), plus its JPEG snapshot.

Answers GetServices, GetCapabilities, GetDeviceInformation, GetSystemDateAndTime (the one call allowed
before authentication, as ONVIF specifies: clients read the camera clock to sign their tokens), GetProfiles,
GetStreamUri, GetSnapshotUri. Everything else is a SOAP fault `ActionNotSupported`. Requests must carry a
WS-Security UsernameToken digest of the camera's password; the snapshot uses HTTP digest auth.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from quaywatch.edge.camsim.soap import check_token as check_wsse
from quaywatch.edge.camsim.soap import envelope, fault, parse_request, x

log = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
SNAPSHOT_PATH = "/onvif/snapshot.jpg"
NO_AUTH = {"GetSystemDateAndTime"}


@dataclass
class Profile:
    token: str
    name: str
    encoding: str  # "H264" | "JPEG"
    width: int
    height: int
    fps: float
    rtsp_path: str


@dataclass
class DeviceModel:
    user: str
    password: str
    http_base: str  # http://127.0.0.1:PORT
    rtsp_base: str  # rtsp://127.0.0.1:PORT
    profiles: list[Profile]
    manufacturer: str = "Quaywatch"
    model: str = "SimThermal 384"
    firmware: str = "sim-1.0"
    serial: str = "SIM-0001"
    clock_offset_s: float = 0.0  # the camera clock runs this far ahead of the host's (tests clock skew)
    auth_failures: int = 0
    requests: dict[str, int] = field(default_factory=dict)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def profile(self, token: str | None) -> Profile | None:
        return next((p for p in self.profiles if p.token == token), None)


# -- replies ----------------------------------------------------------------------------------------


def _services(m: DeviceModel, _req) -> str:
    def svc(ns: str, path: str) -> str:
        return (f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{x(m.http_base + path)}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>")

    return ("<tds:GetServicesResponse>" + svc("http://www.onvif.org/ver10/device/wsdl", DEVICE_PATH)
            + svc("http://www.onvif.org/ver10/media/wsdl", MEDIA_PATH) + "</tds:GetServicesResponse>")


def _capabilities(m: DeviceModel, _req) -> str:
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{x(m.http_base + DEVICE_PATH)}</tt:XAddr></tt:Device>"
        f"<tt:Media><tt:XAddr>{x(m.http_base + MEDIA_PATH)}</tt:XAddr><tt:StreamingCapabilities>"
        "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _device_information(m: DeviceModel, _req) -> str:
    return (
        f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{x(m.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{x(m.model)}</tds:Model><tds:FirmwareVersion>{x(m.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{x(m.serial)}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _date_time(m: DeviceModel, _req) -> str:
    t = m.now()
    stamp = (f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute><tt:Second>{t.second}</tt:Second>"
             f"</tt:Time><tt:Date><tt:Year>{t.year}</tt:Year><tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day>"
             "</tt:Date>")
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
        "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def _profile_xml(p: Profile) -> str:
    enc = "H264" if p.encoding == "H264" else "JPEG"
    h264 = (f"<tt:H264><tt:GovLength>{max(1, round(p.fps))}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264>"
             if enc == "H264" else "")
    return (
        f'<trt:Profiles token="{x(p.token)}" fixed="true"><tt:Name>{x(p.name)}</tt:Name>'
        '<tt:VideoSourceConfiguration token="vsc0"><tt:Name>thermal</tt:Name><tt:UseCount>2</tt:UseCount>'
        f'<tt:SourceToken>thermal0</tt:SourceToken><tt:Bounds x="0" y="0" width="{p.width}" height="{p.height}"/>'
        "</tt:VideoSourceConfiguration>"
        f'<tt:VideoEncoderConfiguration token="vec-{x(p.token)}"><tt:Name>{x(p.name)}</tt:Name>'
        f"<tt:UseCount>1</tt:UseCount><tt:Encoding>{enc}</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height></tt:Resolution>"
        "<tt:Quality>5</tt:Quality><tt:RateControl>"
        f"<tt:FrameRateLimit>{max(1, round(p.fps))}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
        f"<tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>{h264}"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
        "<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>"
    )


def _profiles(m: DeviceModel, _req) -> str:
    return "<trt:GetProfilesResponse>" + "".join(_profile_xml(p) for p in m.profiles) + "</trt:GetProfilesResponse>"


def _media_uri(tag: str, uri: str) -> str:
    return (f"<trt:{tag}><trt:MediaUri><tt:Uri>{x(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>"
            f"</trt:{tag}>")


class NoSuchProfile(Exception):
    pass


def _stream_uri(m: DeviceModel, req) -> str:
    p = m.profile(req.find_text("trt:ProfileToken"))
    if p is None:
        raise NoSuchProfile(req.find_text("trt:ProfileToken"))
    return _media_uri("GetStreamUriResponse", m.rtsp_base + p.rtsp_path)


def _snapshot_uri(m: DeviceModel, req) -> str:
    if m.profile(req.find_text("trt:ProfileToken")) is None:
        raise NoSuchProfile(req.find_text("trt:ProfileToken"))
    return _media_uri("GetSnapshotUriResponse", m.http_base + SNAPSHOT_PATH)


OPERATIONS: dict[str, Callable] = {
    "GetServices": _services,
    "GetCapabilities": _capabilities,
    "GetDeviceInformation": _device_information,
    "GetSystemDateAndTime": _date_time,
    "GetProfiles": _profiles,
    "GetStreamUri": _stream_uri,
    "GetSnapshotUri": _snapshot_uri,
}


# -- HTTP -------------------------------------------------------------------------------------------


def build_app(model: DeviceModel, snapshot_jpeg: Callable[[], bytes | None]) -> web.Application:
    nonces: set[str] = set()

    async def soap(request: web.Request) -> web.Response:
        try:
            req = parse_request(await request.read())
        except Exception as exc:  # malformed XML: a clear fault, the service carries on
            return _reply(fault("ter:WellFormed", f"malformed SOAP request: {exc}"), 400)
        model.requests[req.operation] = model.requests.get(req.operation, 0) + 1
        handler = OPERATIONS.get(req.operation)
        if handler is None:
            return _reply(fault("ter:ActionNotSupported", f"{req.operation} is not supported", "s:Receiver"), 400)
        if req.operation not in NO_AUTH:
            why = check_wsse(req, model.user, model.password, model.now())
            if why:
                model.auth_failures += 1
                log.warning("camera-sim: %s refused: %s", req.operation, why)
                return _reply(fault("ter:NotAuthorized", "Sender not Authorized"), 400)
        try:
            return _reply(envelope(handler(model, req)))
        except NoSuchProfile as exc:
            return _reply(fault("ter:NoProfile", f"no profile {exc}"), 400)

    async def snapshot(request: web.Request) -> web.Response:
        if not _digest_ok(request, model, nonces):
            nonce = os.urandom(12).hex()
            nonces.add(nonce)
            return web.Response(status=401, headers={
                "WWW-Authenticate": f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'})
        jpeg = snapshot_jpeg()
        if jpeg is None:
            return web.Response(status=503, text="no frame yet")
        return web.Response(body=jpeg, content_type="image/jpeg")

    app = web.Application()
    app.router.add_post(DEVICE_PATH, soap)
    app.router.add_post(MEDIA_PATH, soap)
    app.router.add_get(SNAPSHOT_PATH, snapshot)
    return app


def _reply(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/soap+xml", charset="utf-8")


REALM = "quaywatch-camsim"
_DIGEST_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _digest_ok(request: web.Request, model: DeviceModel, nonces: set[str]) -> bool:
    """HTTP digest (RFC 7616, MD5, qop=auth), what camera snapshot URLs use."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Digest "):
        return False
    f = {k: a or b for k, a, b in _DIGEST_FIELD.findall(header[7:])}
    if f.get("username") != model.user or f.get("nonce") not in nonces:
        return False

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"{model.user}:{REALM}:{model.password}")
    ha2 = md5(f"{request.method}:{f.get('uri', '')}")
    if f.get("qop"):
        expected = md5(f"{ha1}:{f['nonce']}:{f.get('nc', '')}:{f.get('cnonce', '')}:{f['qop']}:{ha2}")
    else:
        expected = md5(f"{ha1}:{f['nonce']}:{ha2}")
    return expected == f.get("response")
