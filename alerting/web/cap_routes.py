"""The CAP 1.2 feed for dispatch systems: /cap/feed.atom (newest messages first) and /cap/messages/<id>.xml.

Other machines need the Bearer token from `$cap.feed_token_env`; without one set, only this machine may read
(the messages carry positions and who acknowledged, though no phone numbers).
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from quaywatch.alerting import cap

router = APIRouter(prefix="/cap")
CAP_TYPE = "application/cap+xml; charset=utf-8"


def _allowed(request: Request) -> None:
    svc = request.app.state.service
    token = os.environ.get(svc.site.alerting.cap.feed_token_env)
    sent = request.headers.get("authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        raise HTTPException(401 if token else 403, "the CAP feed needs its Bearer token (alerting.cap.feed_token_env)"
                            if token else "the CAP feed answers on this machine only: set alerting.cap.feed_token_env")


def _base(request: Request) -> str:
    svc = request.app.state.service
    cfg = svc.site.alerting
    return cfg.links.base_url or cfg.twilio.public_url or str(request.base_url).rstrip("/")


@router.get("/feed.atom")
async def feed(request: Request) -> Response:
    _allowed(request)
    svc = request.app.state.service
    msgs = await run_in_threadpool(cap.recent, svc.site, svc.store)
    return Response(cap.atom_feed(svc.site, msgs, _base(request)), media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


@router.get("/messages/{identifier}.xml")
async def message(request: Request, identifier: str) -> Response:
    _allowed(request)
    svc = request.app.state.service
    msg = await run_in_threadpool(cap.message, svc.site, svc.store, identifier[:200])
    if msg is None:
        raise HTTPException(404, f"no CAP message {identifier[:200]!r}")
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + msg.xml, media_type=CAP_TYPE,
                    headers={"Cache-Control": "no-store"})
