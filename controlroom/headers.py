"""Security headers on every control-room response, error answers included: the pages' CSP (set where a
page is rendered, controlroom/context.py) or else a CSP that allows nothing, nosniff, no framing.

An answer that is not a page (JSON, a clip, a snapshot) never runs as one: a browser told `nosniff` and
`default-src 'none'; sandbox` will not execute a script smuggled into it, whatever its content type.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import APIRoute
from starlette.responses import Response

NOT_A_PAGE_CSP = "default-src 'none'; media-src 'self'; img-src 'self'; frame-ancestors 'none'; sandbox"


def secure_headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", NOT_A_PAGE_CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp


class SecureRoute(APIRoute):
    """An APIRoute whose responses (and HTTPException answers) carry secure_headers."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def secured(request: Request) -> Response:
            try:
                resp = await handler(request)
            except HTTPException as exc:
                resp = await http_exception_handler(request, exc)
            return secure_headers(resp)

        return secured
