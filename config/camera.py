"""One camera: where its frames come from and the harbour geometry the detector reasons about."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from quaywatch.config.calibration import CalibrationConfig
from quaywatch.config.detector import DetectorTuning
from quaywatch.config.geometry import Polygon, Polyline

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
SOURCE_SCHEMES = ("rtsp", "rtsps", "onvif", "sim", "file")


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    # Where the camera looks, for the control room's map (its view cone) and, until a camera has a ground
    # calibration, how far from the camera a person it sees can be.
    bearing_deg: float | None = Field(default=None, ge=0, lt=360, description="view direction, clockwise from north")
    fov_deg: float | None = Field(default=None, gt=0, le=180, description="horizontal field of view")
    range_m: float | None = Field(default=None, gt=0, le=5000, description="how far the camera sees a person")


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG, description="short id, used in MQTT topics and SMS")
    name: str = Field(min_length=1, description="what the control room and the SMS call the place")
    source: str = Field(
        min_length=1, description="rtsp://host/path | onvif://user@host:port | sim://SCENE | path/to/clip"
    )
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="environment variable holding the camera password"
    )
    resolution: tuple[int, int] | None = Field(default=None, description="[width, height] of the stream")
    fps: float | None = Field(default=None, gt=0, le=120)
    detect_fps: float | None = Field(
        default=None, gt=0, le=120,
        description="frames a second the detector looks at, when below the stream's rate (as Frigate's detect.fps): "
        "the rest are skipped before decoding where the codec allows; evidence clips keep the full rate")
    water: Polygon
    quay_line: Polyline
    exclude: list[Polygon] = Field(default_factory=list)
    location: Location | None = None
    enabled: bool = True
    detector: DetectorTuning = Field(default_factory=DetectorTuning)
    calibration: CalibrationConfig | None = Field(
        default=None, description="the camera measured to the ground (detector/calibration.py); unset = perspective fit only")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if "://" not in value:
            return value  # a file path, checked when opened
        parts = urlsplit(value)
        if parts.scheme not in SOURCE_SCHEMES:
            raise ValueError(
                f"unknown source scheme {parts.scheme!r}; use one of {', '.join(SOURCE_SCHEMES)} or a file path"
            )
        if parts.password:
            raise ValueError(
                "the password must not be written in the config: remove it from the URL and set "
                "password_env to the name of an environment variable holding it"
            )
        if parts.scheme in ("rtsp", "rtsps", "onvif") and not parts.hostname:
            raise ValueError(f"{parts.scheme} source needs a host")
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (value[0] < 16 or value[1] < 16 or value[0] > 8192 or value[1] > 8192):
            raise ValueError("resolution must be [width, height] between 16 and 8192 pixels")
        return value

    @field_validator("water", "quay_line", "exclude")
    @classmethod
    def _inside_frame(cls, value: list, info: ValidationInfo) -> list:
        """Points must lie in the frame when the resolution is known (resolution is declared first)."""
        resolution = info.data.get("resolution")
        if resolution is None:
            return value
        w, h = resolution
        shapes = value if info.field_name == "exclude" else [value]
        for k, pts in enumerate(shapes):
            for j, (x, y) in enumerate(pts):
                if not (0 <= x <= w and 0 <= y <= h):
                    which = f"polygon {k} " if info.field_name == "exclude" else ""
                    raise ValueError(f"{which}point {j} ({x:g}, {y:g}) lies outside the {w}x{h} frame")
        return value

    @property
    def is_file(self) -> bool:
        return "://" not in self.source or self.source.startswith("file://")


def merge_detector_defaults(site_defaults: dict[str, Any], camera_raw: Any) -> Any:
    """Per-camera `detector:` overrides the site's `detector:` defaults, key by key."""
    if not isinstance(camera_raw, dict):
        return camera_raw
    own = camera_raw.get("detector") or {}
    if not isinstance(own, dict):
        return camera_raw
    return {**camera_raw, "detector": {**site_defaults, **own}}


