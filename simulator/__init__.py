"""Deterministic thermal scene simulator: quays, water, people, falls, birds, boats, sensor and AGC.

How a frame is made (all vectorised; every random draw comes from a generator seeded by the seed and,
while rendering, the frame index, so the same arguments always give the same frames):

    geometry.py   site camera -> water mask, which side of the quay line is water, perspective (px per person)
    climate.py    season + day/night -> apparent temperatures of water, air, quay, clothes, skin, wet head
    background.py paving, quay wall, bollards, street furniture, rippling water, ropes/masts (or a real plate)
    people.py     body sprites (walk/stand/sit), tracks in perspective, reflections on wet ground and water
    falls.py      a fall (walk to the edge, tip and drop 0.4-1 s, splash, head that bobs/drifts/sinks), swimmers
    wildlife.py   gulls (small, fast, gone) and ducks (small, cool, sometimes diving)
    boats.py      boats with hot engines and wakes
    weather.py    rain
    sensor.py     NETD noise, fixed pattern, drift, NUC freeze + offset step -> uint16 centikelvin
    agc.py        8-bit AGC that follows the hottest pixels (hot objects entering shift the whole picture)
    engine.py     Script (who does what when) + Renderer (the camera) -> frames
    scenarios.py  named scripts (fall, two_falls, fall_agc, swimmer, walkers, gulls, ... mixed) + ground truth
    clip.py       one clip + its sidecar; suites.py / suite_run.py: the committed library and on-demand sets
    live.py       LiveScene: an endless simulated camera (sim://aalborg, sim://pier, sim://lepton, ...)
    cli.py        `quaywatch simulate`
"""
