"""The quay line's signed distance, against the plain definition: for each point, the nearest segment of the
polyline, and the side of that segment it lies on (the detector reads it for every track, from a map built
once per camera)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from quaywatch.detector.geometry import signed_distance


def by_definition(x: float, y: float, line: list[tuple[float, float]]) -> tuple[float, bool]:
    """The signed distance, and whether two segments are as near (a point nearest a shared corner: its side
    is the first one's, which floating point may decide either way)."""
    best, sign, tied = math.inf, 1.0, False
    for (ax, ay), (bx, by) in itertools.pairwise(line):
        abx, aby = bx - ax, by - ay
        u = min(1.0, max(0.0, ((x - ax) * abx + (y - ay) * aby) / max(abx * abx + aby * aby, 1e-9)))
        d = math.hypot(x - (ax + u * abx), y - (ay + u * aby))
        tied = abs(d - best) < 1e-6 or (tied and d >= best)
        if d < best:
            best, sign = d, (1.0 if abx * (y - ay) - aby * (x - ax) >= 0 else -1.0)
    return best * sign, tied


def test_signed_distance_to_a_polyline_is_the_nearest_segments_distance_signed_by_its_side():
    rng = np.random.default_rng(7)
    for _ in range(40):
        line = [tuple(p) for p in rng.uniform(0, 640, size=(int(rng.integers(2, 7)), 2))]
        points = rng.uniform(-40, 680, size=(300, 2))
        got = signed_distance(points, np.asarray(line))
        want, tied = np.array([by_definition(x, y, line) for x, y in points]).T
        tied = tied.astype(bool)
        np.testing.assert_allclose(got[~tied], want[~tied], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(np.abs(got[tied]), np.abs(want[tied]), rtol=1e-9, atol=1e-9)


def test_left_of_the_line_is_positive_and_a_corner_takes_its_nearer_segment():
    line = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])  # east, then north
    got = signed_distance(np.array([[5.0, 2.0], [5.0, -3.0], [12.0, 5.0], [7.0, 5.0], [13.0, -4.0]]), line)
    np.testing.assert_allclose(got, [2.0, -3.0, -2.0, 3.0, -5.0])
