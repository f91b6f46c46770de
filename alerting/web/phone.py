"""The page an SMS links to: /p/<token> shows one incident on a phone, without a login, until the link expires.

Only what the token grants is shown: that incident's kind, time and position, its snapshot (the box drawn by
the edge), its clip playing in the page, who acknowledged for whom, and an acknowledge button for the agency
the SMS went to. No other incident, no acknowledgement code, no phone number, no link into the control room.
A forged or altered token gets 403, an expired one 410, both without a word about any incident.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import time
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from quaywatch.alerting.acks import acknowledge_for, acks_of
from quaywatch.alerting.facts import position_of
from quaywatch.alerting.links import BadLink, Grant
from quaywatch.controlroom.evidence_relay import evidence_sources, relay_clip

log = logging.getLogger(__name__)
router = APIRouter(prefix="/p")
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
WORDS = {
    "da": {"water_entry": "Person faldt i vandet", "person_in_water": "Person i vandet",
           "camera_offline": "Kamera offline", "self_test_failed": "Kameraets selvtest fejlede",
           "time": "Tid", "position": "Position", "approx": "ca.", "camera_pos": "kameraets position, usikkerhed",
           "map": "Åbn i kort", "ack": "Kvittér for", "acked_for": "Kvitteret for", "by": "af",
           "no_snapshot": "Intet billede", "clip": "Optagelse", "drill": "ØVELSE", "state": "Status",
           "expired": "Linket er udløbet. Ring til kontrolrummet.", "bad": "Ugyldigt link.",
           "agencies": {"police": "politi", "rescue": "redning", "control_room": "alle (kontrolrum)"},
           "states": {"new": "ny", "paged": "alarmeret", "acknowledged": "kvitteret", "resolved": "afsluttet",
                      "closed": "lukket"}},
    "en": {"water_entry": "Person fell into the water", "person_in_water": "Person in the water",
           "camera_offline": "Camera offline", "self_test_failed": "Camera self-test failed",
           "time": "Time", "position": "Position", "approx": "approx.", "camera_pos": "camera's position, within",
           "map": "Open in maps", "ack": "Acknowledge for", "acked_for": "Acknowledged for", "by": "by",
           "no_snapshot": "No picture", "clip": "Clip", "drill": "DRILL", "state": "State",
           "expired": "This link has expired. Call the control room.", "bad": "This link is not valid.",
           "agencies": {"police": "police", "rescue": "rescue", "control_room": "all (control room)"},
           "states": {"new": "new", "paged": "paged", "acknowledged": "acknowledged", "resolved": "resolved",
                      "closed": "closed"}},
}
STYLE = ("body{font:17px/1.4 system-ui,sans-serif;margin:0;background:#0d1117;color:#e6edf3}"
         "main{padding:12px;max-width:720px;margin:auto}h1{font-size:1.4em;margin:.2em 0;color:#ff7b72}"
         "img,video{width:100%;height:auto;border-radius:6px;background:#000}dl{display:grid;"
         "grid-template-columns:auto 1fr;gap:4px 12px}dt{color:#8b949e}dd{margin:0}a{color:#79c0ff}"
         "button{font-size:1.2em;padding:14px;width:100%;border:0;border-radius:8px;background:#238636;"
         "color:#fff;margin:12px 0}.drill{background:#9e6a03;color:#fff;padding:2px 8px;border-radius:4px}"
         "ul{padding-left:1.2em}")


def _headers() -> dict[str, str]:
    return {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Robots-Tag": "noindex"}


def _lang(request: Request) -> str:
    return request.app.state.service.site.alerting.language


def _refusal(request: Request, exc: BadLink) -> HTMLResponse:
    w = WORDS[_lang(request)]
    log.warning("phone link refused (%s) from %s", exc.reason, request.client.host if request.client else "?")
    request.app.state.service.metrics.links_refused.labels(exc.reason.replace(" ", "_")).inc()
    status = 410 if exc.reason == "expired" else 403
    text = w["expired"] if status == 410 else w["bad"]
    return HTMLResponse(f"<!doctype html><meta name=viewport content='width=device-width'><style>{STYLE}</style>"
                        f"<main><p>{escape(text)}</p></main>", status_code=status, headers=_headers())


def _grant(request: Request, token: str) -> Grant:
    svc = request.app.state.service
    grant = svc.escalator.links.check(token)
    inc = svc.store.incident(grant.incident_id)
    if inc is None or inc["site"] != svc.site.site.id:
        raise BadLink("no such incident")
    return grant


def _evidence(store: Any, incident_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ev in store.events_of(incident_id):
        for key, value in (ev["payload"].get("evidence") or {}).items():
            out.setdefault(key, value)
    return out


def _clip_of(store: Any, incident_id: str) -> tuple[str | None, str | None]:
    """(camera, event id) of the incident's first event that has a clip; the edge keeps it by that id."""
    for ev in store.events_of(incident_id):
        if (ev["payload"].get("evidence") or {}).get("clip_url"):
            return ev["payload"].get("camera"), ev["payload"].get("event_id")
    return None, None


def _page(request: Request, token: str, grant: Grant) -> str:
    svc = request.app.state.service
    site = svc.site
    w = WORDS[_lang(request)]
    inc = svc.store.incident(grant.incident_id)
    assert inc is not None
    evidence = _evidence(svc.store, inc["id"])
    tz = ZoneInfo(site.site.timezone)
    when = datetime.fromtimestamp(inc["first_time"], tz).strftime("%Y-%m-%d %H:%M:%S")
    cams = [c for c in inc["cameras"].split(",") if c]
    names = ", ".join(next((c.name for c in site.cameras if c.id == cam), cam) for cam in cams)
    pos = position_of(site, inc)
    where = "-"
    if pos is not None:
        ll = f"{pos.lat:.5f},{pos.lon:.5f}"
        where = (f"{escape(w['approx'])} {ll} ({escape(w['camera_pos'])} {pos.uncertainty_m:.0f} m)" if pos.approx
                 else ll) + f' · <a href="geo:{ll}">{escape(w["map"])}</a>'
    acks = acks_of(svc.store, inc["id"])
    acked = {a["agency"] for a in acks}
    ack_list = "".join(
        f"<li>{escape(w['acked_for'])} {escape(w['agencies'].get(a['agency'], a['agency']))} {escape(w['by'])} {escape(a['acked_by'])} "
        f"{datetime.fromtimestamp(a['at'], tz).strftime('%H:%M:%S')}</li>" for a in acks)
    button = ""
    if grant.agency and grant.agency not in acked and inc["state"] in ("new", "paged", "acknowledged"):
        button = (f'<form method="post" action="/p/{token}/ack"><button type="submit">{escape(w["ack"])} '
                  f'{escape(w["agencies"].get(grant.agency, grant.agency))}</button></form>')
    snap = (f'<img src="/p/{token}/snapshot.jpg" alt="{escape(w[inc["kind"]] if inc["kind"] in w else inc["kind"])}">'
            if "snapshot_jpeg_b64" in evidence else f"<p>{escape(w['no_snapshot'])}</p>")
    clip = (f'<h2>{escape(w["clip"])}</h2><video src="/p/{token}/clip" controls playsinline muted preload="metadata">'
            "</video>" if evidence.get("clip_url") else "")
    drill = f' <span class="drill">{escape(w["drill"])}</span>' if inc["drill"] else ""
    state = w["states"].get(inc["state"], inc["state"])
    return (f'<!doctype html><html lang="{_lang(request)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" '
            f'content="no-referrer"><title>{escape(w.get(inc["kind"], inc["kind"]))}</title><style>{STYLE}</style>'
            f'</head><body><main><h1 class="kind">{escape(w.get(inc["kind"], inc["kind"]))}{drill}</h1>'
            f'<dl><dt>{escape(w["time"])}</dt><dd class="time">{when}</dd><dt>{escape(w["position"])}</dt>'
            f'<dd class="position">{where}</dd><dt></dt><dd>{escape(names)}</dd><dt>{escape(w["state"])}</dt>'
            f'<dd class="state">{escape(state)}</dd></dl>{button}<ul class="acks">{ack_list}</ul>{snap}{clip}'
            "</main></body></html>")


@router.get("/{token}", include_in_schema=False)
async def phone_page(request: Request, token: str):
    try:
        grant = await run_in_threadpool(_grant, request, token)
    except BadLink as exc:
        return _refusal(request, exc)
    return HTMLResponse(await run_in_threadpool(_page, request, token, grant), headers=_headers())


@router.post("/{token}/ack", include_in_schema=False)
async def phone_ack(request: Request, token: str):
    try:
        grant = await run_in_threadpool(_grant, request, token)
    except BadLink as exc:
        return _refusal(request, exc)
    if not grant.agency:
        raise HTTPException(403, "this link acknowledges for no agency")
    svc = request.app.state.service
    inc = svc.store.incident(grant.incident_id)
    policy = svc.escalator.policy_for(inc)
    result = await run_in_threadpool(acknowledge_for, svc.store, svc.site.alerting, policy, grant.incident_id,
                                     grant.agency, f"{grant.agency} (phone link)", "phone link", time.time())
    if result != "already_acknowledged":
        svc.changes.publish(grant.incident_id, "acknowledged" if result == "acknowledged" else "agency_acknowledged")
    return RedirectResponse(f"/p/{token}", status_code=303, headers=_headers())


@router.get("/{token}/snapshot.jpg", include_in_schema=False)
async def phone_snapshot(request: Request, token: str):
    try:
        grant = await run_in_threadpool(_grant, request, token)
    except BadLink as exc:
        return _refusal(request, exc)
    b64 = (await run_in_threadpool(_evidence, request.app.state.service.store, grant.incident_id)).get(
        "snapshot_jpeg_b64")
    with contextlib.suppress(binascii.Error, ValueError, TypeError):
        if b64:
            return Response(base64.b64decode(b64, validate=True), media_type="image/jpeg", headers=_headers())
    raise HTTPException(404, "no snapshot")


@router.get("/{token}/clip", include_in_schema=False)
async def phone_clip(request: Request, token: str):
    """The edge's clip, relayed: the phone cannot reach the edge network. As in the control room, fetched
    only from the camera's configured evidence server by event id (never the URL the event names: that
    was the SSRF and script-injection hole of issue 13) and passed on only if it is video."""
    try:
        grant = await run_in_threadpool(_grant, request, token)
    except BadLink as exc:
        return _refusal(request, exc)
    svc = request.app.state.service
    camera, event_id = await run_in_threadpool(_clip_of, svc.store, grant.incident_id)
    if not event_id:
        raise HTTPException(404, "no clip")
    servers = getattr(getattr(svc.site, "controlroom", None), "evidence_servers", None) or {}
    sources = evidence_sources(svc.site, servers)
    return await relay_clip(sources, camera, event_id, _headers(), range_header=request.headers.get("range"))
