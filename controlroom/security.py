"""Who is asking, and may they: the session cookie, roles, and CSRF on every state-changing request.

Refusals are counted by reason. A page (HTML) without a login is sent to the login form; an API call
gets a 401 JSON answer, so a script never follows a redirect into an HTML page it cannot read.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request

from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.controlroom.metrics import REFUSED
from quaywatch.controlroom.users import Session, UserStore

COOKIE = "quaywatch_session"
LANG_COOKIE = "quaywatch_lang"
CSRF_HEADER = "x-csrf-token"


MAX_FORM_BYTES = 16 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded or multipart form as plain strings; anything else is a counted 400, never a 500."""
    try:
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise ValueError("form too large")
        form = await request.form(max_files=0, max_fields=20)
        return {k: v for k, v in form.items() if isinstance(v, str)}
    except Exception:  # malformed multipart, bad encoding, too large, a file where none belongs
        REFUSED.labels("bad_request").inc()
        raise HTTPException(400, "expected a small form (application/x-www-form-urlencoded)") from None


def client_address(request: Request, trusted_proxies: list) -> str:
    """The client's address: the TCP peer, or, when the peer is one of `trusted_proxies`, the nearest
    address in X-Forwarded-For that is not itself a trusted proxy. From anyone else the header is ignored:
    it would let a client choose the address its login failures count against."""
    peer = request.client.host if request.client else "?"
    trusted = {str(p) for p in trusted_proxies}
    if _normal(peer) not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):  # the right end was added by our proxy; the left end is the client's say-so
        if _normal(hop) not in trusted:
            return _normal(hop)[:64]
    return peer


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


@dataclass
class Guard:
    users: UserStore
    config: ControlRoomConfig
    prefix: str

    def is_https(self, request: Request) -> bool:
        proto = request.headers.get("x-forwarded-proto", request.url.scheme)
        return proto.split(",")[0].strip() == "https"

    def secure_cookie(self, request: Request) -> bool:
        mode = self.config.secure_cookies
        return mode == "always" or (mode == "auto" and self.is_https(request))

    def session(self, request: Request) -> Session | None:
        return self.users.session(request.cookies.get(COOKIE))

    def page(self, request: Request, role: str = "viewer") -> Session:
        s = self.session(request)
        if s is None:
            REFUSED.labels("not_logged_in").inc()
            # A redirect raised as an exception: works in a router, which cannot install exception handlers.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, "log in first", headers={"Location": f"{self.prefix}/login?next={quote(target)}"})
        self._role(s, role)
        return s

    def api(self, request: Request, role: str = "viewer") -> Session:
        s = self.session(request)
        if s is None:
            REFUSED.labels("not_logged_in").inc()
            raise HTTPException(401, "log in first")
        self._role(s, role)
        return s

    def action(self, request: Request, role: str = "operator") -> Session:
        """A state-changing request: logged in, the role, and the session's CSRF token in the header."""
        s = self.api(request, role)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), s.csrf.encode()):
            REFUSED.labels("csrf").inc()
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        return s

    def check_form_csrf(self, s: Session, sent: str | None) -> None:
        if not hmac.compare_digest((sent or "").encode(), s.csrf.encode()):
            REFUSED.labels("csrf").inc()
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")

    @staticmethod
    def _role(s: Session, role: str) -> None:
        if not s.user.can(role):
            REFUSED.labels("forbidden").inc()
            raise HTTPException(403, f"this needs the {role} role; you are {s.user.role}")
