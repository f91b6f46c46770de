"""Read YAML site files into validated models, turning every mistake into a ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quaywatch.config.errors import validation_problems
from quaywatch.config.site import Site
from quaywatch.config.site_map import SiteMap, read_geojson, resolve_geojson
from quaywatch.errors import ConfigError

SITES_DIR = Path(__file__).resolve().parent / "sites"


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(str(path), [f"{where}: not valid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None


def site_from_dict(data: Any, source: str = "<site>") -> Site:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping with `site:` and `cameras:`"])
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from None
    if site.map is not None:
        site.map = _checked_map(site.map, source)
    return site


def _checked_map(site_map: SiteMap, source: str) -> SiteMap:
    """The map's file found and readable now, its path made absolute (the site file may be a copy)."""
    site_file = Path(source) if source != "<site>" else None
    found, tried = resolve_geojson(site_map.geojson, site_file, SITES_DIR)
    if found is None:
        raise ConfigError(source, [f"map.geojson: no file {site_map.geojson!r} (looked at "
                                   f"{', '.join(str(t) for t in tried)})"])
    try:
        read_geojson(found)
    except (OSError, ValueError) as exc:
        raise ConfigError(source, [f"map.geojson: {exc}"]) from None
    return SiteMap(geojson=str(found.resolve()))


def load_site(path: str | Path) -> Site:
    """Load a site file. A bare name like `demo` means `config/sites/demo.yaml`."""
    p = Path(path)
    if not p.exists() and not p.suffix and (SITES_DIR / f"{p.name}.yaml").exists():
        p = SITES_DIR / f"{p.name}.yaml"
    return site_from_dict(load_yaml(p), str(p))
