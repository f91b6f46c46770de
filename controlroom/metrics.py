"""Counters for everything refused and done on the page. Not in any registry by themselves: the alerting
service's /metrics shows them once `register(registry)` puts them in its registry (mount does that)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter

LOGINS = Counter("quaywatch_controlroom_logins_total", "Login attempts by outcome: ok, failed, throttled, csrf",
                 ["outcome"], registry=None)
REFUSED = Counter("quaywatch_controlroom_refused_total",
                  "Requests refused: not_logged_in, forbidden, csrf, bad_request, not_found, conflict, "
                  "not_media (an evidence answer that was no video or image), no_evidence_server", ["reason"],
                  registry=None)
ACTIONS = Counter("quaywatch_controlroom_actions_total", "Operator actions done", ["action"], registry=None)


def register(registry: CollectorRegistry) -> None:
    for counter in (LOGINS, REFUSED, ACTIONS):
        with contextlib.suppress(ValueError):  # already there (the page mounted twice in one process)
            registry.register(counter)


def count(counter: Counter, label: str) -> float:
    """The current value of one labelled counter (for tests and the CLI)."""
    return counter.labels(label)._value.get()
