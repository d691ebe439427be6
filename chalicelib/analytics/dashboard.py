"""The analytics dashboard: one self-contained HTML page (inline CSS and SVG, no scripts)."""

from __future__ import annotations

from html import escape

import psycopg2.extensions

from chalicelib.analytics import charts, cohort, rfm
from chalicelib.analytics.etl import batch_date

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer analytics</title>
<style>
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px; color: #1a1a1a;
        max-width: 1000px; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.muted {{ color: #666; font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e5e5e5; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px; }}
.chart {{ overflow-x: auto; }}
</style></head><body>
<h1>Customer analytics</h1>
<p class="muted">{as_of} · {users} users scored · source: marketplace orders (report 004)</p>
<h2>RFM segments</h2>
<table><tr><th>segment</th><th>users</th><th>share</th></tr>{segment_rows}</table>
<p class="muted">Scores 1–3 per dimension by its own quartiles ({thresholds}); recency: fewer days scores higher.
{tie_note}</p>
<h2>RFM segment flow</h2>
<div class="chart">{sankey}</div>
<h2>Cohort retention</h2>
<p class="muted">Share of each first-order month's users who ordered again N months later
(cancelled and returned orders do not count).</p>
<div class="chart">{heatmap}</div>
</body></html>
"""


def render_dashboard(conn: psycopg2.extensions.connection) -> str:
    summary = rfm.summary(conn)
    as_of = (f"as of {batch_date(summary.etl_batch_time).isoformat()} (ETL batch "
             f"{summary.etl_batch_time.isoformat()})" if summary.etl_batch_time else "no ETL run yet")
    rows = []
    for name, users in summary.segments.items():
        share = users / summary.users * 100 if summary.users else 0.0
        colour = charts.SEGMENT_COLOURS[name]
        rows.append(f'<tr><td><span class="swatch" style="background:{colour}"></span>{escape(name)}</td>'
                    f'<td class="n">{users:,}</td><td class="n">{share:.1f}%</td></tr>')
    thresholds = "; ".join(f"{d} Q1 {float(q1):,.0f}, Q3 {float(q3):,.0f}"
                           for d, (q1, q3) in sorted(summary.thresholds.items(), reverse=True))
    frequency_q1 = summary.thresholds.get("frequency", (None, None))[0]
    tie_note = ("Most buyers ordered once, so frequency Q1 is 1 and nobody is below it: no F1 scores "
                "(New customers, About to sleep, Hibernating stay empty)." if frequency_q1 == 1 else "")
    return PAGE.format(
        tie_note=tie_note,
        as_of=escape(as_of), users=f"{summary.users:,}", segment_rows="".join(rows),
        thresholds=escape(thresholds or "no thresholds yet"),
        sankey=charts.rfm_sankey_svg(rfm.score_flows(conn)),
        heatmap=charts.cohort_heatmap_svg(cohort.cohort_matrix(conn)),
    )
