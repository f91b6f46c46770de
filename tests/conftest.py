"""Shared fixtures. Peers (Mosquitto, ...) live in tests/peers.py."""

from __future__ import annotations

import pytest

from tests.peers import Mosquitto


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()
