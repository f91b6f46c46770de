"""WS-Discovery for the simulated camera: answers Probe messages sent to its UDP port with a ProbeMatch.

Listens on a unicast address only (127.0.0.1 by default). It never joins the 239.255.255.250 multicast
group, so tests and the demo send and receive nothing beyond loopback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import xml.etree.ElementTree as ET

log = logging.getLogger(__name__)

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE_ACTION = f"{WSD}/Probe"


def probe_matches(relates_to: str, endpoint: str, xaddr: str, scopes: list[str]) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP}" xmlns:w="{WSA}" xmlns:d="{WSD}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
        f"<w:MessageID>uuid:{uuid.uuid4()}</w:MessageID><w:RelatesTo>{relates_to}</w:RelatesTo>"
        f"<w:To>{WSA}/role/anonymous</w:To><w:Action>{WSD}/ProbeMatches</w:Action></e:Header>"
        "<e:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<w:EndpointReference><w:Address>{endpoint}</w:Address></w:EndpointReference>"
        f"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>{' '.join(scopes)}</d:Scopes>"
        f"<d:XAddrs>{xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>"
    ).encode()


class DiscoveryResponder(asyncio.DatagramProtocol):
    def __init__(self, xaddr: str, name: str, hardware: str):
        self.xaddr = xaddr
        self.endpoint = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, xaddr)}"
        self.scopes = [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/type/thermal",
            f"onvif://www.onvif.org/name/{name.replace(' ', '_')}",
            f"onvif://www.onvif.org/hardware/{hardware.replace(' ', '_')}",
        ]
        self.transport: asyncio.DatagramTransport | None = None
        self.probes = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            log.debug("discovery: ignoring a datagram that is not XML from %s", addr)
            return
        action = root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}Action", "").strip()
        if action != PROBE_ACTION:
            return
        message_id = root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}MessageID", "").strip()
        self.probes += 1
        assert self.transport is not None
        self.transport.sendto(probe_matches(message_id, self.endpoint, self.xaddr, self.scopes), addr)


async def serve_discovery(host: str, port: int, responder: DiscoveryResponder) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: responder, local_addr=(host, port))
    return transport
