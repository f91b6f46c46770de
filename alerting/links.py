"""Signed evidence links for phones: /p/<token> opens one incident, without a login, until it expires.

The token carries the incident, the agency the SMS went to (its acknowledge button acknowledges for that
agency) and the expiry, signed with HMAC-SHA256 under a key from the environment. Nothing is stored: any
node with the key checks a token, and a token cannot be turned into another incident's or made to live
longer without the key. It is short because it rides in a one-segment SMS: the incident id
(inc-YYYYMMDD-HHMMSS-xxxxxx) packs into 7 bytes, the expiry into 4 (minutes), the MAC is cut to 9 bytes
(72 bits: guessing one online is hopeless), 22 bytes in all, 30 characters in base64url.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import logging
import os
import re
import secrets
import struct
import time
from dataclasses import dataclass

from quaywatch.config.alerting import AlertingConfig

log = logging.getLogger(__name__)

MAC_BYTES = 9
COMPACT_ID = re.compile(r"^inc-(\d{8})-(\d{6})-([0-9a-f]{6})$")
AGENCIES = ("", "police", "rescue", "control_room", "test")  # index 0: none; others are sent by name


class BadLink(Exception):
    """A token that is malformed, forged or expired. `reason` is for the log and the counter, not the phone."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Grant:
    incident_id: str
    agency: str
    expires_at: float


def _pack_id(incident_id: str) -> bytes:
    m = COMPACT_ID.match(incident_id)
    if m:
        t = calendar.timegm(time.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S"))
        return b"\x00" + struct.pack(">I", t) + bytes.fromhex(m.group(3))
    raw = incident_id.encode()
    if len(raw) > 200:
        raise ValueError("incident id too long for a link")
    return bytes([1, len(raw)]) + raw


def _unpack_id(data: bytes) -> tuple[str, bytes]:
    if data[:1] == b"\x00" and len(data) >= 8:
        t = struct.unpack(">I", data[1:5])[0]
        return time.strftime("inc-%Y%m%d-%H%M%S-", time.gmtime(t)) + data[5:8].hex(), data[8:]
    if data[:1] == b"\x01" and len(data) >= 2 and len(data) >= 2 + data[1]:
        n = data[1]
        return data[2:2 + n].decode(), data[2 + n:]
    raise BadLink("malformed")


def _agency_bytes(agency: str) -> bytes:
    if agency in AGENCIES:
        return bytes([AGENCIES.index(agency)])
    raw = agency.encode()[:31]
    return bytes([0x80 | len(raw)]) + raw


def _agency_from(data: bytes) -> tuple[str, bytes]:
    if not data:
        raise BadLink("malformed")
    b = data[0]
    if b & 0x80:
        n = b & 0x7F
        if len(data) < 1 + n:
            raise BadLink("malformed")
        return data[1:1 + n].decode(errors="replace"), data[1 + n:]
    if b >= len(AGENCIES):
        raise BadLink("malformed")
    return AGENCIES[b], data[1:]


class LinkSigner:
    def __init__(self, key: bytes, ttl_s: int, base_url: str | None):
        self.key = key
        self.ttl_s = ttl_s
        self.base_url = base_url

    @classmethod
    def from_config(cls, cfg: AlertingConfig) -> LinkSigner:
        secret = os.environ.get(cfg.links.secret_env)
        if secret:
            key = secret.encode()
        else:
            log.warning("alerting.links.secret_env: $%s is not set: evidence links are signed with a random key of "
                        "this process (they stop working at a restart and on other nodes)", cfg.links.secret_env)
            key = secrets.token_bytes(32)
        return cls(key, cfg.links.ttl_s, cfg.links.base_url or cfg.twilio.public_url)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.key, b"quaywatch-link-v1" + body, hashlib.sha256).digest()[:MAC_BYTES]

    def token(self, incident_id: str, agency: str = "", now: float | None = None) -> str:
        expires = int(((now if now is not None else time.time()) + self.ttl_s) // 60) + 1
        body = struct.pack(">I", expires) + _agency_bytes(agency) + _pack_id(incident_id)
        return base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode()

    def url(self, incident_id: str, agency: str = "", now: float | None = None) -> str | None:
        if not self.base_url:
            return None
        return f"{self.base_url}/p/{self.token(incident_id, agency, now)}"

    def check(self, token: str, now: float | None = None) -> Grant:
        """The incident a token grants, or BadLink. The MAC is checked before anything in the token is trusted."""
        if not token or len(token) > 400 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
            raise BadLink("malformed")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise BadLink("malformed") from None
        if len(raw) < 4 + 1 + 2 + MAC_BYTES:
            raise BadLink("malformed")
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise BadLink("bad signature")
        expires_at = struct.unpack(">I", body[:4])[0] * 60.0
        agency, rest = _agency_from(body[4:])
        incident_id, rest = _unpack_id(rest)
        if rest:
            raise BadLink("malformed")
        if (now if now is not None else time.time()) >= expires_at:
            raise BadLink("expired")
        return Grant(incident_id, agency, expires_at)
