"""Replay many clips (in parallel processes) and score each against its ground truth."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from quaywatch.config.recording import find_clips, sidecar_for
from quaywatch.errors import QuaywatchError
from quaywatch.evaluation.replay import replay
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
