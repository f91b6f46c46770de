"""Read YAML site files into validated models, turning every mistake into a ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quaywatch.config.errors import validation_problems
from quaywatch.config.site import Site
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
        return Site.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from None


def load_site(path: str | Path) -> Site:
    """Load a site file. A bare name like `demo` means `config/sites/demo.yaml`."""
    p = Path(path)
    if not p.exists() and not p.suffix and (SITES_DIR / f"{p.name}.yaml").exists():
        p = SITES_DIR / f"{p.name}.yaml"
    return site_from_dict(load_yaml(p), str(p))
