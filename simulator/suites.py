"""Named sets of simulated clips. `fixtures` is the committed library (regenerated exactly by
`quaywatch simulate suite fixtures`); the others are generated on demand into a directory of your choice.

Sites are the synthetic twins in recordings_fixtures/sites/. Sizes are chosen for the 30 MB budget:
8-bit H.264 is cheap, lossless 16-bit noise is not, so radiometric fixtures use the small 160x120 camera.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from quaywatch.simulator.clip import ClipSpec

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "recordings_fixtures"
SITES = FIXTURES / "sites"
AALBORG = str(SITES / "aalborg-sim.yaml")
PIER = str(SITES / "pier-sim.yaml")
LEPTON = str(SITES / "lepton-sim.yaml")


@dataclass(frozen=True)
class Fixture:
    name: str  # file stem
    spec: ClipSpec
    proves: str

    @property
    def filename(self) -> str:
        return self.name + (".mkv" if self.spec.bits == 16 else ".mp4")


def _a(scenario, seed, seconds, fps=9.0, bits=8, season="winter", night=True, cam="cam-1"):
    return ClipSpec(scenario, AALBORG, cam, seed, seconds, fps, bits, season, night)


def _p(scenario, seed, seconds, fps=9.0, bits=8, season="winter", night=True):
    return ClipSpec(scenario, PIER, "cam-2", seed, seconds, fps, bits, season, night)


def _l(scenario, seed, seconds, fps=9.0, season="winter", night=True):
    return ClipSpec(scenario, LEPTON, "cam-3", seed, seconds, fps, 16, season, night)


FIXTURE_LIST: list[Fixture] = [
    # --- first batch -----------------------------------------------------------------------------
    Fixture("fall-aalborg-winter-night-1", _a("fall", 101, 20), "a fall off the Aalborg quay is found (8-bit, winter night)"),
    Fixture("fall-pier-summer-night-1", _p("fall", 102, 20, season="summer"),
            "a fall over a bent quay line, water above the quay, summer night (quay warmer than water)"),
    Fixture("fall-lepton-winter-16bit-1", _l("fall", 103, 12), "a fall in 16-bit radiometric centikelvin"),
    Fixture("fall-submerge-lepton-16bit", _l("fall_submerge", 104, 12),
            "a person who falls and sinks within seconds still alerts (16-bit)"),
    Fixture("neg-walkers-edge-aalborg", _a("walkers", 105, 90),
            "walkers along and right at the edge, boxes overlapping the quay line, raise nothing"),
    Fixture("neg-gulls-ducks-aalborg", _a("birds", 106, 60),
            "gulls crossing the water and the quay line, ducks on the water, raise nothing"),
    Fixture("neg-ducks-pier", _p("ducks", 107, 60), "ducks paddling and diving (small, cooler than a head) raise nothing"),
]


def fixtures() -> list[Fixture]:
    return FIXTURE_LIST


def long_negatives() -> list[Fixture]:
    """Extra hours of harbour life without anyone in the water (on demand; not committed)."""
    out = []
    for i in range(6):
        season = ("winter", "summer", "autumn")[i % 3]
        out.append(Fixture(f"long-neg-aalborg-{i}", _a("mixed", 9000 + i, 3600, fps=3, season=season, night=i % 2 == 0),
                           "an hour of mixed harbour life at 3 fps"))
    return out


SUITES = {"fixtures": fixtures, "long-negatives": long_negatives}


def with_out(fx: Fixture, **changes) -> Fixture:
    return Fixture(fx.name, replace(fx.spec, **changes), fx.proves)
