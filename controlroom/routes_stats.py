"""Effect statistics: a table and a chart per month, and the same numbers as CSV."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.chart import bar_chart
from quaywatch.controlroom.context import Context
from quaywatch.controlroom.i18n import texts
from quaywatch.controlroom.stats import MonthStats, month_bounds, month_stats, months_back, to_csv

MONTHS = 12


def add_routes(router: APIRouter, ctx: Context) -> None:
    b = ctx.backend

    def compute(months: int = MONTHS) -> list[MonthStats]:
        now = time.time()
        since = b.in_service_since()
        since = now if since is None else since
        # Months before the service existed are left out rather than shown as perfect zeros.
        names = [m for m in months_back(now, b.timezone, months) if month_bounds(m, b.timezone)[1] > since]
        start, _ = month_bounds(names[0], b.timezone)
        alerts = b.alerts_between(start, now + 1)
        cams = [c.id for c in b.cameras()]
        return [month_stats(b.site_id, m, alerts, cams, b.timezone, now, since) for m in names]

    @router.get("/stats", include_in_schema=False)
    async def stats_page(request: Request):
        s = ctx.guard.page(request)
        rows = await run_in_threadpool(compute)
        t = texts(ctx.lang(request))
        chart = bar_chart(rows, {"title": t["statistics"], "alerts": t["alerts_count"],
                                 "real_incidents": t["real_incidents"], "false_alarms": t["false_alarms"]})
        return ctx.render(request, "stats.html", s, rows=rows[::-1], chart=Markup(chart))

    @router.get("/stats.csv")
    async def stats_csv(request: Request):
        ctx.guard.api(request)
        rows = await run_in_threadpool(compute)
        return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="quaywatch-{b.site_id}-statistics.csv"'})
