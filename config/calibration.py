"""A camera's calibration to the ground, as an installer measures it (`cameras[i].calibration:`).

Either a published image-to-ground homography (3x3, image pixels -> quay-plane metres) or `points`, four or
more `[u, v, x, y]` pairs: a pixel and where that spot lies on the quay top in metres (tape, total station or
a map). Without either, `camera_height_m` plus the detector's `person_px_at` give a coarser model. The water
surface lies `freeboard_m` below the quay top. `origin` ties the ground metres to the map for the control room.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class GroundOrigin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90, description="latitude of ground point (0, 0)")
    lon: float = Field(ge=-180, le=180, description="longitude of ground point (0, 0)")
    bearing_deg: float = Field(default=0.0, ge=-360, le=360,
                               description="compass bearing of the ground +y axis, degrees clockwise from north")


class CalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    homography: list[list[float]] | None = Field(
        default=None, description="3x3, row major: image pixel (u, v, 1) -> quay-plane metres (x, y, w)")
    points: list[list[float]] | None = Field(
        default=None, description="measured pairs [[u, v, x, y], ...]: pixel -> quay-plane metres, at least 4")
    camera_height_m: float | None = Field(default=None, gt=0, le=200,
                                          description="lens above the quay top, metres")
    freeboard_m: float = Field(default=1.0, ge=0, le=20, description="quay top above the water surface, metres")
    hfov_deg: float | None = Field(default=None, gt=1, lt=179,
                                   description="horizontal field of view (only for a camera without homography or "
                                               "points; default 50)")
    origin: GroundOrigin | None = None

    @field_validator("homography")
    @classmethod
    def _homography(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        if value is None:
            return value
        if len(value) != 3 or any(len(row) != 3 for row in value):
            raise ValueError("homography must be 3 rows of 3 numbers")
        if not all(math.isfinite(c) for row in value for c in row):
            raise ValueError("homography has a value that is not a finite number")
        a = value
        det = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
               + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
        if abs(det) < 1e-12:
            raise ValueError("homography is singular (determinant 0): it maps the image onto a line")
        return value

    @field_validator("points")
    @classmethod
    def _points(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        if value is None:
            return value
        for i, p in enumerate(value):
            if len(p) != 4:
                raise ValueError(f"point {i} must be [u, v, x, y] (pixel, then metres), got {len(p)} numbers")
            if not all(math.isfinite(c) for c in p):
                raise ValueError(f"point {i} has a value that is not a finite number")
        if len(value) < 4:
            raise ValueError(f"a homography needs at least 4 measured points, got {len(value)}")
        if _collinear([(p[0], p[1]) for p in value]):
            raise ValueError("the image points lie on one line: measure points spread over the quay")
        if _collinear([(p[2], p[3]) for p in value]):
            raise ValueError("the ground points lie on one line: measure points spread over the quay")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CalibrationConfig:
        if self.homography is not None and self.points is not None:
            raise ValueError("give either homography or points, not both")
        if self.homography is None and self.points is None and self.camera_height_m is None:
            raise ValueError("needs a homography, measured points, or camera_height_m (with the detector's "
                             "person_px_at)")
        return self


def _collinear(pts: list[tuple[float, float]]) -> bool:
    """True when every point lies within a hair of the line through the two farthest apart."""
    best, pair = -1.0, (0, 1)
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            d = (pts[i][0] - pts[j][0]) ** 2 + (pts[i][1] - pts[j][1]) ** 2
            if d > best:
                best, pair = d, (i, j)
    if best <= 0:
        return True
    (x0, y0), (x1, y1) = pts[pair[0]], pts[pair[1]]
    length = math.sqrt(best)
    return all(abs((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / length < 1e-3 * length for x, y in pts)
