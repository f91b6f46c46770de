"""Shared fixtures. Peers (Mosquitto, ...) live in tests/peers.py."""

from __future__ import annotations

import shutil

import pytest

from tests.peers import Mosquitto


@pytest.fixture
def mosquitto():
    # Its own dir under /tmp, not tmp_path: Mosquitto drops root for user `mosquitto`, which cannot enter
    # pytest's 0700 base dir and would then silently persist nothing across a restart.
    broker = Mosquitto().start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.dir, ignore_errors=True)
