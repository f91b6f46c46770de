"""`quaywatch check-config SITE`: validate a site file and say what is wrong, field by field."""

from __future__ import annotations

import argparse

from quaywatch.config.loader import load_site


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a site configuration file")
    p.add_argument("site", help="site YAML file, or a name from config/sites/")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    print(f"{args.site}: ok: site {site.site.id!r}, {len(site.cameras)} camera(s): "
          + ", ".join(c.id for c in site.cameras))
    return 0
