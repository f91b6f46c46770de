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
    age: int  # frames the track has been seen in
    confirmed: bool
    side: str = "land"  # "land" | "edge" | "water": where its ground point is, against the quay line
    alerted: bool = False  # this track has raised (or joined) an alert


@dataclass(frozen=True, slots=True)
class Detection:
    kind: AlertKind
    t: float  # seconds (clip time for replay, wall-clock epoch seconds live)
    frame_index: int  # frame the evidence should be taken from
    track_id: int
    bbox: BBox
    confidence: float
    margin: float = 0.0  # how far 'a person in the water' out-scored the best other explanation (-1..1)


@dataclass(slots=True)
class FrameResult:
    tracks: list[Track] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    frame_index: int = 0  # 0-based index of this frame since the detector started
    frozen: bool = False  # a repeated frame (NUC/FFC freeze, stalled stream): nothing new was seen
    rebaselined: bool = False  # a global jump the detector absorbed by restarting its background
    blobs: list[BBox] = field(default_factory=list)  # warm blobs this frame, for the debug overlay
