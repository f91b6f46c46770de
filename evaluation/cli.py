"""`quaywatch replay` and `quaywatch eval` (filled in below)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    _ = sub
