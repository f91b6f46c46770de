"""Ground truth beside each recorded clip: `<stem>.json`. No events = a negative clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quaywatch.config.errors import validation_problems
from quaywatch.errors import ConfigError, QuaywatchError

CLIP_SUFFIXES = (".mp4", ".mkv")


class TruthEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["water_entry", "person_in_water"]
    t: float = Field(ge=0, description="seconds from clip start")
    visible: bool = Field(default=True, description="false: the camera never saw it (hidden entirely); scoring "
                                                    "counts it apart, as neither found nor missed")


class GroundTruth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, description="site yaml, relative to the sidecar")
    camera: str = Field(min_length=1)
    events: list[TruthEvent] = Field(default_factory=list)
    description: str = ""
    # Optional facts the simulator knows; tools may use them, the contract does not need them.
    scenario: str | None = None
    seed: int | None = None
    tags: list[str] = Field(default_factory=list)

    def site_path(self, sidecar: Path) -> Path:
        return (sidecar.parent / self.site).resolve()


def sidecar_for(clip: Path) -> Path:
    return clip.with_suffix(".json")


def load_ground_truth(sidecar: str | Path) -> GroundTruth:
    sidecar = Path(sidecar)
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(sidecar), ["ground-truth sidecar not found"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(str(sidecar), [f"not valid JSON: {exc}"]) from None
    try:
        return GroundTruth.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(sidecar), validation_problems(exc)) from None


def find_clips(paths: list[str | Path]) -> list[Path]:
    """Clips named directly or found (recursively) in directories, sorted for stable output."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in CLIP_SUFFIXES)
        elif p.exists():
            out.append(p)
        else:
            raise QuaywatchError(f"{p}: no such clip or directory (it does not exist)")
    return out
