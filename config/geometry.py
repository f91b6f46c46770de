"""Image-space shapes used in the site config: points, polygons, polylines (pixels at stream resolution)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

Point = tuple[float, float]


def _as_points(value: object) -> object:
    if not isinstance(value, list | tuple):
        raise ValueError("expected a list of [x, y] points")
    for i, p in enumerate(value):
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise ValueError(f"point {i} must be [x, y], got {p!r}")
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p):
            raise ValueError(f"point {i} must be two numbers, got {p!r}")
    return value


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError(f"polygon needs at least 3 points, got {len(points)}")
    if _area(points) < 1.0:
        raise ValueError("polygon has no area (points are collinear or repeated)")
    return points


def _polyline(points: list[Point]) -> list[Point]:
    if len(points) < 2:
        raise ValueError(f"line needs at least 2 points, got {len(points)}")
    for i in range(1, len(points)):
        if points[i] == points[i - 1]:
            raise ValueError(f"points {i - 1} and {i} are the same: a line segment needs two distinct points")
    return points


def _area(points: list[Point]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0


Polygon = Annotated[list[Point], BeforeValidator(_as_points), AfterValidator(_polygon)]
Polyline = Annotated[list[Point], BeforeValidator(_as_points), AfterValidator(_polyline)]
