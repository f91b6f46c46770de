"""`quaywatch alerting --site FILE [--dry-run]`: run the alerting service until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio

from quaywatch.config.loader import load_site


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerting", help="run the alerting service (MQTT events -> SMS pages, webhooks, metrics)")
    p.add_argument("--site", required=True, help="site YAML file, or a name from config/sites/")
    p.add_argument("--dry-run", action="store_true", help="print and record messages instead of sending them")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from quaywatch.alerting.service import AlertingService

    site = load_site(args.site)
    service = AlertingService(site, dry_run=True if args.dry_run else None)
    from quaywatch.controlroom.mount import attach_controlroom  # the control-room page, on the same web app

    attach_controlroom(service, site_file=args.site)
    asyncio.run(service.run())
    return 0
