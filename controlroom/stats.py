"""Effect statistics per site and month, for the police and the municipality's follow-up.

Water alerts only (camera trouble is not a safety outcome); drills are counted apart. Camera-hours are
the hours each configured camera was in service in the month: from when the service started (or the
month began) to now (or the month's end), less the time the camera was reported offline (its
camera_offline alert until it was resolved). So a month in progress, the months before the system was
installed and a dark camera do not dilute the false-alarm rate. Times run from the frame that showed the fall.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from quaywatch.controlroom.backend import Alert

DELIVERED = ("delivered", "read", "answered", "completed")


@dataclass(frozen=True)
class MonthStats:
    site: str
    month: str                    # YYYY-MM, in the site's time zone
    alerts: int
    real_incidents: int
    false_alarms: int
    drills: int
    camera_hours: float
    false_alarms_per_camera_hour: float | None
    delivery_median_s: float | None
    ack_median_s: float | None


def month_bounds(month: str, tz: str) -> tuple[float, float]:
    year, mon = (int(x) for x in month.split("-"))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def months_back(now: float, tz: str, count: int) -> list[str]:
    dt = datetime.fromtimestamp(now, ZoneInfo(tz))
    out, y, m = [], dt.year, dt.month
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def offline_seconds(alerts: list[Alert], camera: str, start: float, end: float, now: float) -> float:
    """How long `camera` was reported offline within [start, end)."""
    spans = []
    for a in alerts:
        if a.category == "camera" and a.kind == "camera_offline" and not a.drill and camera in a.cameras:
            until = now if a.is_open else a.updated_at
            spans.append((max(a.time, start), min(until, end)))
    return sum(b - a for a, b in _merged([s for s in spans if s[1] > s[0]]))


def camera_hours(alerts: list[Alert], cameras: list[str], start: float, end: float, now: float) -> float:
    end = min(end, now)
    if end <= start:
        return 0.0
    return sum(max(0.0, (end - start) - offline_seconds(alerts, c, start, end, now)) for c in cameras) / 3600.0


def month_stats(site: str, month: str, alerts: list[Alert], cameras: list[str], tz: str, now: float,
                in_service_since: float | None = None) -> MonthStats:
    start, end = month_bounds(month, tz)
    cam_hours = camera_hours(alerts, cameras, max(start, in_service_since or start), end, now)
    water = [a for a in alerts if a.category == "water" and start <= a.time < end]
    real = [a for a in water if not a.drill]
    false_alarms = sum(1 for a in real if a.outcome == "false_alarm")
    delivery, ack = [], []
    for a in real:
        delivered = [p.delivered_at for p in a.pages if p.delivered_at is not None]
        if delivered:
            delivery.append(min(delivered) - a.time)
        if a.acked_at is not None:
            ack.append(a.acked_at - a.time)
    return MonthStats(
        site=site, month=month, alerts=len(real),
        real_incidents=sum(1 for a in real if a.outcome == "real_incident"),
        false_alarms=false_alarms, drills=len(water) - len(real), camera_hours=round(cam_hours, 2),
        # Significant digits, not decimals: a good month is 0.0001 or less.
        false_alarms_per_camera_hour=float(f"{false_alarms / cam_hours:.4g}") if cam_hours > 0 else None,
        delivery_median_s=_median(delivery), ack_median_s=_median(ack),
    )


def to_csv(rows: list[MonthStats]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["site", "month", "alerts", "real_incidents", "false_alarms", "drills", "camera_hours",
                "false_alarms_per_camera_hour", "time_to_page_delivery_median_s", "time_to_acknowledge_median_s"])
    for r in rows:
        w.writerow([r.site, r.month, r.alerts, r.real_incidents, r.false_alarms, r.drills, r.camera_hours,
                    "" if r.false_alarms_per_camera_hour is None else r.false_alarms_per_camera_hour,
                    "" if r.delivery_median_s is None else r.delivery_median_s,
                    "" if r.ack_median_s is None else r.ack_median_s])
    return buf.getvalue()
