"""`quaywatch simulate ...`: one simulated clip with its ground truth, or a whole named suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quaywatch.errors import QuaywatchError
from quaywatch.simulator.climate import SEASONS
from quaywatch.simulator.clip import ClipSpec, simulation, write_clip
from quaywatch.simulator.contact import contact_sheet
from quaywatch.simulator.scenarios import SCENARIOS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="render a simulated thermal clip with ground truth, or a suite of them",
                       description="Render a simulated thermal clip (8-bit AGC MP4 or 16-bit centikelvin MKV) "
                       "and its ground-truth sidecar <stem>.json. `simulate suite NAME` renders a named set.")
    p.add_argument("suite", nargs="*", metavar="suite NAME", help="`suite fixtures|long-negatives|heldout|validation|soak|fresh-falls|aalborg-plate|random-worlds`")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="fall")
    p.add_argument("--site", help="site YAML whose camera geometry to simulate")
    p.add_argument("--camera", help="camera id in the site (default: its first camera)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--fps", type=float, default=9.0)
    p.add_argument("--bits", type=int, choices=(8, 16), default=8)
    p.add_argument("--season", choices=SEASONS, default="winter")
    p.add_argument("--day", action="store_true", help="daytime (default: night)")
    p.add_argument("--plate", choices=("aalborg", "aalborg-walker"),
                   help="use a real Aalborg frame from ../shared as background (never commit the result)")
    p.add_argument("--out", help="clip to write (.mp4 for 8-bit, .mkv for 16-bit); for a suite, a directory")
    p.add_argument("--contact-sheet", help="also write a PNG grid of frames around the first event")
    p.add_argument("--only", help="with a suite: only these clips (comma-separated file stems)")
    p.add_argument("--seeds", help="random-worlds: world seeds, e.g. 5000-5023,6000 (default: THE EXAM's seeds; "
                                   "tune on other seeds, never on the exam)")
    p.add_argument("--hours", type=float, default=None, help="random-worlds: negative camera-hours in all (exam: 20)")
    p.add_argument("--events", type=int, default=None, help="random-worlds: events in all (exam: 64)")
    p.add_argument("--site-variant", choices=("calibrated", "person-px"), default="calibrated",
                   help="random-worlds: sidecars point at the installer's calibrated site file, or at the one with "
                        "only person_px_at (the uncalibrated fallback)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.suite:
        from quaywatch.simulator.suite_run import run_suite

        if args.suite[0] != "suite" or len(args.suite) != 2:
            raise QuaywatchError("use `quaywatch simulate suite NAME` or `quaywatch simulate --site ... --out ...`")
        if args.suite[1] == "random-worlds":
            return _random_worlds(args)
        return run_suite(args.suite[1], args.out, args.only.split(",") if args.only else None)
    if not args.site or not args.out:
        raise QuaywatchError("--site and --out are needed (or `quaywatch simulate suite NAME`)")
    camera = args.camera or _first_camera(args.site)
    plate = {"aalborg": "busy", "aalborg-walker": "walker"}.get(args.plate or "")
    spec = ClipSpec(args.scenario, args.site, camera, args.seed, args.seconds, args.fps, args.bits, args.season,
                    not args.day, plate)
    want = ".mkv" if args.bits == 16 else ".mp4"
    if Path(args.out).suffix.lower() != want:
        raise QuaywatchError(f"--out {args.out}: {args.bits}-bit clips are {want} files")
    _sim, truth = write_clip(spec, args.out)
    print(f"{args.out}: {len(truth.events)} event(s): {truth.description}")
    if args.contact_sheet:
        write_sheet(spec, args.contact_sheet)
        print(f"{args.contact_sheet}: contact sheet", file=sys.stderr)
    return 0


def _random_worlds(args: argparse.Namespace) -> int:
    from quaywatch.simulator import random_worlds as rw

    if not args.out:
        raise QuaywatchError("suite 'random-worlds' is generated on demand: give --out DIR")
    try:
        seeds = rw.parse_seeds(args.seeds)
    except ValueError:
        raise QuaywatchError(f"--seeds {args.seeds!r}: give seeds as N, N-M, comma-separated") from None
    hours = rw.EXAM_HOURS if args.hours is None else args.hours
    events = rw.EXAM_EVENTS if args.events is None else args.events
    if hours < 0 or events < 0:
        raise QuaywatchError("--hours and --events must not be negative")
    print(f"random-worlds: {rw.describe_plan(seeds, hours, events)}", file=sys.stderr)
    rw.write_suite(Path(args.out), seeds, hours, events, args.site_variant)
    return 0


def _first_camera(site: str) -> str:
    from quaywatch.config.loader import load_site

    return load_site(site).cameras[0].id


def write_sheet(spec: ClipSpec, out: str, n: int = 12) -> None:
    """12 frames around the first event (or the middle of a negative), every second frame."""
    from quaywatch.simulator.falls import Fall

    sim = simulation(spec)
    centre = sim.script.events[0].t if sim.script.events else spec.seconds / 2
    picked = [(t, f) for t, f in sim.frames() if centre - 1.5 <= t <= centre + 6.0]
    crop, scale = None, 2.0
    falls = sorted((a for a in sim.script.actors if isinstance(a, Fall)), key=lambda f: f.entry_t)
    if falls:  # zoom in on the first fall: three body heights around where it lands
        (x, y), r = falls[0].landing.astype(int), int(3 * falls[0].h)
        crop, scale = (x - r, y - r, x + r, y + r), max(2.0, 240 / (2 * r))
    contact_sheet(picked[:: max(1, len(picked) // n)][:n], out, cols=4, scale=scale, lines=[sim.geo.quay_line],
                  crop=crop)
