"""`quaywatch replay CLIP` and `quaywatch eval PATH...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from quaywatch.errors import QuaywatchError
from quaywatch.evaluation import scoring

DEFAULT_SWEEP = "-1,-0.5,-0.25,0,0.25,0.5"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run a recorded clip through the live detection path and print its alerts")
    p.add_argument("clip", help="an .mp4 (8-bit) or .mkv (16-bit) clip")
    p.add_argument("--site", help="site YAML (default: from the clip's sidecar)")
    p.add_argument("--camera", help="camera id (default: from the clip's sidecar)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per alert per line")
    p.add_argument("--debug", metavar="OUT.mp4", help="write an overlay video (mask, blobs, tracks, quay line, alerts)")
    p.set_defaults(func=_replay)

    e = sub.add_parser("eval", help="score alerts against ground truth over clips and directories")
    e.add_argument("paths", nargs="+", help="clips or directories of clips with sidecars")
    e.add_argument("--report", metavar="OUT.html", help="write an HTML report with plots")
    e.add_argument("--fail-under", metavar="K=V,...",
                   help="exit 1 when missed: found is a floor; fa_per_hour, tta_median, tta_p95 are ceilings "
                        "(e.g. found=1.0,fa_per_hour=0.05,tta_p95=2.0)")
    e.add_argument("--jobs", type=int, default=None, help="parallel processes (default: CPU count)")
    e.add_argument("--sweep", nargs="?", const=DEFAULT_SWEEP, metavar="M,M,...",
                   help="re-run at each detector alert_margin value (write --sweep=-1,0,0.5; default %(const)s) "
                        "and print falls found against false alarms per hour for each; the report plots them. "
                        "Totals and --fail-under stay those of the site's own margin")
    e.set_defaults(func=_eval)


def _replay(args: argparse.Namespace) -> int:
    from quaywatch.edge.clips import clip_info
    from quaywatch.evaluation.replay import replay, resolve

    debug = None
    if args.debug:
        from quaywatch.evaluation.debug_video import DebugVideo

        _, camera, _ = resolve(Path(args.clip), args.site, args.camera)
        debug = DebugVideo(args.debug, camera, clip_info(args.clip).fps)
    try:
        result = replay(args.clip, args.site, args.camera, progress=sys.stderr.isatty(),
                        on_frame=debug.add if debug else None)
    finally:
        if debug is not None:
            debug.close()
    for alert in result.alerts:
        if args.jsonl:
            print(json.dumps(alert.as_json()), flush=True)
        else:
            d = alert.detection
            print(f"{d.t:8.2f}s  {d.kind:<16} camera={alert.camera} track={d.track_id} "
                  f"bbox={list(d.bbox)} confidence={d.confidence:.2f}")
    print(f"{result.clip.name}: {result.frames} frames, {result.duration_s:.1f} s, {len(result.alerts)} alert(s)"
          + (f"; debug video {args.debug}" if args.debug else ""), file=sys.stderr)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from quaywatch.evaluation.runner import evaluate

    thresholds = scoring.parse_thresholds(args.fail_under) if args.fail_under else None
    margins = _margins(args.sweep) if args.sweep else None
    scores, errors = evaluate(args.paths, jobs=args.jobs, progress=sys.stderr.isatty())
    t = scoring.totals(scores)
    print(f"{'clip':<44} {'sec':>7} {'events':>6} {'found':>5} {'missed':>6} {'FA':>3}  time to alert (s)")
    for s in scores:
        tta = ", ".join(f"{x:.2f}" for x in s.time_to_alert)
        print(f"{Path(s.clip).name:<44} {s.duration_s:7.0f} {len(s.events):6d} {s.found:5d} {s.missed:6d} "
              f"{s.false_alarms:3d}  {tta}")
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    fmt = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
    print(f"\n{t.clips} clips, {t.camera_hours:.2f} camera-hours ({t.negative_camera_hours:.2f} in negatives): "
          f"{t.found}/{t.events} events found, {t.missed} missed, {t.false_alarms} false alarms "
          f"({t.fa_per_hour:.3f}/camera-hour), time to alert median {fmt(t.tta_median)}, p95 {fmt(t.tta_p95)}")
    failed = scoring.failures(t, thresholds) if thresholds is not None else None
    if failed:
        for f in failed:
            print(f"FAIL: {f}", file=sys.stderr)
    sweep = _sweep(args.paths, margins, args.jobs) if margins else None
    if args.report:
        from quaywatch.evaluation.report import write_report

        write_report(args.report, scores, t, errors, failed, sweep)
        print(f"report: {args.report}", file=sys.stderr)
    summary = {**t.as_json(), "errors": len(errors)}
    if thresholds is not None:
        summary["passed"] = not failed and not errors
    print(json.dumps(summary))
    return 1 if failed or errors else 0


def _margins(text: str) -> list[float]:
    try:
        margins = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise QuaywatchError(f"--sweep {text!r}: give margins as numbers, e.g. {DEFAULT_SWEEP}") from None
    if not margins or any(not -1.0 <= m <= 1.0 for m in margins):
        raise QuaywatchError(f"--sweep {text!r}: margins are between -1 and 1, e.g. {DEFAULT_SWEEP}")
    return margins


def _sweep(paths: list[str], margins: list[float], jobs: int | None) -> list[tuple[float, scoring.Totals]]:
    from quaywatch.evaluation.runner import evaluate_margins

    points = []
    print(f"\n{'alert_margin':>12} {'found':>9} {'false alarms':>12} {'per hour':>9} {'tta median':>10} {'p95':>6}")
    for m, (scores, _) in zip(margins, evaluate_margins(paths, margins, jobs=jobs), strict=True):
        t = scoring.totals(scores)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{m:12.2f} {t.found:4d}/{t.events:<4d} {t.false_alarms:12d} {t.fa_per_hour:9.3f} "
              f"{fmt(t.tta_median):>10} {fmt(t.tta_p95):>6}")
        points.append((m, t))
    return points
