"""False alarms become tests: an alert closed as false alarm is packed as a recording fixture.

The zip holds `<stem>.mp4|.mkv` (the evidence clip, fetched from the edge and checked to decode) and
`<stem>.json`, a ground-truth sidecar with no events (a negative clip) that validates against
config/recording.py. Unzipped into recordings_fixtures/, `quaywatch eval` then fails if it alarms again.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from quaywatch.config.recording import GroundTruth
from quaywatch.controlroom.backend import ActionRefused, Alert
from quaywatch.controlroom.evidence_relay import EvidenceSources
from quaywatch.errors import QuaywatchError

MAX_CLIP_BYTES = 200 * 1024 * 1024


def fixture_stem(alert: Alert, tz: str) -> str:
    when = datetime.fromtimestamp(alert.time, ZoneInfo(tz)).strftime("%Y%m%d-%H%M%S")
    return f"false-alarm-{alert.site}-{alert.cameras[0]}-{when}"


def sidecar(alert: Alert, site_path: str, tz: str) -> GroundTruth:
    closed = next((e for e in reversed(alert.audit) if e.to_state == "closed"), None)
    who = f" by {closed.actor}" if closed else ""
    note = f": {closed.note}" if closed and closed.note else ""
    local = datetime.fromtimestamp(alert.time, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    return GroundTruth(
        site=site_path, camera=alert.cameras[0], events=[],
        description=f"{alert.kind} alert {alert.id} at {local} closed as false alarm{who}{note}",
        tags=["false_alarm", "controlroom_export"],
    )


def fetch_clip(url: str, headers: dict[str, str], timeout_s: float = 30.0) -> tuple[bytes, str]:
    suffix = Path(urlsplit(url).path).suffix.lower()
    suffix = suffix if suffix in (".mp4", ".mkv") else ".mp4"
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout_s, follow_redirects=False) as resp:
            if resp.status_code != 200:
                raise QuaywatchError(f"the edge answered {resp.status_code} for the clip {url}")
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > MAX_CLIP_BYTES:
                    raise QuaywatchError(f"the clip at {url} is larger than {MAX_CLIP_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise QuaywatchError(f"cannot fetch the clip {url}: {exc}") from None
    return bytes(buf), suffix


def check_clip(data: bytes, suffix: str) -> None:
    """The fixture must be a clip replay can read; a broken download is refused, not exported."""
    from quaywatch.edge.clips import clip_info

    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        info = clip_info(f.name)
        if not info.frames:
            raise QuaywatchError("the clip has no frames")


def export_fixture(alert: Alert, site_path: str, tz: str, sources: EvidenceSources) -> tuple[str, bytes]:
    """(zip file name, zip bytes). Raises ActionRefused when the alert is not an exportable false alarm.
    The clip comes from the configured evidence server (never the URL the event names)."""
    if alert.outcome != "false_alarm":
        raise ActionRefused("conflict", "only an alert closed as false alarm can be exported as a fixture")
    url = sources.clip_url(alert.clip_camera, alert.clip_event_id)
    if not alert.clip_url or not alert.cameras or url is None:
        raise ActionRefused("conflict", "this alert has no evidence clip to export")
    data, suffix = fetch_clip(url, sources.headers())
    check_clip(data, suffix)
    stem = fixture_stem(alert, tz)
    truth = sidecar(alert, site_path, tz)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{stem}{suffix}", data)
        z.writestr(f"{stem}.json", json.dumps(truth.model_dump(exclude_none=True), indent=2, ensure_ascii=False) + "\n")
    return f"{stem}.zip", buf.getvalue()
