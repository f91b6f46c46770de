"""What every actor draws on: the frame being rendered and the facts of the scene it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quaywatch.simulator.climate import Climate
from quaywatch.simulator.geometry import SceneGeometry


@dataclass
class Stage:
    geo: SceneGeometry
    climate: Climate
    water: np.ndarray  # bool mask of the water surface (the plate's own mask on real plates)
    wet_ground: bool = False  # rain-wet paving mirrors people (dim reflections below their feet)
    field: np.ndarray | None = None  # float32 °C frame being drawn


class Actor(Protocol):
    start: float  # seconds from script start when the actor can first be visible
    end: float  # ... and last

    def draw(self, stage: Stage, t: float) -> None: ...
