"""Where the control room fetches an alert's clip, and what it will pass on.

Never the URL an event names: an event is input from the network, and its `clip_url` once pointed the relay
at an HTML page (served back, its script ran in an operator's session) and at the alerting host's own API
(SSRF). The URL is built from the configured evidence server of the event's camera
(`controlroom.evidence_servers`, else the site's own edge: `edge.evidence.public_url` or http_host:http_port)
and the event id, which must look like one. The request carries the evidence token. Only bytes that ARE
an MP4, JPEG or PNG (magic checked, and the edge must have said so too) are passed on, as that type.
`relay_clip` does all of that; the control room's card and the SMS's phone page (alerting/web/phone.py) both
use it, so neither can fetch what an event names. It answers byte ranges, so the clip can be scrubbed.
`relay_boxes` brings the detector's box for each frame of the clip from the same server, checked field by
field and written out afresh.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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

    def clip_url(self, camera: str | None, event_id: str | None, suffix: str = "mp4") -> str | None:
        if not camera or not event_id or not CAMERA_ID.match(camera) or not EVENT_ID.match(event_id):
            return None
        base = self.per_camera.get(camera, self.default_base)
        return f"{base.rstrip('/')}/evidence/{event_id}.{suffix}" if base else None

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


MAX_CLIP_BYTES = 64 << 20  # a clip is seconds of a thermal stream: a few MB at most
CACHE_BYTES = 128 << 20
_cache: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # url -> (type, body), newest last


async def relay_clip(sources: EvidenceSources, camera: str | None, event_id: str | None,
                     headers: dict[str, str] | None = None,
                     refused: Callable[[str], None] = lambda reason: None,
                     range_header: str | None = None) -> Response:
    """The clip of `event_id` from `camera`'s evidence server, passed on if it is media; else HTTPException
    (404 when no server is configured, 502 when the edge fails or answers something else). `refused(reason)`
    counts a refusal. It answers byte ranges (`range_header`): Chromium seeks in an MP4 only by range
    requests, and an operator scrubs back to the moment he went in. So the clip is held whole (bounded) and
    the last few are kept, rather than fetched from the edge again for each range."""
    url = sources.clip_url(camera, event_id)
    if url is None:
        refused("no_evidence_server")
        raise HTTPException(404, f"no evidence server is configured for camera {camera!r}")
    got = _cache.get(url)
    if got is None:
        got = await _fetch(url, sources.headers(), refused)
        _cache[url] = got
        while sum(len(b) for _, b in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(url)
    kind, body = got
    return byte_range(body, kind, range_header, headers or {})


async def _download(url: str, headers: dict[str, str], what: str, limit: int, refused: Callable[[str], None],
                    enough: Callable[[bytearray], bool] = lambda body: False,
                    missing: int = 502) -> tuple[str, bytes]:
    """(declared media type, body) of one GET to the edge, at most `limit` bytes (more: refused, 502), read
    until `enough(body)` says no more is needed. A non-200 answer is a 502 naming it, a 404 `missing`."""
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        try:
            async with client.stream("GET", url, headers=headers) as upstream:
                if upstream.status_code != 200:
                    status = missing if upstream.status_code == 404 else 502
                    raise HTTPException(status, f"the edge answered {upstream.status_code} for the {what}")
                body = bytearray()
                async for chunk in upstream.aiter_bytes():
                    body += chunk
                    if enough(body):
                        break
                    if len(body) > limit:
                        refused("too_large")
                        raise HTTPException(502, f"the edge's {what}: more than {limit} bytes")
                declared = upstream.headers.get("content-type", "").split(";")[0].strip().lower()
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"the edge did not give the {what}: {type(exc).__name__}") from None
    return declared, bytes(body)


async def _fetch(url: str, headers: dict[str, str], refused: Callable[[str], None]) -> tuple[str, bytes]:
    def not_media(body: bytearray) -> bool:  # no need to read the rest
        return len(body) >= HEAD_BYTES and sniff(bytes(body[:HEAD_BYTES])) is None

    declared, body = await _download(url, headers, "clip", MAX_CLIP_BYTES, refused, enough=not_media)
    kind = sniff(body[:HEAD_BYTES])
    if kind is None or declared != kind:
        refused("not_media")
        raise HTTPException(502, f"the edge's answer is not a video or image (said {declared[:40]!r})")
    return kind, body


RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(body: bytes, kind: str, range_header: str | None, headers: dict[str, str]) -> Response:
    """206 with the one range asked for (RFC 9110 14.2), 416 for one past the end, else the whole body. A
    request for several ranges gets the whole body, which the RFC allows."""
    headers = {**headers, "Accept-Ranges": "bytes"}
    n = len(body)
    m = RANGE.fullmatch((range_header or "").strip())
    if not m or not (m[1] or m[2]):
        return Response(body, media_type=kind, headers=headers)
    if m[1]:
        first, last = int(m[1]), min(int(m[2]) if m[2] else n - 1, n - 1)
    else:  # the last N bytes
        first, last = max(0, n - int(m[2])), n - 1
    if first >= n or first > last:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{n}"})
    return Response(body[first:last + 1], status_code=206, media_type=kind,
                    headers={**headers, "Content-Range": f"bytes {first}-{last}/{n}"})

MAX_BOXES_BYTES = 1 << 20
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-3600, le=3600)]
Pixel = Annotated[int, Field(ge=-100_000, le=100_000)]


class ClipBoxes(BaseModel):
    """The alert's box on each frame of its clip, as the edge writes it (edge/evidence.py `_write_boxes`):
    [seconds from the clip's start, x, y, w, h]. Parsed and written out afresh, never passed on as sent."""
    model_config = ConfigDict(extra="ignore")
    version: Literal[1]
    frame_size: tuple[Annotated[int, Field(gt=0, le=20_000)], Annotated[int, Field(gt=0, le=20_000)]]
    entry_t: Finite
    boxes: list[tuple[Finite, Pixel, Pixel, Pixel, Pixel]] = Field(max_length=20_000)


async def relay_boxes(sources: EvidenceSources, camera: str | None, event_id: str | None,
                      refused: Callable[[str], None] = lambda reason: None) -> JSONResponse:
    """The clip's boxes from the same evidence server as the clip (`relay_clip`), checked against ClipBoxes.
    404 when the edge has none (an older edge, or a clip not written), 502 when its answer is not boxes."""
    url = sources.clip_url(camera, event_id, "boxes.json")
    if url is None:
        refused("no_evidence_server")
        raise HTTPException(404, f"no evidence server is configured for camera {camera!r}")
    _, body = await _download(url, sources.headers(), "boxes", MAX_BOXES_BYTES, refused, missing=404)
    try:
        boxes = ClipBoxes.model_validate_json(body)
    except ValidationError as exc:
        refused("not_boxes")
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise HTTPException(502, f"the edge's boxes are malformed at {where}") from None
    return JSONResponse(boxes.model_dump(mode="json"), headers={"Cache-Control": "private, max-age=3600"})
