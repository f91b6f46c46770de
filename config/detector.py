"""Detector tuning: site-wide defaults in `detector:`, overridden per camera in `cameras[i].detector:`.

Every field has a default that works on the fixtures; the README's tuning guide says when to change one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DetectorTuning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_body_px: float = Field(default=4.0, gt=0, description="smallest head/body blob side at the far edge, px")
    max_body_px: float = Field(default=60.0, gt=0, description="largest person blob side near the camera, px")
    alert_confidence: float = Field(default=0.5, ge=0, le=1, description="alerts below this are not raised")
