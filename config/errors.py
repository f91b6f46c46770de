"""Turn pydantic's ValidationError into `field.path[i]: message` lines a person can act on."""

from __future__ import annotations

from pydantic import ValidationError


def field_path(loc: tuple) -> str:
    """('cameras', 1, 'water') -> 'cameras[1].water'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue  # pydantic's internal validator names say nothing to a user
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _message(err: dict) -> str:
    msg = err["msg"]
    # "Value error, polygon needs ..." -> "polygon needs ..."
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err["type"] == "extra_forbidden":
        msg = "unknown field (a typo?)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return msg


def validation_problems(exc: ValidationError) -> list[str]:
    return [f"{field_path(e['loc'])}: {_message(e)}" for e in exc.errors()]
