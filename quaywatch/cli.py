"""The `quaywatch` command. Each package registers its own subcommands; this file only dispatches.

Errors a user can act on (QuaywatchError) print as one clear message and exit 2; anything unexpected
prints a one-line summary (QUAYWATCH_DEBUG=1 shows the traceback) and exits 1. Never a raw traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from quaywatch import __version__
from quaywatch.errors import QuaywatchError
from quaywatch.logsafe import OneLineFormatter

# Each module has `register(subparsers)` adding its subcommands with `set_defaults(func=...)`.
COMMAND_MODULES = [
    "quaywatch.simulator.cli",
    "quaywatch.config.cli",
    "quaywatch.evaluation.cli",
    "quaywatch.evaluation.calibrate",
    "quaywatch.edge.camera_cli",
    "quaywatch.edge.worker_cli",
    "quaywatch.edge.selftest_cli",
    "quaywatch.demo",
    "quaywatch.run",
    "quaywatch.mosquitto",
    "quaywatch.alerting.cli",
    "quaywatch.controlroom.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quaywatch", description="Harbourfront thermal-camera drowning alerts.")
    parser.add_argument("--version", action="version", version=f"quaywatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    # Escaped: an untrusted string in a message (a topic with a newline) must not forge a log line.
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except QuaywatchError as exc:
        print(f"quaywatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quaywatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last line of defence: a user never sees a traceback
        if os.environ.get("QUAYWATCH_DEBUG"):
            raise
        print(
            f"quaywatch: internal error: {type(exc).__name__}: {exc} (set QUAYWATCH_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
