"""`quaywatch eval --report r.html`: one self-contained HTML page with the numbers and the plots.

Plots are inline SVG (matplotlib), so the report is a single file to attach to a ticket.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt
import numpy as np

from quaywatch.evaluation.scoring import ClipScore, Totals


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def timeline_plot(scores: list[ClipScore]) -> str:
    """One row per clip: truth events as green bars (their match window), alerts as dots (blue matched,
    red false alarm). Positives and negatives get their own panels, so a 30-s fall is not squeezed
    beside a 40-min quiet night."""
    groups = [("clips with events", [s for s in scores if s.events]),
              ("negative clips", [s for s in scores if not s.events])]
    groups = [(title, rows) for title, rows in groups if rows]
    if not groups:
        return "<p>no clips</p>"
    heights = [max(1.2, 0.26 * len(rows) + 0.8) for _, rows in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (title, rows) in zip(axes[:, 0], groups, strict=True):
        for y, s in enumerate(rows):
            ax.plot([0, s.duration_s], [y, y], color="#ccc", lw=1, zorder=1)
            for e in s.events:
                ax.plot([e.t - 1, e.t + 10], [y, y], color="#2a2", lw=6, alpha=0.35, solid_capstyle="butt", zorder=2)
                ax.plot([e.t], [y], marker="|", color="#070", ms=12, zorder=3)
            fa = set(s.false_alarm_indices)
            for i, a in enumerate(s.alerts):
                ax.plot([a.t], [y], "o", color="#d22" if i in fa else "#24c", ms=5, zorder=4)
        ax.set_yticks(range(len(rows)), [Path(s.clip).name for s in rows], fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, max(s.duration_s for s in rows) * 1.01)
        ax.set_xlabel("seconds from clip start")
        ax.set_title(title, fontsize=10)
    fig.suptitle("Alerts against ground truth: green = event and its match window, "
                 "blue = matched alert, red = false alarm", fontsize=10)
    fig.tight_layout()
    return _svg(fig)


def tta_plot(scores: list[ClipScore]) -> str:
    tta = [x for s in scores for x in s.time_to_alert]
    fig, ax = plt.subplots(figsize=(7, 3))
    if tta:
        ax.hist(tta, bins=min(30, max(5, len(tta))), color="#24c")
        for q, style in ((50, "--"), (95, ":")):
            v = float(np.percentile(tta, q))
            ax.axvline(v, color="k", ls=style, label=f"p{q} = {v:.2f} s")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no matched alerts", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("time to alert (s): alert time minus the moment of entry")
    ax.set_ylabel("events")
    ax.set_title("Time-to-alert distribution")
    return _svg(fig)


def sweep_plot(points: list[tuple[float, Totals]]) -> str:
    """Falls found against false alarms per camera-hour, one point per `alert_margin` value."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    fa = [t.fa_per_hour for _, t in points]
    found = [t.found_ratio for _, t in points]
    ax.plot(fa, found, "o-", color="#24c")
    for (m, _), x, y in zip(points, fa, found, strict=True):
        ax.annotate(f"{m:+.2f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("false alarms per camera-hour")
    ax.set_ylabel("events found (fraction)")
    ax.set_title("alert_margin sweep: each point one value of the knob")
    ax.grid(alpha=0.3)
    return _svg(fig)


def write_report(path: str | Path, scores: list[ClipScore], totals: Totals, errors: list[str],
                 failed: list[str], sweep: list[tuple[float, Totals]] | None = None) -> None:
    t = totals.as_json()
    rows = "".join(
        f"<tr class='{'bad' if s.missed or s.false_alarms else ''}'><td>{html.escape(Path(s.clip).name)}</td>"
        f"<td>{html.escape(s.camera)}</td><td>{s.duration_s:.0f}</td><td>{len(s.events)}</td><td>{s.found}</td>"
        f"<td>{s.missed}</td><td>{s.false_alarms}</td>"
        f"<td>{', '.join(f'{x:.2f}' for x in s.time_to_alert)}</td></tr>"
        for s in scores
    )
    summary = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in t.items())
    verdict = (
        "<p class='bad'>Fails: " + "; ".join(map(html.escape, failed)) + "</p>" if failed
        else "<p class='ok'>Meets every threshold given.</p>" if failed is not None else ""
    )
    errs = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    Path(path).write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>quaywatch eval</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} tr.bad td{{background:#fee}}
.bad{{color:#b00}} .ok{{color:#070}} svg{{max-width:100%;height:auto}}
</style></head><body>
<h1>quaywatch eval</h1>{verdict}
<h2>Totals</h2><table>{summary}</table>
<h2>Timeline</h2>{timeline_plot(scores)}
<h2>Time to alert</h2>{tta_plot(scores)}
{"<h2>Margin sweep</h2>" + sweep_plot(sweep) if sweep else ""}
<h2>Per clip</h2><table><tr><th>clip</th><th>camera</th><th>seconds</th><th>events</th><th>found</th>
<th>missed</th><th>false alarms</th><th>time to alert (s)</th></tr>{rows}</table>
{"<h2>Clips that could not be scored</h2><ul>" + errs + "</ul>" if errors else ""}
</body></html>
""", encoding="utf-8")
