"""The harbour map a site may name: a small GeoJSON file of its quays and water, drawn by the control room.

    map: {geojson: maps/demo-harbour.geojson}

A relative path is looked up beside the site file first, then in config/sites/ (where the shipped maps
are), so a copy of a shipped site file elsewhere (the demo writes one under var/) still finds its map.
The file is read and checked when the site loads: a missing or malformed map is a configuration error
naming the field, not a blank map at 3 a.m.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GEOMETRIES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
MAX_BYTES = 512 * 1024   # a harbour's quays, not a country: the page inlines it


class SiteMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    geojson: str = Field(min_length=1, description="GeoJSON FeatureCollection of quays and water "
                         "(properties.kind: water | quay | land), relative to the site file or config/sites/")


def resolve_geojson(path: str, site_file: Path | None, sites_dir: Path) -> tuple[Path | None, list[Path]]:
    """The file a map path names, and the places looked at (for the error)."""
    p = Path(path)
    if p.is_absolute():
        return (p if p.is_file() else None), [p]
    tried = [d / p for d in ([site_file.parent] if site_file else []) + [sites_dir]]
    return next((t for t in tried if t.is_file()), None), tried


def read_geojson(path: Path) -> dict[str, Any]:
    """The parsed FeatureCollection; ValueError saying what is wrong with it."""
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: over {MAX_BYTES // 1024} KB; keep the harbour map small")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or \
            not isinstance(data.get("features"), list):
        raise ValueError(f"{path}: expected a GeoJSON FeatureCollection with a list of features")
    for i, f in enumerate(data["features"]):
        geom = f.get("geometry") if isinstance(f, dict) else None
        if not isinstance(geom, dict) or geom.get("type") not in GEOMETRIES or \
                not isinstance(geom.get("coordinates"), list):
            raise ValueError(f"{path}: features[{i}] has no geometry of type {', '.join(GEOMETRIES)}")
    return data
