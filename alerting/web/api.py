"""Read-only JSON about incidents: the trail behind each alert (events, transitions, messages).

It carries phone numbers and has no login of its own, so it answers only requests made on this machine
(tools, tests, a local monitor); operators use the control room, which has logins. A request relayed by
a reverse proxy (X-Forwarded-For / Forwarded) counts as remote even though it arrives from loopback.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, HTTPException, Request


def loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        request.app.state.service.metrics.api_refused.inc()
        raise HTTPException(403, "the incident API answers on this machine only; operators use /controlroom")


router = APIRouter(prefix="/api", dependencies=[Depends(loopback_only)])


@router.get("/incidents")
async def incidents(request: Request, state: str | None = None, limit: int = 100) -> list[dict]:
    store = request.app.state.service.store
    return store.incidents(states=tuple(state.split(",")) if state else None, limit=min(limit, 1000))


@router.get("/incidents/{incident_id}")
async def incident(request: Request, incident_id: str) -> dict:
    store = request.app.state.service.store
    inc = store.incident(incident_id)
    if inc is None:
        raise HTTPException(404, f"no incident {incident_id}")
    events = store.events_of(incident_id)
    for e in events:  # the snapshot is large; the control room fetches it on its own
        e["payload"].get("evidence", {}).pop("snapshot_jpeg_b64", None)
    return {**inc, "events": events, "transitions": store.transitions_of(incident_id),
            "messages": store.messages_of(incident_id)}
