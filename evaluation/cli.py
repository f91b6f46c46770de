"""`quaywatch replay CLIP` and `quaywatch eval PATH...`."""

from __future__ import annotations

import argparse
import json
import os
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

    r = sub.add_parser("real-frames", help="the real Aalborg frames (../shared) as negatives: stills and composites",
                       description="Hold each real frame as a still clip with sensor noise and run the detector "
                       "in-process; with --composites, also walk real people cut from their boxes over the matching "
                       "empty background. Prints the frames that alerted; the last line is a JSON summary.")
    r.add_argument("--site", default="aalborg-havnefront", help="site YAML (default: aalborg-havnefront)")
    r.add_argument("--camera", default="cam-1")
    r.add_argument("--frames", help="the aalborg-ltd-frames folder (default: ../shared/data/real/aalborg-ltd-frames)")
    r.add_argument("--seconds", type=float, default=2.0, help="how long each still is held (default 2)")
    r.add_argument("--stride", type=int, default=1, help="every n-th frame only")
    r.add_argument("--composites", type=int, default=0, metavar="N", help="also N composite clips of walking people")
    r.set_defaults(func=_real_frames)


def check_inputs(clip: str, debug: str | None) -> None:
    """Say what is wrong before any work: a clip that is not there, a debug video that could not be written."""
    path = Path(clip)
    if not path.exists():
        raise QuaywatchError(f"{clip}: no such file (the clip does not exist)")
    if path.is_dir():
        raise QuaywatchError(f"{clip}: is a directory; replay takes one clip (eval takes directories)")
    if debug:
        out = Path(debug).parent
        if not out.is_dir():
            raise QuaywatchError(f"--debug {debug}: the directory {out} does not exist")
        if not os.access(out, os.W_OK):
            raise QuaywatchError(f"--debug {debug}: the directory {out} is not writable")


def _replay(args: argparse.Namespace) -> int:
    from quaywatch.edge.clips import clip_info
    from quaywatch.evaluation.replay import replay, resolve

    check_inputs(args.clip, args.debug)
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


def _real_frames(args: argparse.Namespace) -> int:
    from quaywatch.config import load_site
    from quaywatch.evaluation import real_frames as rf

    camera = load_site(args.site).camera(args.camera)
    folder = Path(args.frames) if args.frames else rf.FRAMES_DIR
    result = rf.run_real_frames(camera, rf.frame_paths(folder, args.stride), seconds=args.seconds)
    for a in result.alerts:
        print(f"still {a.image}: {a.kind} at {a.t:.2f} s, bbox {list(a.bbox)}")
    summary = {"stills": result.summary()}
    if args.composites:
        from quaywatch.evaluation.composites import run_composites

        comp = run_composites(camera, clips=args.composites, frames_dir=folder)
        for a in comp.alerts:
            print(f"{a.image}: {a.kind} at {a.t:.2f} s, bbox {list(a.bbox)}")
        summary["composites"] = comp.summary()
    print(json.dumps(summary))
    return 1 if result.alerts or (args.composites and summary["composites"]["alerts"]) else 0


def _eval(args: argparse.Namespace) -> int:
    from quaywatch.evaluation.runner import evaluate

    thresholds = scoring.parse_thresholds(args.fail_under) if args.fail_under else None
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise QuaywatchError(", ".join(missing) + (": no such clip or directory (it does not exist)" if len(missing) == 1
                                                    else ": no such clips or directories (they do not exist)"))
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
