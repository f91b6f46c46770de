"""Effect statistics per site and month, for the police and the municipality's follow-up.

Water alerts only (camera trouble is not a safety outcome); drills are counted apart. Camera-hours are
the configured cameras times the hours of the month that have passed, so a month in progress is not
diluted by hours that have not happened yet. Times run from the frame that showed the fall.
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


def month_stats(site: str, month: str, alerts: list[Alert], cameras: int, tz: str, now: float) -> MonthStats:
    start, end = month_bounds(month, tz)
    hours = max(0.0, min(end, now) - start) / 3600.0
    camera_hours = round(cameras * hours, 1)
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
        false_alarms=false_alarms, drills=len(water) - len(real), camera_hours=camera_hours,
        false_alarms_per_camera_hour=round(false_alarms / camera_hours, 5) if camera_hours else None,
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
