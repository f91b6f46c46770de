"""Render a named suite: clips, sidecars, and (for the committed fixtures) nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from quaywatch.errors import QuaywatchError
from quaywatch.simulator.clip import write_clip
from quaywatch.simulator.suites import FIXTURES, SUITES, Fixture


def run_suite(name: str, out: str | None, only: list[str] | None = None) -> int:
    if name not in SUITES:
        raise QuaywatchError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    if name == "fixtures":
        out_dir = Path(out) if out else FIXTURES
    else:
        if not out:
            raise QuaywatchError(f"suite {name!r} is generated on demand: give --out DIR")
        out_dir = Path(out)
    items: list[Fixture] = SUITES[name](out_dir) if name in ("heldout", "aalborg-plate") else SUITES[name]()
    if only:
        items = [f for f in items if f.name in only]
    for fx in tqdm(items, desc=f"simulate {name}", unit="clip", disable=not sys.stderr.isatty()):
        write_clip(fx.spec, out_dir / fx.filename, description=f"{fx.proves}. {_facts(fx)}")
        print(out_dir / fx.filename)
    return 0


def _facts(fx: Fixture) -> str:
    s = fx.spec
    return f"Simulated: {s.scenario}, {s.season} {'night' if s.night else 'day'}, seed {s.seed}, {s.seconds:g} s at {s.fps:g} fps"
