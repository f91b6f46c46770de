"""Score alerts against ground truth. Pure functions, no I/O.

The rule (issue 2): an alert matches an event on the same camera when
`t_event - 1 s <= t_alert <= t_event + 10 s`; each event is matched at most once, by its earliest
alert in the window; every other alert is a false alarm. Time-to-alert is `t_alert - t_event`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MATCH_BEFORE_S = 1.0
MATCH_AFTER_S = 10.0


@dataclass(frozen=True)
class TimedEvent:
    kind: str
    t: float
    visible: bool = True  # false: the camera never saw it; matched or not, it is neither found nor missed


@dataclass
class ClipScore:
    clip: str
    camera: str
    duration_s: float
    events: list[TimedEvent]
    alerts: list[TimedEvent]
    matched: list[tuple[int, int]] = field(default_factory=list)  # (event index, alert index)

    @property
    def visible(self) -> int:
        return sum(e.visible for e in self.events)

    @property
    def hidden(self) -> int:
        return len(self.events) - self.visible

    @property
    def found(self) -> int:
        return sum(self.events[e].visible for e, _ in self.matched)

    @property
    def missed(self) -> int:
        return self.visible - self.found

    @property
    def false_alarm_indices(self) -> list[int]:
        used = {a for _, a in self.matched}
        return [i for i in range(len(self.alerts)) if i not in used]

    @property
    def false_alarms(self) -> int:
        return len(self.false_alarm_indices)

    @property
    def time_to_alert(self) -> list[float]:
        return [self.alerts[a].t - self.events[e].t for e, a in self.matched if self.events[e].visible]


def match(events: list[TimedEvent], alerts: list[TimedEvent]) -> list[tuple[int, int]]:
    """Pair each event (in time order) with its earliest unused alert inside the window.

    Events are taken in time order so that, of two close incidents, the first one claims the first
    alert: an alert can stand for one event only, and a later alert can still serve the later event.
    """
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    alert_order = sorted(range(len(alerts)), key=lambda i: alerts[i].t)
    for e in sorted(range(len(events)), key=lambda i: events[i].t):
        te = events[e].t
        for a in alert_order:
            if a not in used and te - MATCH_BEFORE_S <= alerts[a].t <= te + MATCH_AFTER_S:
                pairs.append((e, a))
                used.add(a)
                break
    return sorted(pairs)


def score_clip(clip: str, camera: str, duration_s: float, events: list[TimedEvent],
               alerts: list[TimedEvent]) -> ClipScore:
    return ClipScore(clip, camera, duration_s, events, alerts, match(events, alerts))


@dataclass(frozen=True)
class Totals:
    clips: int
    events: int
    found: int
    missed: int
    false_alarms: int
    camera_hours: float
    negative_camera_hours: float
    tta_median: float | None
    tta_p95: float | None
    hidden_events: int = 0  # labelled as never visible: left out of events, found and missed

    @property
    def found_ratio(self) -> float:
        return 1.0 if self.events == 0 else self.found / self.events

    @property
    def fa_per_hour(self) -> float:
        return self.false_alarms / self.camera_hours if self.camera_hours > 0 else 0.0

    def as_json(self) -> dict:
        return {
            "clips": self.clips, "events": self.events, "found": self.found, "missed": self.missed,
            "found_ratio": round(self.found_ratio, 4), "false_alarms": self.false_alarms,
            "camera_hours": round(self.camera_hours, 4),
            "negative_camera_hours": round(self.negative_camera_hours, 4),
            "fa_per_hour": round(self.fa_per_hour, 4),
            "tta_median": None if self.tta_median is None else round(self.tta_median, 3),
            "tta_p95": None if self.tta_p95 is None else round(self.tta_p95, 3),
            **({"hidden_events": self.hidden_events} if self.hidden_events else {}),
        }


def totals(scores: list[ClipScore]) -> Totals:
    tta = [x for s in scores for x in s.time_to_alert]
    return Totals(
        clips=len(scores),
        events=sum(s.visible for s in scores),
        found=sum(s.found for s in scores),
        missed=sum(s.missed for s in scores),
        false_alarms=sum(s.false_alarms for s in scores),
        camera_hours=sum(s.duration_s for s in scores) / 3600.0,
        negative_camera_hours=sum(s.duration_s for s in scores if not s.events) / 3600.0,
        tta_median=float(np.median(tta)) if tta else None,
        tta_p95=float(np.percentile(tta, 95)) if tta else None,
        hidden_events=sum(s.hidden for s in scores),
    )


# --fail-under: `found` is a floor; the others are ceilings (fewer false alarms, faster alerts).
FLOORS = {"found": "found_ratio"}
CEILINGS = {"fa_per_hour": "fa_per_hour", "tta_median": "tta_median", "tta_p95": "tta_p95",
            "missed": "missed", "false_alarms": "false_alarms"}


def parse_thresholds(text: str) -> dict[str, float]:
    from quaywatch.errors import QuaywatchError

    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in FLOORS | CEILINGS:
            known = ", ".join(sorted(FLOORS | CEILINGS))
            raise QuaywatchError(f"--fail-under: {part!r} is not KEY=NUMBER with KEY one of {known}")
        try:
            out[key] = float(value)
        except ValueError:
            raise QuaywatchError(f"--fail-under: {key}={value!r}: not a number") from None
    return out


def failures(t: Totals, thresholds: dict[str, float]) -> list[str]:
    """Each threshold that the totals miss, as a sentence."""
    out = []
    for key, limit in thresholds.items():
        if key in FLOORS:
            value = getattr(t, FLOORS[key])
            if value < limit:
                out.append(f"{key} = {value:.4g} is below the floor {limit:g}")
        else:
            value = getattr(t, CEILINGS[key])
            if value is None:
                continue  # no events matched: tta has no value; `found` catches that case
            if value > limit:
                out.append(f"{key} = {value:.4g} is above the ceiling {limit:g}")
    return out
