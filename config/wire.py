"""The wire contract: every MQTT payload is checked against config/schemas/ on both sides.

Beyond what JSON Schema can say: a payload is nested at most MAX_DEPTH deep (a 100 KB run of `[` made the
parser raise RecursionError, which no caller expected), and every number in it is finite (Python's json
reads NaN, Infinity and 1e400, and a NaN passes `minimum`/`maximum`, since every comparison with it is false).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from quaywatch.errors import QuaywatchError

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
MAX_PAYLOAD_BYTES = 256 * 1024
EVENT_VERSION = 1
MAX_DEPTH = 16  # the event schema nests 3 deep; anything far deeper is not a payload of ours


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def non_finite(payload: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The path of the first number that is not finite, or of a container deeper than `max_depth`; None if
    neither. Iterative, so no payload can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(payload, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where or '(top level)'}: {value!r} is not a finite number"
        if isinstance(value, dict | list):
            if depth >= max_depth:
                return f"{where or '(top level)'}: nested deeper than {max_depth} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                stack.append((v, f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}".lstrip("."), depth + 1))
    return None


class WireError(QuaywatchError):
    """A payload that breaks the contract; the message names the field."""


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(name: str, payload: Any) -> None:
    """Raise WireError naming the first offending field of `payload` against schema `name` (or its first
    number that is not finite, or where it nests too deep)."""
    bad = non_finite(payload)
    if bad:
        raise WireError(f"{name}: {bad}")
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
        payload = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise WireError(f"{name}: not JSON: nested deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError, and so is NaN's
        raise WireError(f"{name}: not JSON: {exc}") from None
    if isinstance(payload, dict) and "version" in payload and payload["version"] != EVENT_VERSION:
        raise WireError(f"{name}: unsupported version {payload['version']!r} (this build speaks {EVENT_VERSION})")
    validate(name, payload)
    return payload


def encode(name: str, payload: dict[str, Any]) -> bytes:
    validate(name, payload)  # NaN and Infinity included: the edge never sends what alerting would refuse
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
