"""The camera self-test: how often each camera's path is proven able to alert with a synthetic fall (a drill).

Lives under `edge.selftest:` in the site file, e.g.

    edge:
      selftest: {interval_s: 21600, jitter_s: 1800, skip_cameras: [cam-7]}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SelfTestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run scheduled self-tests at all")
    interval_s: float = Field(default=6 * 3600.0, ge=60, description="each camera is tested this often, s")
    first_after_s: float = Field(
        default=300.0, ge=0, description="the first test of a camera is due this long after the worker starts, s "
        "(plus its jitter), so a restart loop does not drill every few seconds",
    )
    jitter_s: float = Field(
        default=1800.0, ge=0, description="each camera's tests are shifted by a fixed amount in [0, jitter_s) "
        "derived from its id, so the cameras of a site are not all tested at the same moment, s",
    )
    warmup_s: float = Field(
        default=2.0, ge=0.5, le=30, description="live frames the self-test detector learns the scene from before "
        "the synthetic person appears, s",
    )
    alert_within_s: float = Field(
        default=8.0, gt=0, le=60, description="the drill alert must come this soon after the synthetic person "
        "crosses the quay line, else self_test_failed (generous: the test proves the path, not the latency), s",
    )
    no_frames_after_s: float = Field(
        default=10.0, gt=0, le=600, description="a camera that delivers no frame this long into its test fails it "
        "('no frames'), s",
    )
    attempts: int = Field(
        default=2, ge=1, le=5, description="drills per due test before self_test_failed: a missed drill is repeated "
        "at once on another stretch of quay (one miss is not yet a broken camera; a dark camera fails at once)",
    )
    skip_cameras: list[str] = Field(default_factory=list, description="camera ids never self-tested")

    def tests(self, camera_id: str) -> bool:
        return self.enabled and camera_id not in self.skip_cameras
