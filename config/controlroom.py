"""The control-room web page: users, sessions, login throttling, live push and the harbour map.

Secrets are only named here, never written: the first admin's password comes from the environment
variable `admin_password_env` on first start (when no user exists yet).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress

from quaywatch.config.camera import ENV_NAME


class ControlRoomConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["da", "en"] = Field(default="da", description="default page language; ?lang=en switches")
    users_db: str = Field(default="var/controlroom/users.db", description="SQLite file with users and sessions")
    admin_user: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    admin_password_env: str = Field(
        default="QUAYWATCH_ADMIN_PASSWORD", pattern=ENV_NAME,
        description="creates the first admin from this variable when the users database is empty",
    )
    session_max_age_s: int = Field(default=12 * 3600, ge=60, le=30 * 86400, description="a login lasts this long")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto = Secure cookie when the request came over https (or X-Forwarded-Proto)",
    )
    login_attempts: int = Field(default=5, ge=1, le=100,
                                description="failed logins per (user, address) per window, then that pair waits")
    login_address_ceiling: int | None = Field(
        default=None, ge=1, le=100_000,
        description="failures from one address per window past which every name that failed there waits too "
        "(names that did not may still log in); unset = 20x login_attempts",
    )
    login_window_s: float = Field(default=300.0, gt=0, le=86400, description="the login throttling window")
    poll_interval_s: float = Field(
        default=0.05, gt=0, le=5, description="how often the alert store is checked for changes (live push)",
    )
    preview_topic: str = Field(
        default="preview", pattern=r"^[A-Za-z0-9_-]+$",
        description="live view: JPEG frames on <prefix>/<site>/<camera>/<preview_topic>",
    )
    evidence_servers: dict[str, Annotated[str, Field(pattern=r"^https?://[^/\s?#]+/?$")]] = Field(
        default_factory=dict,
        description="camera id -> base URL of the edge evidence server that has its clips (http://edge-2:8710); "
        "cameras not named use the site's own edge (edge.evidence.public_url or http_host:http_port). The clip "
        "relay fetches only from these, never from a URL an event carries",
    )
    trusted_proxies: list[IPvAnyAddress] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-For names the client; from anyone else the "
        "header is ignored (it would let a client pick the address its login failures count against)",
    )
    in_service_since: datetime | None = Field(
        default=None, description="when the cameras went into service (ISO 8601), for the statistics' camera-hours; "
        "unset = the first event the alerting store has",
    )
    stale_after_s: float = Field(
        default=60.0, gt=0, description="a camera whose last status is older than this shows as offline",
    )
