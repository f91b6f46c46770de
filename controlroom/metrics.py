"""Counters for everything refused, in the default Prometheus registry the alerting app exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter

LOGINS = Counter("quaywatch_controlroom_logins_total", "Login attempts by outcome", ["outcome"])
REFUSED = Counter("quaywatch_controlroom_refused_total",
                  "Requests refused: not_logged_in, forbidden, csrf, bad_request, not_found, conflict", ["reason"])
ACTIONS = Counter("quaywatch_controlroom_actions_total", "Operator actions done", ["action"])
