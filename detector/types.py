"""What the detector hands out: tracks each frame, and alert detections when a rule fires.

Plain dataclasses so the edge, replay and the debug overlay can use them without knowing the internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AlertKind = Literal["water_entry", "person_in_water"]
BBox = tuple[int, int, int, int]  # x, y, w, h in image pixels


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    bbox: BBox
    anchor: tuple[float, float]  # the point that decides land or water: bottom-centre of the box
    on_water: bool
    warmth: float  # contrast of the blob over its surroundings, in the detector's normalised units
    age: int  # frames since the track was born
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Detection:
    kind: AlertKind
    t: float  # seconds (clip time for replay, wall-clock epoch seconds live)
    frame_index: int  # frame the evidence should be taken from
    track_id: int
    bbox: BBox
    confidence: float


@dataclass(slots=True)
class FrameResult:
    tracks: list[Track] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
