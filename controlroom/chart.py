"""A grouped bar chart as inline SVG (alerts, real incidents, false alarms per month): no chart library,
no script, prints and scales on any screen."""

from __future__ import annotations

from html import escape

from quaywatch.controlroom.stats import MonthStats

SERIES = (("alerts", "#4fa3ff"), ("real_incidents", "#ff5a4f"), ("false_alarms", "#f2c14e"))


def bar_chart(rows: list[MonthStats], labels: dict[str, str], width: int = 900, height: int = 320) -> str:
    left, bottom, top = 44, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - top
    top_value = max([0] + [getattr(r, name) for r in rows for name, _ in SERIES])
    peak = max(4, -(-top_value // 4) * 4)  # a multiple of 4, so the five grid lines fall on whole numbers
    group = min(plot_w / max(1, len(rows)), 160.0)  # a lone month is not one wall-wide bar
    bar = group * 0.8 / len(SERIES)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(labels["title"])}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):  # grid lines with whole-number ticks
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value:g}</text>')
    for gi, r in enumerate(rows):
        x0 = left + gi * group + group * 0.1
        for si, (name, colour) in enumerate(SERIES):
            v = getattr(r, name)
            h = plot_h * v / peak
            parts.append(f'<rect x="{x0 + si * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[name])} {r.month}: {v}</title></rect>')
        parts.append(f'<text x="{x0 + group * 0.4:.1f}" y="{height - bottom + 18}" text-anchor="middle" '
                     f'class="tick">{escape(r.month)}</text>')
    for si, (name, colour) in enumerate(SERIES):
        x = left + si * 230
        parts.append(f'<rect x="{x}" y="6" width="14" height="14" fill="{colour}"/>'
                     f'<text x="{x + 20}" y="18" class="legend">{escape(labels[name])}</text>')
    parts.append("</svg>")
    return "".join(parts)
