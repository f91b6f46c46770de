"""`quaywatch discover`: find ONVIF cameras with a WS-Discovery Probe.

Unicast to the targets given (what tests and the demo use: the camera-sim answers on a loopback port);
the LAN's multicast group 239.255.255.250:3702 only when asked for explicitly (`multicast=True`).
Plain UDP with the stdlib, rather than a WS-Discovery library, so exactly these datagrams and no others
(no Hello/Bye listening, no group membership) leave the machine.
"""

from __future__ import annotations

import socket
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass

from quaywatch.errors import QuaywatchError

MULTICAST = ("239.255.255.250", 3702)
SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"


@dataclass(frozen=True)
class Discovered:
    endpoint: str  # urn:uuid:... stable per device
    xaddrs: list[str]  # device service URLs
    scopes: list[str]
    types: str
    responder: str  # host:port the answer came from

    def as_json(self) -> dict:
        return asdict(self)


def probe_message(message_id: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP}" xmlns:w="{WSA}" xmlns:d="{WSD}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
        f"<w:MessageID>{message_id}</w:MessageID><w:To e:mustUnderstand=\"true\">urn:schemas-xmlsoap-org:ws:2005:04:"
        f'discovery</w:To><w:Action e:mustUnderstand="true">{WSD}/Probe</w:Action></e:Header>'
        "<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>"
    ).encode()


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise QuaywatchError(f"--target {text!r}: expected HOST:PORT, e.g. 127.0.0.1:3702")
    return host.strip("[]"), int(port)


def parse_matches(data: bytes, relates_to: str, responder: str) -> list[Discovered]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    if root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}RelatesTo", "").strip() != relates_to:
        return []  # an answer to someone else's probe
    found = []
    for match in root.iter(f"{{{WSD}}}ProbeMatch"):
        found.append(Discovered(
            endpoint=match.findtext(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address", "").strip(),
            xaddrs=match.findtext(f"{{{WSD}}}XAddrs", "").split(),
            scopes=match.findtext(f"{{{WSD}}}Scopes", "").split(),
            types=match.findtext(f"{{{WSD}}}Types", "").strip(),
            responder=responder,
        ))
    return found


def discover(targets: list[str], *, multicast: bool = False, timeout_s: float = 2.0) -> list[Discovered]:
    addresses = [parse_target(t) for t in targets]
    if multicast:
        addresses.append(MULTICAST)
    if not addresses:
        raise QuaywatchError("nowhere to probe: give a unicast target, or opt in to multicast")
    message_id = f"uuid:{uuid.uuid4()}"
    message = probe_message(message_id)
    seen: dict[str, Discovered] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)  # this LAN segment only
        for address in addresses:
            try:
                sock.sendto(message, address)
            except OSError as exc:
                raise QuaywatchError(f"cannot send a WS-Discovery probe to {address[0]}:{address[1]}: "
                                     f"{exc.strerror}") from None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                break
            except ConnectionRefusedError:  # ICMP port unreachable from a unicast target: nobody there
                continue
            for d in parse_matches(data, message_id, f"{peer[0]}:{peer[1]}"):
                seen.setdefault(d.endpoint or d.responder, d)
    return list(seen.values())
