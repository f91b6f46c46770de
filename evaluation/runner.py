"""Replay many clips (in parallel processes) and score each against its ground truth."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from quaywatch.config.recording import find_clips, sidecar_for
from quaywatch.errors import QuaywatchError
from quaywatch.evaluation.replay import replay, replay_margins
from quaywatch.evaluation.scoring import ClipScore, TimedEvent, score_clip


@dataclass
class ClipOutcome:
    score: ClipScore | None
    error: str | None = None


def evaluate_clip(clip: str) -> ClipOutcome:
    """One clip: replay, then match. Errors come back as text so one bad clip doesn't stop the run."""
    path = Path(clip)
    try:
        if not sidecar_for(path).exists():
            raise QuaywatchError(f"{path}: no ground-truth sidecar {sidecar_for(path).name}")
        result = replay(path)
        assert result.truth is not None
        events = [TimedEvent(e.kind, e.t, e.visible) for e in result.truth.events]
        alerts = [TimedEvent(a.detection.kind, a.detection.t) for a in result.alerts]
        return ClipOutcome(score_clip(str(path), result.camera.id, result.duration_s, events, alerts))
    except QuaywatchError as exc:
        return ClipOutcome(None, str(exc))


def evaluate_clip_margins(clip: str, margins: list[float]) -> list[ClipOutcome]:
    """One clip at each `alert_margin` value (one decode, a detector per value)."""
    path = Path(clip)
    try:
        if not sidecar_for(path).exists():
            raise QuaywatchError(f"{path}: no ground-truth sidecar {sidecar_for(path).name}")
        result, per_margin = replay_margins(path, margins)
        assert result.truth is not None
        events = [TimedEvent(e.kind, e.t) for e in result.truth.events]
        return [ClipOutcome(score_clip(str(path), result.camera.id, result.duration_s, events,
                                       [TimedEvent(a.detection.kind, a.detection.t) for a in alerts]))
                for alerts in per_margin]
    except QuaywatchError as exc:
        return [ClipOutcome(None, str(exc)) for _ in margins]


def evaluate_margins(paths: list[str], margins: list[float], jobs: int | None = None
                     ) -> list[tuple[list[ClipScore], list[str]]]:
    """`quaywatch eval --sweep`: (scores, errors) for each margin value, in the order given."""
    clips = [str(c) for c in find_clips(paths)]
    if not clips:
        raise QuaywatchError(f"no clips (.mp4, .mkv) found in {' '.join(paths)}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(clips)))
    if jobs == 1:
        outcomes = {c: evaluate_clip_margins(c, margins) for c in clips}
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = dict(zip(clips, pool.map(evaluate_clip_margins, clips, [margins] * len(clips)), strict=True))
    out = []
    for k in range(len(margins)):
        scores = [o.score for c in clips if (o := outcomes[c][k]).score is not None]
        errors = [o.error for c in clips if (o := outcomes[c][k]).error is not None]
        out.append((scores, errors))
    return out


def evaluate(paths: list[str], jobs: int | None = None, progress: bool = False) -> tuple[list[ClipScore], list[str]]:
    clips = [str(c) for c in find_clips(paths)]
    if not clips:
        raise QuaywatchError(f"no clips (.mp4, .mkv) found in {' '.join(paths)}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(clips)))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(clips), desc="eval", unit="clip", file=sys.stderr)
    outcomes: dict[str, ClipOutcome] = {}
    try:
        if jobs == 1:
            for clip in clips:
                outcomes[clip] = evaluate_clip(clip)
                if bar is not None:
                    bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(evaluate_clip, c): c for c in clips}
                for fut in as_completed(futures):
                    outcomes[futures[fut]] = fut.result()
                    if bar is not None:
                        bar.update()
    finally:
        if bar is not None:
            bar.close()
    scores = [o.score for c in clips if (o := outcomes[c]).score is not None]
    errors = [o.error for c in clips if (o := outcomes[c]).error is not None]
    return scores, errors
