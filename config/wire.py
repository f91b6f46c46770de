"""The wire contract: every MQTT payload is checked against config/schemas/ on both sides."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from quaywatch.errors import QuaywatchError

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
MAX_PAYLOAD_BYTES = 256 * 1024
EVENT_VERSION = 1


class WireError(QuaywatchError):
    """A payload that breaks the contract; the message names the field."""


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(name: str, payload: Any) -> None:
    """Raise WireError naming the first offending field of `payload` against schema `name`."""
    errors = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
        raise WireError(f"{name}: {where or '(top level)'}: {err.message}")


def decode(name: str, raw: bytes) -> dict[str, Any]:
    """Parse and validate an incoming payload; every failure is a WireError with a reason."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise WireError(f"{name}: payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"{name}: not JSON: {exc}") from None
    if isinstance(payload, dict) and "version" in payload and payload["version"] != EVENT_VERSION:
        raise WireError(f"{name}: unsupported version {payload['version']!r} (this build speaks {EVENT_VERSION})")
    validate(name, payload)
    return payload


def encode(name: str, payload: dict[str, Any]) -> bytes:
    validate(name, payload)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
