"""Shared fixtures. Peers (Mosquitto, ...) live in tests/peers.py."""

from __future__ import annotations

import shutil

import pytest

from tests.peers import ARTIFACTS, CHROMIUM_ARGS, Mosquitto, Prism, missing, require


@pytest.fixture
def mosquitto():
    # Its own dir under /tmp, not tmp_path: Mosquitto drops root for user `mosquitto`, which cannot enter
    # pytest's 0700 base dir and would then silently persist nothing across a restart.
    broker = Mosquitto().start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """Debian's /usr/bin/chromium driven by Playwright (never `playwright install`)."""
    require("/usr/bin/chromium", "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[dev]')")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def prism(tmp_path_factory):
    """Prism serving Twilio's own OpenAPI contract, one per test module (it takes seconds to start)."""
    p = Prism(tmp_path_factory.mktemp("prism")).start()
    yield p
    p.stop()
