"""Built-in camera geometries for live simulation (`sim://NAME`); the same views as the synthetic site
files in recordings_fixtures/sites/ (a test keeps them identical) and the cameras in config/sites/demo.yaml."""

from __future__ import annotations

import numpy as np

from quaywatch.simulator.geometry import SceneGeometry

SCENES: dict[str, dict] = {
    # The Aalborg harbourfront camera (AAU LTD dataset): quay edge (15,0)->(152,287), water on the left.
    "aalborg": {
        "resolution": (384, 288),
        "water": [[17, 8], [24, 87], [4, 90], [3, 285], [84, 279], [141, 269], [47, 85], [31, 86], [26, 22], [21, 9]],
        "quay_line": [[15, 0], [152, 287]],
        "exclude": [[[75, 10], [83, 8], [71, 113], [67, 96]]],
    },
    # A pier seen from the land: a bent quay line across the image, water above it, far shore at the top.
    "pier": {
        "resolution": (640, 512),
        "water": [[0, 60], [640, 40], [640, 190], [420, 215], [250, 250], [0, 300]],
        "quay_line": [[0, 300], [250, 250], [420, 215], [640, 190]],
        "exclude": [[[296, 62], [310, 62], [310, 238], [296, 240]], [[498, 96], [506, 94], [546, 200], [538, 202]]],
    },
    # A small radiometric camera on a footbridge looking back at the quay: water below the quay line.
    "lepton": {
        "resolution": (160, 120),
        "water": [[0, 52], [70, 58], [160, 70], [160, 120], [0, 120]],
        "quay_line": [[0, 50], [70, 56], [160, 68]],
        "exclude": [[[118, 0], [122, 0], [124, 66], [120, 66]]],
        "person_px_at_bottom": 40.0,
    },
    # Held-out views (`quaywatch simulate suite heldout`): never tune the detector on them.
    "canal": {
        "resolution": (480, 360),
        "water": [[260, 0], [480, 0], [480, 360], [390, 360], [330, 220], [290, 110]],
        "quay_line": [[250, 0], [280, 110], [320, 220], [380, 360]],
        "exclude": [[[400, 20], [406, 20], [406, 150], [400, 150]]],
    },
    "aalborg-mirror": {
        "resolution": (384, 288),
        "water": [[367, 8], [360, 87], [380, 90], [381, 285], [300, 279], [243, 269], [337, 85], [353, 86],
                  [358, 22], [363, 9]],
        "quay_line": [[369, 0], [232, 287]],
        "exclude": [],
    },
}


def scene_geometry(name: str, resolution: tuple[int, int] | None = None) -> SceneGeometry:
    """The named view, scaled to `resolution` if the stream is not at the scene's native size."""
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; choose from {', '.join(SCENES)}")
    sc = SCENES[name]
    w0, h0 = sc["resolution"]
    w, h = resolution or (w0, h0)
    k = np.array([w / w0, h / h0])
    extra = {"person_px_at_bottom": sc["person_px_at_bottom"] * h / h0} if "person_px_at_bottom" in sc else {}
    return SceneGeometry(int(w), int(h), np.array(sc["water"], float) * k, np.array(sc["quay_line"], float) * k,
                         [np.array(p, float) * k for p in sc["exclude"]], **extra)
