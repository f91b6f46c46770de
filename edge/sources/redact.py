"""Passwords never reach a log line or an error message: `rtsp://user:***@host/...`."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

# scheme://user:password@ anywhere in a string (URLs inside FFmpeg and zeep error texts too)
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s/]*)@")


def redact(text: str, *secrets: str | None) -> str:
    """Mask the password part of every URL in `text`, and any of `secrets` appearing verbatim."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
            quoted = quote(secret, safe="")
            if quoted != secret:
                out = out.replace(quoted, "***")
    return out


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """`url` with user:password put in (percent-encoded), replacing any it had. For opening, never logging."""
    if not user:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(user, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
