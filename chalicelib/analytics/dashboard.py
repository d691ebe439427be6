"""The analytics dashboard: one self-contained HTML page (inline CSS and SVG, no scripts).

Filters are a plain GET form back to the page (marketplace, shop, region, months); each segment
links to its users (``segments/<slug>/users``, JSON, or CSV with ``Accept: text/csv``), with the
same filters. Links are relative, so they work behind an API Gateway stage prefix.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

import psycopg2.extensions

from chalicelib.analytics import charts, cohort, filters, rfm

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer analytics</title>
<style>
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px; color: #1a1a1a;
        max-width: 1000px; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.muted {{ color: #666; font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e5e5e5; text-align: left; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px; }}
.bar {{ display: inline-block; height: 10px; background: #4393c3; vertical-align: middle; }}
.chart {{ overflow-x: auto; }}
form.filters {{ display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: end; padding: 12px;
                background: #f5f7fa; border: 1px solid #e1e5eb; font-size: 13px; }}
form.filters label {{ display: flex; flex-direction: column; gap: 3px; color: #444; }}
form.filters select, form.filters input {{ font: inherit; padding: 3px 4px; }}
.headline {{ font-size: 15px; margin: 8px 0 4px; }}
.partial {{ border: 2px dashed #e08214; padding: 0 4px; }}
</style></head><body>
<h1>Customer analytics</h1>
<p class="muted">{as_of} · {users} buyers scored{scope} · source: marketplace orders (report 004)</p>
<form class="filters" method="get" action="dashboard">
{filter_fields}
<button type="submit">Apply</button> <a href="dashboard">Clear filters</a>
</form>
<h2>Revenue pyramid</h2>
<p class="headline">The top 20% of buyers bring <strong>{top_share}</strong> of GMV ({gmv} in total).</p>
<div class="chart">{pyramid}</div>
<p class="muted">Buyers ranked by GMV (rupiah, amount × kurs rate per line) in five equal groups; bar width =
share of GMV.</p>
<h2>RFM segments</h2>
<table><tr><th>segment</th><th class="n">buyers</th><th class="n">share</th><th class="n">GMV</th>
<th>share of GMV</th><th>users</th></tr>{segment_rows}</table>
<p class="muted">Scores 1–3 per dimension by its own quartiles ({thresholds}); recency: fewer days scores higher.
A quartile equal to the smallest value puts the buyers tied there in the lowest group (so one-order buyers
score F1), one equal to the largest value in the highest. Each list is JSON, or CSV with
<code>Accept: text/csv</code>.</p>
<h2>RFM segment flow</h2>
<div class="chart">{sankey}</div>
<h2>Cohort retention</h2>
<p class="muted">Share of each first-order month's buyers who ordered again N months later
(cancelled and returned orders do not count). {partial_note}</p>
<div class="chart">{heatmap}</div>
</body></html>
"""
LABELS = {"marketplace": "Marketplace", "shop": "Shop", "region": "Region"}


def _select(dimension: str, options: list[tuple[str, str]], chosen: str | None) -> str:
    items = ['<option value="">all</option>'] + [
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(label)}</option>'
        for v, label in options]
    return f'<label>{LABELS[dimension]}<select name="{dimension}">{"".join(items)}</select></label>'


def _filter_fields(conn: psycopg2.extensions.connection, chosen: filters.Filters) -> str:
    known = filters.known_values(conn)
    fields = [_select(d, known[d], getattr(chosen, d)) for d in filters.DIMENSIONS]
    for name, value, title in (("from", chosen.month_from, "From month"), ("to", chosen.month_to, "To month")):
        fields.append(f'<label>{title}<input type="month" name="{name}" value="{escape(value or "")}" '
                      f'placeholder="YYYY-MM" pattern="[0-9]{{4}}-[0-9]{{2}}"></label>')
    return "\n".join(fields)


def _segment_rows(summary: rfm.RfmSummary, chosen: filters.Filters) -> str:
    query = urlencode(chosen.query())
    rows = []
    for s in summary.segments.values():
        href = f"segments/{rfm.slug(s.segment)}/users" + (f"?{query}" if query else "")
        rows.append(
            f'<tr><td><span class="swatch" style="background:{charts.SEGMENT_COLOURS[s.segment]}"></span>'
            f'{escape(s.segment)}</td><td class="n">{s.users:,}</td><td class="n">{s.user_share * 100:.1f}%</td>'
            f'<td class="n">{escape(charts.rupiah(s.gmv))}</td>'
            f'<td><span class="bar" style="width:{s.gmv_share * 160:.0f}px"></span> {s.gmv_share * 100:.1f}%</td>'
            f'<td><a href="{escape(href)}">list of {s.users:,}</a></td></tr>')
    return "".join(rows)


def render_dashboard(conn: psycopg2.extensions.connection, chosen: filters.Filters | None = None) -> str:
    chosen = chosen or filters.Filters()
    people = rfm.population(conn, chosen)
    summary = rfm.summary(conn, people)
    as_of = (f"as of {summary.as_of.isoformat()} (ETL batch {summary.etl_batch_time.isoformat()})"
             if summary.as_of and summary.etl_batch_time else "no ETL run yet")
    partial = cohort.partial_month(summary.as_of, chosen)
    partial_note = (f'<span class="partial">{escape(partial)}* is partial</span>: the month is still running '
                    f"(data up to {summary.as_of.isoformat()}), so its cells are hatched, not a drop."
                    if partial and summary.as_of else "")
    scope = ", ".join(f"{k} {v}" for k, v in chosen.query().items())
    thresholds = "; ".join(f"{d} Q1 {float(q1):,.0f}, Q3 {float(q3):,.0f}"
                           for d, (q1, q3) in sorted(summary.thresholds.items(), reverse=True))
    return PAGE.format(
        as_of=escape(as_of), users=f"{summary.users:,}", scope=escape(f" · filtered: {scope}" if scope else ""),
        filter_fields=_filter_fields(conn, chosen),
        top_share=f"{summary.top_20_gmv_share * 100:.1f}%", gmv=escape(charts.rupiah(summary.gmv)),
        pyramid=charts.revenue_pyramid_svg(summary.tiers),
        segment_rows=_segment_rows(summary, chosen),
        thresholds=escape(thresholds or "no thresholds yet"),
        sankey=charts.rfm_sankey_svg(rfm.score_flows(conn, people)),
        partial_note=partial_note,
        heatmap=charts.cohort_heatmap_svg(cohort.cohort_matrix(conn, chosen), partial),
    )
