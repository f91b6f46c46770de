"""`quaywatch demo`: the main job on embedded defaults.

Stage one (issue 2): replay every fall fixture through the live detection path and print the alerts
beside the ground truth, so a newcomer sees the detector decide on real clips in one command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quaywatch.config.recording import find_clips, sidecar_for
from quaywatch.errors import QuaywatchError

FIXTURES = Path(__file__).resolve().parents[1] / "recordings_fixtures"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo on embedded defaults")
    p.add_argument("--clips", type=int, default=4, help="how many fixture clips to replay")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from quaywatch.evaluation.replay import replay

    if not FIXTURES.is_dir():
        raise QuaywatchError(f"{FIXTURES}: fixture library not found (run from a checkout)")
    clips = [c for c in find_clips([FIXTURES]) if sidecar_for(c).exists()]
    picked = sorted(clips, key=lambda c: ("fall" not in c.name, c.name))[: args.clips]
    for clip in picked:
        result = replay(clip, progress=sys.stderr.isatty())
        truth = result.truth.events if result.truth else []
        print(f"\n{clip.name} — {result.camera.name} ({result.camera.id}), {result.duration_s:.0f} s")
        print("  truth: " + (", ".join(f"{e.kind} at {e.t:.2f} s" for e in truth) or "no events (negative clip)"))
        for a in result.alerts:
            d = a.detection
            print(f"  ALERT {d.kind} at {d.t:.2f} s  track {d.track_id}  box {list(d.bbox)}  "
                  f"confidence {d.confidence:.2f}")
        if not result.alerts:
            print("  no alerts")
    return 0
