"""Render a named suite. The committed fixtures are rendered into a staging directory first and moved
into recordings_fixtures/ at the end, so colleagues replaying the library never see half a set."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from quaywatch.config.recording import CLIP_SUFFIXES
from quaywatch.errors import QuaywatchError
from quaywatch.simulator.clip import write_clip
from quaywatch.simulator.suites import FIXTURES, SUITES, Fixture


def run_suite(name: str, out: str | None, only: list[str] | None = None) -> int:
    if name not in SUITES:
        raise QuaywatchError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    if name == "fixtures":
        final = Path(out) if out else FIXTURES
    elif not out:
        raise QuaywatchError(f"suite {name!r} is generated on demand: give --out DIR")
    else:
        final = Path(out)
    final.mkdir(parents=True, exist_ok=True)
    items: list[Fixture] = SUITES[name](final)
    if only:
        items = [f for f in items if f.name in only]
    stage = Path(tempfile.mkdtemp(prefix=f"quaywatch-{name}-"))
    try:
        for fx in tqdm(items, desc=f"simulate {name}", unit="clip", disable=not sys.stderr.isatty()):
            write_clip(fx.spec, stage / fx.filename, description=f"{fx.proves}. {_facts(fx)}", final_dir=final)
            print(final / fx.filename, flush=True)
        if name == "fixtures" and not only:  # the library is exactly the list: drop clips no longer in it
            keep = {fx.filename for fx in items}
            for old in final.iterdir():
                if old.suffix in CLIP_SUFFIXES and old.name not in keep:
                    old.unlink()
                    old.with_suffix(".json").unlink(missing_ok=True)
        for f in sorted(stage.iterdir()):
            shutil.move(str(f), final / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if name == "fixtures" and final == FIXTURES:
        from quaywatch.simulator.readme import write_readme

        print(write_readme(final))
    return 0


def _facts(fx: Fixture) -> str:
    s = fx.spec
    return (f"Simulated: {s.scenario}, {s.season} {'night' if s.night else 'day'}, seed {s.seed}, "
            f"{s.seconds:g} s at {s.fps:g} fps")
