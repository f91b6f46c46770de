"""`quaywatch selftest --site FILE --camera ID`: drill one camera now, from this machine, and say whether it passed.

What an engineer runs when commissioning or checking a camera: it opens the camera's own source, draws a
synthetic fall into copies of its frames (edge/selftest.py) and runs the detector on them, exactly as the
worker's scheduled drill does. It publishes nothing (the running edge worker owns the camera's outbox and MQTT
session); to drill the whole path through MQTT, alerting and the test group's SMS, run the worker with
`quaywatch edge --selftest-now`. Exit status: 0 passed, 1 failed, 2 a usage/config error.
"""

from __future__ import annotations

import argparse
import json
import time

from quaywatch.config import load_site


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("selftest", help="drill one camera now: a synthetic fall in copies of its frames must alert")
    p.add_argument("--site", required=True, help="site YAML file, or a name from config/sites/")
    p.add_argument("--camera", required=True, metavar="ID", help="camera id in the site")
    p.add_argument("--seed", type=int, default=0, help="where along the quay line the synthetic person falls")
    p.add_argument("--snapshot", metavar="FILE.jpg", help="save the drill frame the alert came on")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    camera = site.camera(args.camera)
    from quaywatch.edge.selftest import SelfTestOutcome, SelfTestRun  # heavy imports only when running
    from quaywatch.edge.sources import EndOfStream, SourceError, open_source

    cfg = site.edge.selftest
    source = open_source(camera, site.edge.capture, realtime=True)
    try:
        source.open()
    except SourceError as exc:  # an offline camera fails its self-test, as in the worker
        outcome = SelfTestOutcome(camera.id, False, time.time(), f"self-test failed: no frames: {exc}")
    else:
        try:
            for attempt in range(1, cfg.attempts + 1):
                run = SelfTestRun(camera, cfg, time.time(), seed=args.seed + attempt - 1,
                                  fps=camera.fps or source.nominal_fps, attempt=attempt)
                outcome = _drill(run, source, EndOfStream, SourceError)
                if outcome.passed or not outcome.missed:
                    break
        finally:
            source.close()
    if args.snapshot and outcome.frame is not None:
        from quaywatch.edge.evidence import snapshot_jpeg

        with open(args.snapshot, "wb") as fh:
            fh.write(snapshot_jpeg(outcome.frame, camera, outcome.detection))
    if args.json:
        print(json.dumps({"camera": camera.id, "passed": outcome.passed, "message": outcome.message,
                          "kind": outcome.detection.kind if outcome.detection else None,
                          "delay_s": outcome.delay_s}))
    else:
        print(f"{camera.id}: {'PASSED' if outcome.passed else 'FAILED'}: {outcome.message}")
    return 0 if outcome.passed else 1


def _drill(run, source, end_of_stream, source_error):
    """Feed the camera's frames to one drill until it decides; a camera that stops answering fails it."""
    while True:
        try:
            raw = source.read()
        except end_of_stream:
            return run.fail(time.time(), "self-test failed: the stream ended before the drill was decided")
        except source_error:  # a read timeout or a dropped stream: the 'no frames' limit decides, not one error
            outcome = run.check(time.time())
            if outcome is not None:
                return outcome
            time.sleep(0.2)
            continue
        outcome = run.feed(raw.t, raw.frame, time.time()) or run.check(time.time())
        if outcome is not None:
            return outcome
