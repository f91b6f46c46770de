"""Competing explanations for a warm track, weighed over frames: the margin an alert needs (`alert_margin`).

Each frame a track is seen on the water side or at the edge, it scores one point (or none) for each thing it
looks like right now: a person in the water, static scenery (still since a start), the reflection of someone
standing at the edge, a bird, a boat. The points are a running sum that forgets over EXPLAIN_S, so a
track's record is what it has looked like lately, not in one frame. The margin is the person's score minus
the best other explanation's, over the frames counted: +1 = always like a person in the water and never
like anything else, -1 = the reverse. The rules (`rules.py`) decide that an alert is due; the margin
decides whether the evidence is strong enough for this site (`alert_margin`, the one knob that trades
finding falls against false alarms; `quaywatch eval --sweep` measures it).
"""

from __future__ import annotations

import math

import numpy as np

EXPLAIN_S = 2.0  # seconds over which a track's evidence is weighed
PERSON, SCENERY, REFLECTION, BIRD, BOAT = range(5)
NAMES = ("person in the water", "static scenery", "a reflection", "a bird", "a boat")


def new_scores() -> np.ndarray:
    """Per track: the five explanations' running sums, then the running count of frames weighed."""
    return np.zeros(len(NAMES) + 1)


def add(scores: np.ndarray, dt: float, evidence: tuple[bool, bool, bool, bool, bool]) -> None:
    """Forget by the time since the last frame, then count this frame's evidence (in place)."""
    scores *= math.exp(-max(dt, 0.0) / EXPLAIN_S)
    scores[: len(NAMES)] += evidence
    scores[-1] += 1.0


def margin(scores: np.ndarray) -> float:
    """Person-in-the-water score minus the best rival's, per frame weighed: -1..1 (0 with no evidence)."""
    if scores[-1] <= 0:
        return 0.0
    return float(scores[PERSON] - scores[SCENERY:len(NAMES)].max()) / float(scores[-1])


def rival(scores: np.ndarray) -> str:
    """The best explanation other than a person in the water (for logs and the overlay)."""
    return NAMES[SCENERY + int(np.argmax(scores[SCENERY:len(NAMES)]))]
