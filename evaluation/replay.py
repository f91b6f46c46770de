"""Run a recorded clip through the live edge's code path (`edge.pipeline.CameraPipeline`), as fast as
the CPU allows, and collect its alerts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quaywatch.config import Camera, Site, load_site
from quaywatch.config.recording import GroundTruth, load_ground_truth, sidecar_for
from quaywatch.detector.types import FrameResult
from quaywatch.edge.clips import clip_info, read_frames
from quaywatch.edge.pipeline import Alert, CameraPipeline
from quaywatch.errors import QuaywatchError

FrameHook = Callable[[int, float, np.ndarray, FrameResult, list[Alert]], None]


@dataclass
class ReplayResult:
    clip: Path
    site: Site
    camera: Camera
    alerts: list[Alert]
    frames: int
    fps: float
    duration_s: float
    truth: GroundTruth | None


def resolve(clip: Path, site_path: str | None, camera_id: str | None) -> tuple[Site, Camera, GroundTruth | None]:
    """Site and camera from the command line, else from the clip's ground-truth sidecar."""
    sidecar = sidecar_for(clip)
    truth = load_ground_truth(sidecar) if sidecar.exists() else None
    if site_path is None:
        if truth is None:
            raise QuaywatchError(f"{clip}: no sidecar {sidecar.name}; name the site with --site and --camera")
        site_path = str(truth.site_path(sidecar))
    site = load_site(site_path)
    if camera_id is None:
        camera_id = truth.camera if truth else (site.cameras[0].id if len(site.cameras) == 1 else None)
        if camera_id is None:
            raise QuaywatchError(f"{clip}: the site has several cameras; name one with --camera")
    return site, site.camera(camera_id), truth


def replay(clip: str | Path, site_path: str | None = None, camera_id: str | None = None,
           progress: bool = False, on_frame: FrameHook | None = None) -> ReplayResult:
    clip = Path(clip)
    site, camera, truth = resolve(clip, site_path, camera_id)
    info = clip_info(clip)
    pipeline = CameraPipeline(site, camera, fps=info.fps)
    alerts: list[Alert] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=info.frames, desc=clip.name, unit="f", file=sys.stderr, leave=False)
    last_t = 0.0
    frames = 0
    try:
        for index, (t, frame) in enumerate(read_frames(clip)):
            new = pipeline.process(t, frame)
            alerts += new
            if on_frame is not None and pipeline.last is not None:
                on_frame(index, t, frame, pipeline.last, new)
            last_t = t
            frames += 1
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    duration = max(last_t + 1.0 / info.fps, frames / info.fps) if frames else 0.0
    return ReplayResult(clip, site, camera, alerts, frames, info.fps, duration, truth)


def with_tuning(camera: Camera, **overrides) -> Camera:
    """The camera with some detector tuning fields overridden (checked like the site file's)."""
    from quaywatch.config.detector import DetectorTuning

    tuning = DetectorTuning.model_validate({**camera.detector.model_dump(), **overrides})
    return camera.model_copy(update={"detector": tuning})


def replay_margins(clip: str | Path, margins: list[float]) -> tuple[ReplayResult, list[list[Alert]]]:
    """The clip through one detector per `alert_margin` value, each frame decoded once: the alerts each
    value raises. A re-run per value, not one run thresholded after: an alert held back changes what
    follows it (the incident it would have opened, a later alert of the same track)."""
    clip = Path(clip)
    site, camera, truth = resolve(clip, None, None)
    info = clip_info(clip)
    pipelines = [CameraPipeline(site, with_tuning(camera, alert_margin=m), fps=info.fps) for m in margins]
    alerts: list[list[Alert]] = [[] for _ in margins]
    last_t, frames = 0.0, 0
    for t, frame in read_frames(clip):
        for k, pipeline in enumerate(pipelines):
            alerts[k] += pipeline.process(t, frame)
        last_t, frames = t, frames + 1
    duration = max(last_t + 1.0 / info.fps, frames / info.fps) if frames else 0.0
    return ReplayResult(clip, site, camera, [], frames, info.fps, duration, truth), alerts
