"""What the control-room page needs from the alerting service, and nothing more.

The page only reads alerts through `ControlRoomBackend` and only changes them through its three actions,
so every operator action goes through the alerting lifecycle (audited, stops escalation). The plain
dataclasses below are the page's vocabulary; implementations translate their store into them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import KW_ONLY, dataclass, field
from typing import Literal, Protocol

from quaywatch.errors import QuaywatchError

OUTCOMES = ("resolved", "false_alarm", "drill", "real_incident")
Outcome = Literal["resolved", "false_alarm", "drill", "real_incident"]
OPEN_STATES = ("new", "paged", "acknowledged")
HealthState = Literal["online", "degraded", "offline"]


class ActionRefused(QuaywatchError):
    """An operator action that cannot be done (unknown alert, already closed, ...). `code` is for counting."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class CameraInfo:
    id: str
    name: str
    lat: float | None = None
    lon: float | None = None
    bearing_deg: float | None = None   # where it looks, clockwise from north (the map's view cone)
    fov_deg: float | None = None
    range_m: float | None = None


@dataclass(frozen=True)
class Page:
    """One message sent to one person, with its delivery state (queued, sent, delivered, failed, ...)."""

    person: str
    number: str
    channel: str
    status: str
    sent_at: float
    updated_at: float
    step: int | None = None
    error_code: str | None = None
    delivered_at: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    from_state: str | None
    to_state: str
    note: str | None = None


@dataclass(frozen=True)
class AgencyAck:
    agency: str                    # police, rescue, control_room (for all), ...
    by: str
    at: float
    via: str | None = None


@dataclass(frozen=True)
class Alert:
    id: str
    site: str
    kind: str                      # water_entry, person_in_water, camera_offline, ...
    category: str                  # water | camera
    state: str                     # new, paged, acknowledged, resolved, closed
    cameras: tuple[str, ...]
    time: float                    # UTC epoch of the first event's frame
    opened_at: float
    updated_at: float
    drill: bool = False
    outcome: str | None = None     # how it was closed
    lat: float | None = None
    lon: float | None = None
    bbox: tuple[float, ...] | None = None
    frame_size: tuple[int, int] | None = None
    confidence: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    ack_code: str | None = None
    has_snapshot: bool = False
    clip_url: str | None = None
    clip_camera: str | None = None  # the camera and event whose clip the edge keeps (the relay's source)
    clip_event_id: str | None = None
    pages: tuple[Page, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    agency_acks: tuple[AgencyAck, ...] = ()   # who acknowledged for which agency (alerting/acks.py)
    muted: str | None = None       # why it was not paged (a maintenance window), when it was not

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def needs_ack(self) -> bool:
        """The banner and the alarm stay until somebody takes it."""
        return self.state in ("new", "paged")


@dataclass(frozen=True)
class CameraHealth:
    camera: str
    name: str
    state: HealthState
    # The rest only by name: two branches each appended a field here, and a positional caller then put
    # the last-seen time into `muted` (the health page answered 500). By name, an added field is harmless.
    _: KW_ONLY
    fps: float | None = None
    last_frame_age_s: float | None = None
    reason: str | None = None
    reported_at: float | None = None   # when the edge said so (epoch)
    muted: dict | None = None          # a maintenance window: by, until (epoch), reason (alerting/maintenance.py)
    last_seen_at: float | None = None  # when the camera last gave a frame, as far as we know (epoch)


@dataclass(frozen=True)
class Change:
    """Something the open pages must redraw: an alert (by id) or the health grid."""

    what: Literal["alert", "health"]
    id: str | None = None
    at: float = 0.0
    extra: dict = field(default_factory=dict)


class ControlRoomBackend(Protocol):
    site_id: str
    site_name: str
    timezone: str

    def cameras(self) -> list[CameraInfo]: ...

    def harbour_geojson(self) -> dict | None:
        """The site's quays and water (a GeoJSON FeatureCollection) for the map, or None."""
        ...

    def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[Alert]: ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def snapshot_jpeg(self, alert_id: str) -> bytes | None:
        """The evidence snapshot (false-colour, quay line and box drawn) of the alert's first event."""
        ...

    def acknowledge(self, alert_id: str, operator: str) -> Alert: ...

    def close(self, alert_id: str, outcome: Outcome, operator: str, note: str | None = None) -> Alert: ...

    def add_note(self, alert_id: str, operator: str, text: str) -> Alert: ...

    def alerts_between(self, start: float, end: float) -> list[Alert]:
        """Every alert opened in [start, end), for the statistics (pages included, audit not needed)."""
        ...

    def in_service_since(self) -> float | None:
        """When the service started watching (its first stored event), for camera-hours; None: not yet."""
        ...

    def camera_health(self) -> list[CameraHealth]: ...

    def latest_frame(self, camera: str) -> tuple[float, bytes] | None:
        """The newest live-view JPEG for a camera and when it arrived, or None."""
        ...

    def wait_frame(self, camera: str, after: float, timeout: float) -> tuple[float, bytes] | None:
        """Block until a frame newer than `after` (its arrival time) comes, or `timeout` passes."""
        ...

    def subscribe(self) -> AsyncIterator[Change]:
        """Changes as they happen, for live push; one iterator per open page."""
        ...
