"""The edge worker: which worker this is, where it keeps its outbox and evidence, when a camera is dark."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from quaywatch.config.capture import CaptureConfig


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_id: str = Field(default="edge-1", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    offline_after_s: float = Field(default=30.0, gt=0, description="a camera dark this long raises camera_offline")
    data_dir: str = Field(default="var/edge", description="outbox database and evidence clips")
