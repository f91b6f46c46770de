"""Apparent temperatures (°C) of everything in a harbour scene, by season and time of day.

Anchors: FLIR P640 still of a man in 7 °C water shows his head at ~27 °C; the Danish harbour water is
~3-7 °C in winter and ~16-20 °C in summer; paving stores the day's heat, so on summer nights the quay is
warmer than the water. Ropes and masts reflect the cold sky and look colder than the air.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEASONS = ("winter", "summer", "autumn")


@dataclass(frozen=True)
class Climate:
    season: str
    night: bool
    water_c: float
    air_c: float
    quay_c: float
    clothes_c: float  # clothed body surface
    skin_c: float  # face, hands
    head_in_water_c: float  # wet head at the surface, partly cooled by the water
    sky_c: float  # what ropes, masts and calm far water reflect

    @property
    def label(self) -> str:
        return f"{self.season} {'night' if self.night else 'day'}"


def make_climate(rng: np.random.Generator, season: str = "winter", night: bool = True) -> Climate:
    if season not in SEASONS:
        raise ValueError(f"unknown season {season!r}; use one of {', '.join(SEASONS)}")
    if season == "winter":
        water = rng.uniform(3, 7)
        air = rng.uniform(-5, 5)
        # paving over heated cellars and under street lights stays above the water even on frosty nights
        quay = max(air + (rng.uniform(0.5, 2.5) if night else rng.uniform(2, 6)), water + rng.uniform(1, 3))
        clothes = air + rng.uniform(8, 12)
        skin = rng.uniform(23, 28)
    elif season == "summer":
        water = rng.uniform(16, 20)
        air = rng.uniform(12, 18) if night else rng.uniform(19, 27)
        quay = water + rng.uniform(3, 7) if night else rng.uniform(27, 38)
        clothes = rng.uniform(26, 30)
        skin = rng.uniform(31, 34)
    else:  # autumn: between the two, the night quay about as warm as the water
        water = rng.uniform(9, 13)
        air = rng.uniform(4, 12)
        quay = max(air + (rng.uniform(1, 3) if night else rng.uniform(3, 8)), water + rng.uniform(0.5, 2))
        clothes = air + rng.uniform(7, 11)
        skin = rng.uniform(27, 31)
    if night or season != "summer":
        # clothing is warmed from inside: people stand out from the paving (as in the Aalborg frames);
        # only sun-heated summer paving can be as warm as a person
        clothes = max(clothes, quay + rng.uniform(3, 6))
    skin = max(skin, clothes + rng.uniform(3, 6))
    head = float(np.clip(water + rng.uniform(18, 23), 25, 30.5))
    return Climate(season, night, float(water), float(air), float(quay), float(clothes), float(skin),
                   head, float(air - rng.uniform(5, 10)))
