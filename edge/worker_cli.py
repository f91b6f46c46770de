"""`quaywatch edge --site FILE`: run the edge worker for a site's cameras until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

from quaywatch.broker import ensure_site_broker
from quaywatch.config import load_site

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="run the edge worker: cameras -> detection -> MQTT events and status")
    p.add_argument("--site", required=True, help="site YAML file, or a name from config/sites/")
    p.add_argument("--camera", action="append", metavar="ID", help="run only this camera (repeatable)")
    p.add_argument("--worker", metavar="ID", help="worker id (default: edge.worker_id from the site)")
    p.add_argument("--data-dir", help="outbox and evidence directory (default: edge.data_dir)")
    p.add_argument("--evidence-port", type=int, help="evidence HTTP port (0 = any free port)")
    p.add_argument("--mqtt-port", type=int, help="broker port (default: mqtt.port)")
    p.add_argument("--stats-every", type=float, default=60.0, metavar="S", help="log worker stats this often")
    p.add_argument("--selftest-now", action="store_true",
                   help="drill every camera once right away (a synthetic fall, sent as drill: true), then on schedule")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # First thing: a stop request that arrives while heavy modules load must still stop us cleanly
    # (and a background job's inherited SIG_IGN for SIGINT must not make Ctrl-C a no-op).
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    site = load_site(args.site)
    updates = {}
    if args.worker:
        updates["edge"] = site.edge.model_copy(update={"worker_id": args.worker})
    if args.mqtt_port:
        updates["mqtt"] = site.mqtt.model_copy(update={"port": args.mqtt_port})
    if updates:
        site = site.model_copy(update=updates)
    from quaywatch.edge.worker import EdgeWorker  # heavy imports (detector, PyAV) only when running

    host, port, embedded = ensure_site_broker(site)
    worker = None
    try:
        worker = EdgeWorker(site, (host, port), cameras=args.camera, data_dir=args.data_dir,
                            evidence_port=args.evidence_port).start()
        print(f"edge worker {site.edge.worker_id} running {len(worker.runners)} camera(s) of site "
              f"{site.site.id}; MQTT {host}:{port}; evidence {worker.server.base_url}", flush=True)
        if args.selftest_now:
            for camera_id in worker.runners:
                worker.selftest.request(camera_id)
        while not stop.wait(args.stats_every):
            log.info("stats %s", json.dumps(worker.stats()))
    finally:
        if worker is not None:
            worker.stop()
        if embedded is not None:
            embedded.stop()
    print(f"edge worker {site.edge.worker_id} stopped", flush=True)
    return 0
