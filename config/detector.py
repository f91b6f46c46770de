"""Detector tuning: site-wide defaults in `detector:`, overridden per camera in `cameras[i].detector:`.

Every field has a default meant to work without tuning; README.md ("The detector") says when to change one.
Sizes are in *person heights*: the height in pixels of a standing adult at that image row, which the
detector interpolates between `person_px_top` and `person_px_bottom`, or fits through people measured in the
picture (`person_px_at`) (perspective: bigger near the camera).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DetectorTuning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- geometry: how big a person is where ---------------------------------------------------------
    person_px_top: float | None = Field(
        default=None, gt=0, description="height of a standing person at the top image row, px (unset = frame height / 24)"
    )
    person_px_bottom: float | None = Field(
        default=None, gt=0,
        description="height of a standing person at the bottom image row, px (unset = frame height / 8)",
    )
    person_px_at: list[tuple[float, float]] | None = Field(
        default=None, min_length=2,
        description="standing people measured in this camera's picture, [[row of the feet, height px], ...], near and "
                    "far; the detector fits a straight line through them (a flat quay in perspective), which unlike "
                    "person_px_top/bottom also finds the horizon. Overrides person_px_top/bottom",
    )
    min_body_px: float = Field(default=3.0, gt=0, description="smallest blob side worth tracking, px (a far head)")
    max_body_px: float = Field(
        default=200.0, gt=0, description="blobs with a longer side are ignored (a ship's hull, a warm facade), px"
    )
    edge_margin: float = Field(
        default=0.15, ge=0, le=2,
        description="half-width of the undecided band along the quay line, person heights: a body must pass it "
                    "to count as on the water side (keeps sitters and edge walkers out)",
    )

    # --- warmth ---------------------------------------------------------------------------------------
    warm_sigma: float = Field(
        default=5.0, gt=0, description="a pixel is warm when it is this many water-noise sigmas above its background"
    )
    head_min_sigma: float = Field(
        default=14.0, gt=0,
        description="a body in the water stands at least this many water-noise sigmas above its background "
                    "(a head in water is tens of sigmas; lamp reflections and ripples are a few)",
    )
    background_s: float = Field(
        default=20.0, gt=0, description="time constant of the slow background that learns static warm clutter, s"
    )
    head_min_c: float = Field(
        default=24.5, description="radiometric only: a person's head is at least this warm (peak, °C); ducks are cooler"
    )
    hot_max_c: float = Field(
        default=45.0, description="radiometric only: hotter than this is an engine or exhaust, not a person (°C)"
    )
    head_min_contrast: float = Field(
        default=0.55, ge=0, le=1,
        description="8-bit only: a head in the water is at least this warm relative to the people seen on "
                    "land (or the warmest thing in view; 1.0 = as warm); ducks and reflections are cooler",
    )

    # --- rules ----------------------------------------------------------------------------------------
    person_min_height: float = Field(
        default=0.45, gt=0, description="a track on land counts as a person when its box is this tall, person heights"
    )
    water_max_size: float = Field(
        default=0.9, gt=0, description="a body in the water is at most this big (box side), person heights; bigger = boat"
    )
    water_min_size: float = Field(
        default=0.15, ge=0, description="a body in the water stands at least this tall (box height, +1 px), person "
                                        "heights: a head is 0.13-0.2; a duck (0.12) or a ripple is lower"
    )
    water_max_speed: float = Field(
        default=0.7, gt=0, description="a body in the water moves at most this fast, person heights per second (boats, gulls faster)"
    )
    entry_confirm_s: float = Field(
        default=0.15, ge=0, description="a crossing must stay on the water side this long (or vanish there) before it alerts, s"
    )
    handoff_s: float = Field(
        default=2.0, ge=0,
        description="a person lost at the quay edge and a body appearing in the water near there within this time "
                    "are one fall, s",
    )
    in_water_confirm_s: float = Field(
        default=0.6, gt=0, description="a warm body must persist in the water this long to raise person_in_water, s"
    )
    in_water_min_person_px: float = Field(
        default=18.0, ge=0,
        description="8-bit only: no person_in_water where a standing person is shorter than this, px (a head of 2-3 "
                    "px has no shape, and a duck the AGC paints white is as bright); crossings still alert there",
    )
    in_water_onset_s: float = Field(
        default=8.0, gt=0,
        description="something on the water this long without once looking like a person (a duck, a buoy) never "
                    "raises person_in_water later; a person in the water looks like one within seconds, s",
    )
    incident_memory_s: float = Field(
        default=60.0, gt=0,
        description="after an alert, the same place stays one incident for this long since last seen (no duplicates), s",
    )
    alert_confidence: float = Field(default=0.5, ge=0, le=1, description="alerts below this are not raised")
    alert_margin: float = Field(
        default=-1.0, ge=-1, le=1,
        description="how far 'a person went in / is in the water' must out-score the best other explanation of the "
                    "track (static scenery, a reflection, a bird, a boat), per frame weighed over the last seconds, "
                    "-1..1: the knob that trades finding falls against false alarms (-1: the rules alone decide; "
                    "`quaywatch eval --sweep` measures each value)",
    )

    @model_validator(mode="after")
    def _sizes(self) -> DetectorTuning:
        if self.min_body_px >= self.max_body_px:
            raise ValueError("min_body_px must be smaller than max_body_px")
        return self

    @field_validator("person_px_at")
    @classmethod
    def _measured(cls, at: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if at is not None:
            if any(row < 0 or px <= 0 for row, px in at):
                raise ValueError("each entry is [row >= 0, height px > 0]")
            if len({row for row, _ in at}) < 2:
                raise ValueError("measure people at two different rows at least (near and far)")
        return at
