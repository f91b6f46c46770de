"""SOAP 1.2 for the simulated camera: read a request (operation + WS-Security UsernameToken), write replies.

Only what the device and media services of a fixed thermal camera answer. The replies follow the ONVIF
schemas closely enough that the real onvif-zeep-async client (zeep) parses them into typed objects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}
DIGEST_TYPE = "#PasswordDigest"
MAX_CLOCK_SKEW = timedelta(minutes=5)  # a token created further away than this is refused, as cameras do


@dataclass(frozen=True)
class SoapRequest:
    operation: str  # local name of the body's first element, e.g. "GetProfiles"
    body: ET.Element
    username: str | None
    password: str | None  # digest or text, as sent
    password_type: str
    nonce: str | None
    created: str | None

    def find_text(self, path: str) -> str | None:
        found = self.body.find(path, NS)
        return found.text if found is not None else None


def parse_request(data: bytes) -> SoapRequest:
    root = ET.fromstring(data)
    body = root.find("s:Body", NS)
    if body is None or len(body) == 0:
        raise ValueError("no SOAP 1.2 Body")
    op = body[0]
    token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
    user = pw = nonce = created = None
    pw_type = ""
    if token is not None:
        user = _text(token, "wsse:Username")
        pw_el = token.find("wsse:Password", NS)
        if pw_el is not None:
            pw, pw_type = pw_el.text, pw_el.get("Type", "")
        nonce = _text(token, "wsse:Nonce")
        created = _text(token, "wsu:Created")
    return SoapRequest(op.tag.rsplit("}", 1)[-1], op, user, pw, pw_type, nonce, created)


def _text(el: ET.Element, path: str) -> str | None:
    found = el.find(path, NS)
    return found.text.strip() if found is not None and found.text else None


def check_token(req: SoapRequest, user: str, password: str, now: datetime) -> str | None:
    """None when the UsernameToken proves `user`/`password`; otherwise why not (for the log, not the wire)."""
    if req.username is None or req.password is None:
        return "no WS-Security UsernameToken"
    if req.username != user:
        return f"unknown user {req.username!r}"
    if req.password_type.endswith(DIGEST_TYPE):
        if not req.nonce or not req.created:
            return "PasswordDigest without Nonce/Created"
        try:
            nonce = base64.b64decode(req.nonce)
            created = datetime.fromisoformat(req.created.replace("Z", "+00:00"))
        except ValueError:
            return "malformed Nonce or Created"
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if abs(now - created) > MAX_CLOCK_SKEW:
            return f"Created {req.created} is more than {MAX_CLOCK_SKEW} from the camera clock"
        expected = base64.b64encode(hashlib.sha1(nonce + req.created.encode() + password.encode()).digest()).decode()
        return None if hmac.compare_digest(expected, req.password) else "wrong password (digest mismatch)"
    return None if hmac.compare_digest(req.password, password) else "wrong password"


def envelope(body: str) -> bytes:
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items() if k in ("s", "tds", "trt", "tt"))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {ns}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def fault(subcode: str, reason: str, code: str = "s:Sender") -> bytes:
    return envelope(
        f'<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value xmlns:ter="http://www.onvif.org/ver10/error">'
        f"{subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">{escape(reason)}</s:Text>"
        "</s:Reason></s:Fault>"
    )


def x(text: object) -> str:
    return escape(str(text))
