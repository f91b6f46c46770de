"""Where the control room fetches an alert's clip, and what it will pass on.

Never the URL an event names: an event is input from the network, and its `clip_url` once pointed the relay
at an HTML page (served back, its script ran in an operator's session) and at the alerting host's own API
(SSRF). The URL is built from the configured evidence server of the event's camera
(`controlroom.evidence_servers`, else the site's own edge: `edge.evidence.public_url` or http_host:http_port)
and the event id, which must look like one. The request carries the evidence token. Only bytes that ARE
an MP4, JPEG or PNG (magic checked, and the edge must have said so too) are passed on, as that type.
`relay_clip` does all of that; the control room's card and the SMS's phone page (alerting/web/phone.py) both
use it, so neither can fetch what an event names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import HTTPException
from fastapi.responses import StreamingResponse

EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")  # as the edge names its evidence (edge/evidence.py)
CAMERA_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEAD_BYTES = 12


def sniff(head: bytes) -> str | None:
    """The media type these first bytes are, among those the relay passes on; None for anything else."""
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


@dataclass
class EvidenceSources:
    default_base: str | None
    per_camera: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    def clip_url(self, camera: str | None, event_id: str | None) -> str | None:
        if not camera or not event_id or not CAMERA_ID.match(camera) or not EVENT_ID.match(event_id):
            return None
        base = self.per_camera.get(camera, self.default_base)
        return f"{base.rstrip('/')}/evidence/{event_id}.mp4" if base else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def evidence_sources(site: Any, servers: dict[str, str]) -> EvidenceSources:
    """From the site config: its edge's evidence server for every camera, unless `servers` names one."""
    if site is None:
        return EvidenceSources(None, dict(servers))
    from quaywatch.mqtt_accounts import evidence_token

    ev = site.edge.evidence
    default = ev.public_url or (f"http://{ev.http_host}:{ev.http_port}" if ev.http_port else None)
    return EvidenceSources(default, dict(servers), evidence_token(site))


async def relay_clip(sources: EvidenceSources, camera: str | None, event_id: str | None,
                     headers: dict[str, str] | None = None,
                     refused: Callable[[str], None] = lambda reason: None) -> StreamingResponse:
    """The clip of `event_id` from `camera`'s evidence server, streamed on if it is media; else HTTPException
    (404 when no server is configured, 502 when the edge fails or answers something else). `refused(reason)`
    counts a refusal."""
    url = sources.clip_url(camera, event_id)
    if url is None:
        refused("no_evidence_server")
        raise HTTPException(404, f"no evidence server is configured for camera {camera!r}")
    client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    try:
        upstream = await client.send(client.build_request("GET", url, headers=sources.headers()), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise HTTPException(502, f"the edge did not give the clip: {type(exc).__name__}") from None
    chunks = upstream.aiter_bytes()
    head = b""
    try:
        if upstream.status_code != 200:
            raise HTTPException(502, f"the edge answered {upstream.status_code} for the clip")
        async for chunk in chunks:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
        declared = upstream.headers.get("content-type", "").split(";")[0].strip().lower()
        kind = sniff(head)
        if kind is None or declared != kind:
            refused("not_media")
            raise HTTPException(502, f"the edge's answer is not a video or image (said {declared[:40]!r})")
    except BaseException:
        await upstream.aclose()
        await client.aclose()
        raise

    async def body():
        try:
            yield head
            async for chunk in chunks:
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    return StreamingResponse(body(), media_type=kind, headers=headers or {})
