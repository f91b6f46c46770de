"""`quaywatch run --site FILE`: the production entry. Starts the configured parts on this machine:
the embedded MQTT broker when the site names none, the alerting service (with the control room) and
the edge worker. Each part also runs alone (`quaywatch edge`, `quaywatch alerting`); see
config/deploy/ for systemd units that do exactly that.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quaywatch.config import Site, load_site
from quaywatch.supervisor import Part, Supervisor, port_open

PARTS = ("broker", "alerting", "edge")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the configured parts of the system on this machine")
    p.add_argument("--site", required=True, help="site YAML file, or a name from config/sites/")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (the broker only starts when "
                        "the site names no mqtt.host)")
    p.add_argument("--dry-run", action="store_true", help="the alerting service prints pages instead of sending")
    p.add_argument("--log-dir", default="var/log", help="where each part's full log goes")
    p.set_defaults(func=_run)


def quaywatch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "quaywatch", *args]


def parts_for(site: Site, site_path: str, wanted: set[str], dry_run: bool) -> list[Part]:
    parts: list[Part] = []
    if "broker" in wanted and site.mqtt.host is None:
        from quaywatch.mqtt_accounts import write_embedded_accounts

        port = site.mqtt.port
        accounts = write_embedded_accounts(site)  # never anonymous: the edge's and alerting's accounts
        parts.append(Part("broker", [sys.executable, "-m", "quaywatch.broker", "--host", "127.0.0.1",
                                     "--port", str(port), "--accounts", str(accounts)], ready=lambda: port_open(port)))
    if "alerting" in wanted:
        web = site.alerting.web
        parts.append(Part("alerting", quaywatch_cmd("alerting", "--site", site_path, *(["--dry-run"] if dry_run else [])),
                          ready=(lambda: port_open(web.port, web.host)) if web.port else None))
    if "edge" in wanted:
        parts.append(Part("edge", quaywatch_cmd("edge", "--site", site_path)))
    return parts


def _run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    wanted = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = wanted - set(PARTS)
    if unknown:
        from quaywatch.errors import QuaywatchError

        raise QuaywatchError(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    sup = Supervisor(Path(args.log_dir))
    try:
        sup.start(*parts_for(site, args.site, wanted, args.dry_run))
    except BaseException:
        sup.stop()
        raise
    sup.run_until_interrupted()
    return 0
