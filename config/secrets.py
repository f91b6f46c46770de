"""Secrets are named in the config (`*_env` fields) and read from the environment, never written down."""

from __future__ import annotations

import os

from quaywatch.errors import QuaywatchError


def secret_from_env(env_name: str | None, field: str) -> str | None:
    """The value of the environment variable `field` names; None when the field is unset, and a clear
    error naming the field when the variable is missing (a wrong password fails later and less clearly)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise QuaywatchError(f"{field} names {env_name}, but that environment variable is not set")
    return value
