"""Named sets of simulated clips. `fixtures` is the committed library (regenerated exactly by
`quaywatch simulate suite fixtures`); the others are generated on demand into a directory of your choice.

Sizes are chosen for the 30 MB budget: 8-bit H.264 is cheap, lossless 16-bit noise is not (~14 KB a frame
even at 160x120), so the radiometric fixtures use the small 160x120 camera and last ~10 s, and the long
negatives run at 2 fps on half-resolution cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from quaywatch.simulator.clip import ClipSpec
from quaywatch.simulator.scenes import SCENES

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


def _a(scenario, seed, seconds, fps=9.0, season="winter", night=True, place=None, cam="cam-1", crf=26):
    return ClipSpec(scenario, AALBORG, cam, seed, seconds, fps, 8, season, night, place=place, crf=crf)


def _p(scenario, seed, seconds, fps=9.0, season="winter", night=True, place=None, cam="cam-2", crf=27):
    return ClipSpec(scenario, PIER, cam, seed, seconds, fps, 8, season, night, place=place, crf=crf)


def _l(scenario, seed, seconds=10, fps=9.0, season="winter", night=True, place=None):
    return ClipSpec(scenario, LEPTON, "cam-3", seed, seconds, fps, 16, season, night, place=place)


F = Fixture
FIXTURE_LIST: list[Fixture] = [
    # --- positives: falls along the quay, near and far, day and night, all seasons ---------------------------
    F("fall-aalborg-winter-night-1", _a("fall", 101, 20), "a fall off the Aalborg quay is found (winter night)"),
    F("fall-aalborg-winter-night-near", _a("fall", 111, 20, place=0.85),
      "a fall close to the camera (person ~35 px tall)"),
    F("fall-aalborg-winter-night-far", _a("fall", 112, 20, place=0.3), "a fall far from the camera (person ~18 px tall)"),
    F("fall-aalborg-winter-day", _a("fall", 113, 20, night=False), "a fall on a winter day"),
    F("fall-aalborg-summer-night", _a("fall", 114, 20, season="summer"),
      "a fall on a summer night: the quay is warmer than the water, the head warmer still"),
    F("fall-aalborg-summer-day", _a("fall", 115, 20, season="summer", night=False),
      "a fall on a hot summer day: sun-warmed paving (27-38 °C) as warm as a person"),
    F("fall-aalborg-autumn-night", _a("fall", 116, 20, season="autumn"), "a fall on an autumn night"),
    F("fall-submerge-aalborg-winter", _a("fall_submerge", 117, 20, place=0.6),
      "a person who falls and sinks within seconds (no lasting blob) still alerts"),
    F("fall-agc-aalborg", _a("fall_agc", 118, 20),
      "a fall while a boat's hot engine enters the view and shifts the 8-bit AGC"),
    F("two-falls-aalborg", _a("two_falls", 119, 40), "two falls in one clip are two incidents: two alerts"),
    F("fall-busy-aalborg", _a("fall_busy", 120, 30), "a fall among many people walking and sitting at the edge"),
    F("fall-rain-aalborg", _a("fall_rain", 121, 20), "a fall in rain (streaks, pitted water, low contrast)"),
    F("fall-nuc-aalborg", _a("fall_nuc", 122, 20), "a NUC freeze just after the body enters the water"),
    F("swimmer-aalborg", _a("swimmer", 123, 20), "a swimmer already in the water (person_in_water, no crossing)"),
    F("fall-pier-summer-night-1", _p("fall", 102, 20, season="summer"),
      "a fall over a bent quay line, water above the quay, summer night (quay warmer than water)"),
    F("fall-pier-winter-night-near", _p("fall", 131, 20, place=0.35), "a fall near the bend of the pier's quay line"),
    F("fall-pier-winter-day-far", _p("fall", 132, 20, night=False, place=0.9), "a fall at the far end of the pier"),
    F("fall-pier-autumn-night", _p("fall", 133, 20, season="autumn", place=0.1), "a fall at the pier's left end"),
    F("fall-submerge-pier-summer", _p("fall_submerge", 134, 20, season="summer"), "a fall that sinks, on the pier"),
    F("fall-agc-pier", _p("fall_agc", 135, 20), "an AGC jump (hot engine) during a fall on the pier"),
    F("two-falls-pier", _p("two_falls", 136, 36, season="summer"), "two separate falls on the pier: two alerts"),
    F("swimmer-pier-summer", _p("swimmer", 137, 20, season="summer"), "a swimmer off the pier on a summer night"),
    F("fall-lepton-winter-16bit-1", _l("fall", 103), "a fall in 16-bit radiometric centikelvin"),
    F("fall-submerge-lepton-16bit", _l("fall_submerge", 104),
      "a person who falls and sinks within seconds still alerts (16-bit)"),
    F("fall-lepton-summer-16bit", _l("fall", 141, season="summer"), "a summer fall in 16-bit: head ~30 °C, water ~18 °C"),
    F("swimmer-lepton-16bit", _l("swimmer", 142), "a swimmer in 16-bit radiometric"),
    # --- negatives at full rate: each suppression the detector must prove -------------------------------------
    F("neg-walkers-edge-aalborg", _a("walkers", 105, 90),
      "walkers along and right at the edge, boxes overlapping the quay line, raise nothing"),
    F("neg-gulls-ducks-aalborg", _a("birds", 106, 60),
      "gulls crossing the water and the quay line, ducks on the water, raise nothing"),
    F("neg-ducks-pier", _p("ducks", 107, 30), "ducks paddling and diving (small, cooler than a head) raise nothing"),
    F("neg-sitters-aalborg", _a("edge_sitters", 151, 120),
      "people sitting and standing at the very edge for minutes raise nothing"),
    F("neg-sitters-summer-aalborg", _a("edge_sitters", 152, 60, season="summer"), "edge sitters on a summer night"),
    F("neg-groups-pier", _p("groups", 153, 30), "groups walking together along the pier edge raise nothing"),
    F("neg-reflections-aalborg", _a("reflections", 154, 90),
      "mirror images of people on wet paving and on the water raise nothing"),
    F("neg-reflections-pier", _p("reflections", 155, 30, season="summer"), "reflections on the pier, summer"),
    F("neg-boats-aalborg", _a("boat", 156, 90), "fast boats with hot engines raise nothing (and shift the AGC)"),
    F("neg-boats-pier", _p("boat", 157, 30, season="summer"), "boats passing the pier raise nothing"),
    F("neg-rain-aalborg", _a("rain", 158, 60), "rain raises nothing"),
    F("neg-nuc-aalborg", _a("nuc", 159, 90), "NUC freezes and offset jumps every 8-15 s raise nothing"),
    F("neg-ropes-pier", _p("ropes", 160, 30), "swaying ropes and a mast (exclude zones) raise nothing"),
    F("neg-gulls-pier", _p("gulls", 161, 30), "gulls over the pier raise nothing"),
    F("neg-ducks-lepton-16bit", _l("ducks", 162, seconds=6), "ducks in 16-bit (3-9 °C above the water, well below a head) raise nothing"),
    F("neg-nuc-lepton-16bit", _l("nuc", 163), "NUC freezes in 16-bit radiometric raise nothing"),
    F("neg-walkers-lepton-16bit", _l("walkers", 164, seconds=6), "walkers at the edge in 16-bit raise nothing"),
    # --- long negatives: hours of harbour life at 2 fps on half-resolution cameras ----------------------------
    *[F(f"long-neg-aalborg-{i}", _a("mixed", 170 + i, 1200, fps=2, season=season, night=night, cam="cam-1-half",
                                    crf=30),
        f"20 min of harbour life (walkers, sitters, gulls, ducks, boats, NUC) at 2 fps, {season} "
        f"{'night' if night else 'day'}: false alarms per camera-hour")
      for i, (season, night) in enumerate([("winter", True), ("summer", True), ("autumn", True), ("winter", False)])],
    *[F(f"long-neg-pier-{i}", _p("mixed", 180 + i, 1200, fps=2, season=season, night=True, cam="cam-2-half", crf=33),
        f"20 min of harbour life on the pier at 2 fps, {season} night: false alarms per camera-hour")
      for i, season in enumerate(["winter", "summer"])],
]


def fixtures(out: Path | None = None) -> list[Fixture]:
    return FIXTURE_LIST


def long_negatives(out: Path | None = None) -> list[Fixture]:
    """Extra hours without anyone in the water (on demand, not committed): six hours at 3 fps, full size."""
    return [F(f"long-neg-extra-{i}", _a("mixed", 9000 + i, 3600, fps=3, season=("winter", "summer", "autumn")[i % 3],
                                         night=i % 2 == 0), "an hour of mixed harbour life at 3 fps")
            for i in range(6)]


# Held-out views the detector is never tuned on: a canal with the water on the right and a curved quay,
# and a mirrored Aalborg view. Written next to the clips so the sidecars can point at them.
def _camera(cam_id: str, name: str, scene: str, seed: int) -> dict:
    sc = SCENES[scene]
    return {"id": cam_id, "name": name, "source": f"sim://{scene}?seed={seed}", "resolution": list(sc["resolution"]),
            "fps": 9, "water": sc["water"], "quay_line": sc["quay_line"], "exclude": sc["exclude"]}


HELDOUT_SITE = {
    "site": {"id": "heldout-sim", "name": "Held-out views (simulated)", "timezone": "Europe/Copenhagen"},
    "cameras": [_camera("canal", "Canal, looking south", "canal", 5),
                _camera("mirror", "Aalborg view mirrored", "aalborg-mirror", 6)],
}


def heldout(out: Path) -> list[Fixture]:
    site = Path(out) / "sites" / "heldout-sim.yaml"
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text("# Held-out geometries: never tune the detector on these.\n" + yaml.safe_dump(HELDOUT_SITE, sort_keys=False))
    s = str(site)
    items = []
    for i, (scen, cam, season, night) in enumerate([
        ("fall", "canal", "winter", True), ("fall", "canal", "summer", False), ("fall_submerge", "canal", "autumn", True),
        ("two_falls", "canal", "winter", False), ("swimmer", "canal", "summer", True), ("fall_agc", "canal", "winter", True),
        ("fall", "mirror", "summer", True), ("fall_busy", "mirror", "winter", True), ("fall_rain", "mirror", "autumn", True),
        ("fall_nuc", "mirror", "winter", False), ("swimmer", "mirror", "winter", True),
        ("walkers", "canal", "summer", True), ("birds", "canal", "winter", True), ("boat", "canal", "autumn", False),
        ("reflections", "mirror", "winter", True), ("edge_sitters", "mirror", "summer", True),
        ("mixed", "canal", "winter", True), ("mixed", "mirror", "summer", True),
    ]):
        secs = 40 if scen == "two_falls" else 20 if scen.startswith(("fall", "swim")) else 600 if scen == "mixed" else 90
        fps = 3 if scen == "mixed" else 9
        items.append(F(f"heldout-{i:02d}-{scen}-{cam}", ClipSpec(scen, s, cam, 50_000 + i, secs, fps, 8, season, night),
                       f"held-out {scen} ({season} {'night' if night else 'day'}) on the {cam} view"))
    items.append(F("heldout-18-fall-lepton-16bit", _l("fall", 50_018, season="autumn"), "held-out 16-bit fall"))
    return items


def validation(out: Path | None = None) -> list[Fixture]:
    """Fresh seeds on the fixture views (on demand, not committed): the fixtures' cameras, new people, ducks
    and nights. The fixtures were tuned on; this shows how much of that was the seeds. Never tune on it."""
    def neg(cam, seed, season, spec=_a):
        return F(f"val-neg-{cam}-{season}-{seed}", spec("mixed", seed, 900, fps=2, season=season, cam=cam, crf=30),
                 f"15 min of harbour life at 2 fps, {season} night, fresh seed")
    items = [neg("cam-1-half", 92_001, "autumn"), neg("cam-1-half", 92_002, "summer"),
             neg("cam-1-half", 92_003, "winter"), neg("cam-2-half", 92_004, "autumn", _p)]
    items += [F(f"val-ducks-aalborg-{k}", _a("ducks", 92_010 + k, 60), "ducks, fresh seed") for k in range(3)]
    items += [F(f"val-ducks-pier-{k}", _p("ducks", 92_020 + k, 60), "ducks, fresh seed") for k in range(2)]
    items += [F(f"val-swimmer-aalborg-{k}", _a("swimmer", 92_030 + k, 20), "a swimmer, fresh seed") for k in range(3)]
    items += [F(f"val-swimmer-pier-{k}", _p("swimmer", 92_040 + k, 20), "a swimmer, fresh seed") for k in range(2)]
    items += [F(f"val-fall-aalborg-{k}", _a("fall", 92_050 + k, 20), "a fall, fresh seed") for k in range(3)]
    items += [F(f"val-fall-submerge-pier-{k}", _p("fall_submerge", 92_060 + k, 20), "a fall that sinks, fresh seed")
              for k in range(2)]
    items += [F("val-fall-aalborg-half", _a("fall", 92_070, 20, fps=2, cam="cam-1-half"), "a fall at 2 fps, half size"),
              F("val-swimmer-aalborg-half", _a("swimmer", 92_071, 30, fps=2, cam="cam-1-half"),
                "a swimmer at 2 fps, half size")]
    return items


def soak(out: Path | None = None) -> list[Fixture]:
    """Six camera-hours of harbour life on fresh seeds (on demand, never tuned on): 4 hours at 2 fps on the
    half-size cameras, 2 at 3 fps full size. The false-alarm rate worth quoting; the fixtures hold too few
    hours to tell 0.05 an hour from 0.5."""
    seasons = ["winter", "summer", "autumn"]
    items = []
    for i in range(16):
        view, spec, cam = ("pier", _p, "cam-2-half") if i % 3 == 2 else ("aalborg", _a, "cam-1-half")
        items.append(F(f"soak-{view}-half-{i}", spec("mixed", 99_000 + i, 900, fps=2, season=seasons[i % 3],
                                                     night=i % 4 != 3, cam=cam, crf=30),
                       "15 min of harbour life, fresh seed"))
    items += [F(f"soak-aalborg-full-{i}", _a("mixed", 99_100 + i, 1800, fps=3, season=seasons[(i + 1) % 3],
                                            night=i % 2 == 1), "30 min of harbour life at 3 fps, fresh seed")
              for i in range(4)]
    return items


def fresh_falls(out: Path | None = None) -> list[Fixture]:
    """30 clips, 32 falls and swimmers, on fresh seeds on the fixtures' views, all seasons, day and night (on
    demand, never tuned on): the recall worth quoting."""
    seasons = ["winter", "summer", "autumn"]
    items = [F(f"fresh-fall-aalborg-{k}", _a("fall", 98_000 + k, 20, season=seasons[k % 3], night=k % 3 != 1),
               "a fall, fresh seed") for k in range(8)]
    items += [F(f"fresh-fall-pier-{k}", _p("fall", 98_100 + k, 20, season=seasons[k % 3], night=k % 2 == 0),
                "a fall, fresh seed") for k in range(6)]
    for k in range(3):
        items += [F(f"fresh-sub-aalborg-{k}", _a("fall_submerge", 98_200 + k, 20, season=seasons[k % 3]), "sinks"),
                  F(f"fresh-sub-pier-{k}", _p("fall_submerge", 98_300 + k, 20, season=seasons[k % 3]), "sinks"),
                  F(f"fresh-swim-aalborg-{k}", _a("swimmer", 98_400 + k, 20, season=seasons[k % 3]), "a swimmer"),
                  F(f"fresh-swim-pier-{k}", _p("swimmer", 98_500 + k, 20, season=seasons[k % 3]), "a swimmer")]
    for k in range(2):
        items += [F(f"fresh-two-aalborg-{k}", _a("two_falls", 98_600 + k, 40, season=seasons[k % 3]), "two falls"),
                  F(f"fresh-busy-aalborg-{k}", _a("fall_busy", 98_700 + k, 20, season=seasons[k % 3]), "a busy quay")]
    return items


def aalborg_plate(out: Path) -> list[Fixture]:
    """Clips on the real Aalborg frames from ../shared as backgrounds. Generated on demand, never committed."""
    def spec(scen, seed, secs, plate, bits=8, season="winter"):
        return ClipSpec(scen, AALBORG, "cam-1", seed, secs, 9, bits, season, True, plate=plate)
    return [
        F("plate-fall-busy", spec("fall", 60_001, 20, "busy"), "a fall on the real busy-quay frame"),
        F("plate-fall-walker", spec("fall", 60_002, 20, "walker"), "a fall on the real wet-quay frame"),
        F("plate-fall-submerge", spec("fall_submerge", 60_003, 20, "busy"), "a fall that sinks, real plate"),
        F("plate-swimmer", spec("swimmer", 60_004, 20, "walker"), "a swimmer, real plate"),
        F("plate-two-falls", spec("two_falls", 60_005, 40, "busy"), "two falls, real plate"),
        F("plate-fall-16bit", spec("fall", 60_006, 10, "busy", bits=16), "a fall, real plate, 16-bit"),
        F("plate-neg-walkers", spec("walkers", 60_007, 90, "busy"), "walkers at the edge, real plate"),
        F("plate-neg-birds", spec("birds", 60_008, 60, "walker"), "gulls and ducks, real plate"),
        F("plate-neg-boats", spec("boat", 60_009, 60, "busy"), "boats, real plate"),
        F("plate-neg-reflections", spec("reflections", 60_010, 60, "walker"), "reflections on the wet quay, real plate"),
    ]


SUITES = {"fixtures": fixtures, "long-negatives": long_negatives, "heldout": heldout, "validation": validation,
          "soak": soak, "fresh-falls": fresh_falls, "aalborg-plate": aalborg_plate}
