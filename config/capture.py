"""How the edge reads cameras: timeouts, the frozen-frame watchdog, reconnect backoff."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CaptureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open_timeout_s: float = Field(default=5.0, gt=0, le=120, description="give up opening a stream after this")
    read_timeout_s: float = Field(default=3.0, gt=0, le=120, description="give up waiting for one frame after this")
    max_frame_age_s: float = Field(
        default=3.0, gt=0, le=600, description="a frame older than this (or the same frame repeated) = frozen"
    )
    frozen_repeats: int = Field(
        default=0, ge=0, le=10000,
        description="this many bit-identical frames in a row = frozen (0: derive from fps x max_frame_age_s)",
    )
    frozen_diff: float = Field(
        default=0.1, ge=0, le=50,
        description="two frames whose mean absolute difference (pixel units) is at most this are the same "
        "picture; a live sensor's noise alone differs by more, while a re-encoded frozen frame differs by less",
    )
    offline_after_s: float = Field(
        default=10.0, gt=0, le=3600,
        description="degraded (frozen / not reading) this long = offline; reconnects run meanwhile",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="first reconnect delay; doubles up to the max")
    reconnect_max_s: float = Field(default=30.0, gt=0)
    onvif_profile: str | None = Field(
        default=None, description="ONVIF media profile token to stream; default: highest-resolution H.264"
    )
