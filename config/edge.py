"""The edge worker: which worker this is, where it keeps its outbox and evidence, when a camera is dark,
how much CPU detection may use, and where the evidence server listens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quaywatch.config.camera import ENV_NAME
from quaywatch.config.capture import CaptureConfig
from quaywatch.config.selftest import SelfTestConfig


class EvidenceConfig(BaseModel):
    """The snapshot inlined in each alert and the short clip served over HTTP for the alerting service."""

    model_config = ConfigDict(extra="forbid")

    http_host: str = Field(default="127.0.0.1", description="where the evidence HTTP server listens")
    http_port: int = Field(default=8710, ge=0, le=65535, description="0 = any free port")
    public_url: str | None = Field(
        default=None, description="base URL alerting uses to reach this edge, e.g. http://edge-1:8710; "
        "unset = http://<http_host>:<port>",
    )
    pre_s: float = Field(default=5.0, ge=0, le=30, description="clip seconds before the entry")
    post_s: float = Field(default=5.0, ge=0, le=30, description="clip seconds after the entry")
    clip_fps_max: float = Field(
        default=10.0, gt=0, le=60, description="frames kept per second for clips of sources without an encoded "
        "stream (16-bit, sim://); an H.264/H.265 camera's clip is its own stream at its full rate")
    snapshot_max_bytes: int = Field(default=40_000, ge=4_000, le=150_000)
    keep_clips: int = Field(default=500, ge=1, description="older clips are deleted beyond this many")
    token_env: str | None = Field(
        default=None, pattern=ENV_NAME,
        description="environment variable with the shared secret alerting must send (Authorization: Bearer) "
        "for clips, snapshots and stats; unset = one generated per install in mqtt.credentials_dir (a single box)",
    )


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_id: str = Field(default="edge-1", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    offline_after_s: float = Field(default=30.0, gt=0, description="a camera dark this long raises camera_offline")
    data_dir: str = Field(default="var/edge", description="outbox database and evidence clips")
    detection_threads: int = Field(
        default=0, ge=0, le=64, description="threads running detectors; 0 = one per CPU core"
    )
    detection_in: Literal["threads", "processes"] = Field(
        default="threads",
        description="processes: each detection thread hands its cameras' frames to a process of its own, so the "
        "detectors' Python does not queue for the worker's GIL (edge/detect_process.py; measured in docs/cameras.md)")
    detection_stall_s: float = Field(
        default=10.0, gt=0, le=300,
        description="a detection process that answers no frame for this long is killed and started again")
    queue_frames: int = Field(
        default=1, ge=1, le=30,
        description="frames that may wait per camera, at least (a second's worth always may: a burst from the network "
                    "must not be thinned); only a detector more than that behind drops the oldest, counted",
    )
    status_interval_s: float = Field(default=10.0, gt=0, le=3600, description="camera status republished this often")
    preview_fps: float = Field(
        default=2.0, ge=0, le=10,
        description="live-view frames per camera per second for the control room (false colour, quay line, "
        "tracks; QoS 0, never queued); 0 = none")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    selftest: SelfTestConfig = Field(default_factory=SelfTestConfig)  # scheduled drills: config/selftest.py
