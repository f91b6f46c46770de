"""Read-only JSON about incidents: the trail behind each alert (events, transitions, messages)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

router = APIRouter(prefix="/api")


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
