"""The whole site file: the site, its cameras and how each part of the system is set up."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from quaywatch.config.alerting import AlertingConfig
from quaywatch.config.camera import SLUG, Camera, merge_detector_defaults
from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.config.detector import DetectorTuning
from quaywatch.config.edge import EdgeConfig
from quaywatch.config.mqtt import MqttConfig
from quaywatch.config.site_map import SiteMap


class SiteInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    timezone: str = "Europe/Copenhagen"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Copenhagen)") from None
        return value


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: SiteInfo
    cameras: list[Camera] = Field(min_length=1)
    detector: DetectorTuning = Field(default_factory=DetectorTuning)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    controlroom: ControlRoomConfig = Field(default_factory=ControlRoomConfig)
    map: SiteMap | None = None    # quays and water for the control room's map

    @model_validator(mode="before")
    @classmethod
    def _camera_detector_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("cameras"), list):
            defaults = data.get("detector") or {}
            if isinstance(defaults, dict):
                data = {**data, "cameras": [merge_detector_defaults(defaults, c) for c in data["cameras"]]}
        return data

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[Camera]) -> list[Camera]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cameras

    @field_validator("alerting")
    @classmethod
    def _overlapping_cameras_exist(cls, alerting: AlertingConfig, info: ValidationInfo) -> AlertingConfig:
        known = {c.id for c in info.data.get("cameras") or []}
        if not known:
            return alerting  # the cameras themselves failed; that error says enough
        for i, group in enumerate(alerting.overlapping_cameras):
            for j, cam in enumerate(group):
                if cam not in known:
                    raise ValueError(f"overlapping_cameras[{i}][{j}]: unknown camera {cam!r}")
        return alerting

    def camera(self, camera_id: str) -> Camera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        from quaywatch.errors import QuaywatchError

        raise QuaywatchError(f"site {self.site.id!r} has no camera {camera_id!r} (it has: {known})")
