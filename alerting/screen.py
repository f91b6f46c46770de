"""What intake takes, what it sets aside: each MQTT payload sorted into valid, late or rejected.

Nothing a payload holds makes this raise. It is checked against the wire contract (config/wire.py: size,
nesting depth, JSON, finite numbers, the schema), then against the site (alerting.intake): a topic without
control characters that matches the payload, a configured camera, a time no further ahead than
max_future_skew_s. Any failure is that payload's rejection: counted by reason, logged escaped (a bounded
number of lines a minute), and returned to be stored aside. An event older than max_event_age_s is late:
stored, never paged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastjsonschema
import orjson

from quaywatch.alerting.dispatch import Incoming, epoch
from quaywatch.alerting.metrics import Metrics
from quaywatch.config.site import Site
from quaywatch.config.wire import EVENT_VERSION, MAX_PAYLOAD_BYTES, SCHEMAS_DIR, WireError, decode
from quaywatch.logsafe import escape

log = logging.getLogger(__name__)


def reject_reason(exc: WireError) -> str:
    text = str(exc)
    for key, label in (("exceeds", "oversized"), ("nested deeper", "depth"), ("not JSON", "not_json"),
                       ("unsupported version", "version"), ("not a finite number", "not_finite")):
        if key in text:
            return label
    return "schema"


@cache
def _compiled_event_schema() -> Callable[[Any], Any]:
    return fastjsonschema.compile(json.loads((SCHEMAS_DIR / "event.schema.json").read_text()))


def decode_event(raw: bytes) -> dict[str, Any]:
    """config/wire.py's `decode("event", raw)`, fast for valid payloads.

    jsonschema takes ~1 ms per event; the same schema file compiled by fastjsonschema takes ~40 us, and
    orjson parses a 30 KB payload in a fifth of json's time. A payload both accept is returned; anything else goes through
    wire.decode, which raises the canonical WireError naming the field (or accepts it: wire.py is the
    contract, not this shortcut).
    """
    if len(raw) <= MAX_PAYLOAD_BYTES:
        try:
            payload = orjson.loads(raw)
            # orjson itself refuses NaN and Infinity literals and numbers beyond a double (1e400), and the
            # schema refuses any nesting it does not name: no need to walk the payload for either here.
            if isinstance(payload, dict) and payload.get("version") == EVENT_VERSION:
                _compiled_event_schema()(payload)
                return payload
        except (ValueError, fastjsonschema.JsonSchemaException):
            pass
    return decode("event", raw)


def printable(text: str, limit: int = 300) -> str:
    """`text` safe to log, store or show: control and other non-printing characters escaped (a newline in a
    topic must not forge a log line), cut to `limit` characters."""
    out = escape(text[: limit + 1])
    return out if len(out) <= limit else out[:limit] + "..."


class LogBudget:
    """At most `lines` rejection warnings a `window_s`; the rest are only counted (the metric and the rejected
    table have them all), and how many were left out is logged when the window turns. A flood of garbage
    must not fill the disk with log lines."""

    def __init__(self, lines: int = 20, window_s: float = 60.0):
        self.lines, self.window_s = lines, window_s
        self.started, self.used, self.left_out = 0.0, 0, 0

    def allow(self, now: float) -> bool:
        if now - self.started >= self.window_s:
            if self.left_out:
                log.warning("rejected %d more payloads in the last %.0f s, not logged one by one "
                            "(quaywatch_alerting_events_rejected_total and the rejected table have them)",
                            self.left_out, now - self.started)
            self.started, self.used, self.left_out = now, 0, 0
        if self.used < self.lines:
            self.used += 1
            return True
        self.left_out += 1
        return False


REJECTION_LOG = LogBudget()


@dataclass(frozen=True)
class EventRules:
    """What a believable event of this site looks like beyond the wire contract (alerting.intake)."""

    cameras: frozenset[str]
    max_event_age_s: float
    max_future_skew_s: float
    prefix_bytes: int = 1024

    @classmethod
    def of(cls, site: Site) -> EventRules:
        cfg = site.alerting.intake
        return cls(frozenset(c.id for c in site.cameras), cfg.max_event_age_s, cfg.max_future_skew_s,
                   cfg.rejected_prefix_bytes)


@dataclass(frozen=True)
class Rejected:
    """A refused payload as stored aside (the store's `rejected` table); every string already escaped."""

    at: float
    reason: str
    detail: str
    topic: str
    size: int
    prefix: str

    def row(self) -> dict[str, Any]:
        return self.__dict__


@dataclass
class Screened:
    valid: list[Incoming] = field(default_factory=list)    # to store and page
    late: list[Incoming] = field(default_factory=list)     # to store, never page
    rejected: list[Rejected] = field(default_factory=list)  # to store aside; acked all the same


def _has_control(text: str) -> bool:
    return any(not c.isprintable() for c in text)


def screen(raws: list[tuple[str, bytes]], metrics: Metrics, rules: EventRules | None = None,
           now: float | None = None) -> Screened:
    """Sort a batch into valid, late and rejected. Nothing a payload can contain makes this raise: any
    failure to parse or validate one message is that message's rejection, counted by reason and logged
    escaped, and never affects the rest of the batch."""
    out = Screened()
    now = time.time() if now is None else now
    prefix_bytes = rules.prefix_bytes if rules else 1024

    def reject(topic: str, raw: bytes, reason: str, detail: str) -> None:
        metrics.rejected.labels(reason).inc()
        shown = printable(topic, 200)
        if REJECTION_LOG.allow(time.monotonic()):
            log.warning("rejected payload on %s (%d bytes): %s: %s", shown, len(raw), reason, printable(detail))
        out.rejected.append(Rejected(now, reason, printable(detail, 1000), shown, len(raw),
                                     printable(raw[:prefix_bytes].decode("utf-8", "backslashreplace"),
                                               4 * prefix_bytes)))

    for topic, raw in raws:
        received = time.perf_counter()
        if _has_control(topic):
            reject(topic, raw, "topic", "the topic has control characters")
            continue
        try:
            payload = decode_event(raw)
        except WireError as exc:
            reject(topic, raw, reject_reason(exc), str(exc))
            continue
        except Exception as exc:  # whatever the parser raises, it is this payload's fault
            reject(topic, raw, "parser", f"{type(exc).__name__}: {exc}")
            continue
        try:
            t = epoch(payload["time"])  # the schema says date-time; dispatch needs it parseable, checked here
        except (ValueError, OverflowError, OSError):
            reject(topic, raw, "time", f"time {payload.get('time')!r} is not an ISO 8601 date-time")
            continue
        parts = topic.split("/")
        if len(parts) >= 3 and (parts[-3], parts[-2]) != (payload["site"], payload["camera"]):
            reject(topic, raw, "topic_mismatch",
                   f"event {payload['event_id']}: topic does not match site/camera {payload['site']}/{payload['camera']}")
            continue
        if rules is not None and payload["camera"] not in rules.cameras:
            reject(topic, raw, "unknown_camera",
                   f"event {payload['event_id']}: camera {payload['camera']!r} is not configured for this site")
            continue
        if rules is not None and t > now + rules.max_future_skew_s:
            reject(topic, raw, "future", f"event {payload['event_id']}: time {payload['time']} is more than "
                   f"{rules.max_future_skew_s:g} s ahead of this host's clock")
            continue
        item = Incoming(payload, received=received, raw=raw.decode() if isinstance(raw, bytes) else raw)
        if rules is not None and t < now - rules.max_event_age_s:
            metrics.late.labels(payload["kind"]).inc()
            log.warning("late event %s (%s on %s): its frame is %.0f s old, more than %g s: stored, not paged",
                        payload["event_id"], payload["kind"], payload["camera"], now - t, rules.max_event_age_s)
            out.late.append(item)
            continue
        out.valid.append(item)
    return out


def validate_batch(raws: list[tuple[str, bytes]], metrics: Metrics, rules: EventRules | None = None) -> list[Incoming]:
    """The valid events of a batch (benchmarks and tests that need no more than that)."""
    return screen(raws, metrics, rules).valid
