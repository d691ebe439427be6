"""Server-side SVG charts (no JavaScript, no network): cohort retention heat map, RFM Sankey."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from html import escape

from chalicelib.analytics.cohort import Cohort
from chalicelib.analytics.rfm import SEGMENT_ORDER, Tier

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
SEGMENT_COLOURS = {
    "Champions": "#1b7837", "Loyal": "#5aae61", "Potential loyalists": "#a6dba0", "New customers": "#4393c3",
    "Need attention": "#fdb863", "About to sleep": "#e08214", "Can't lose them": "#b2182b", "At risk": "#d6604d",
    "Hibernating": "#878787",
}
SCORE_COLOURS = {1: "#d6604d", 2: "#fdb863", 3: "#5aae61"}
Node = tuple[str, int | str]  # (stage, score or segment name)
Flow = tuple[int, int, int, str, int]


def _blue(share: float) -> str:
    """White (0) to dark blue (1)."""
    share = min(1.0, max(0.0, share))
    low, high = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def rupiah(amount: int) -> str:
    """Rp with Indonesian thousands dots; millions and billions shortened (jt, M)."""
    if amount >= 1_000_000_000:
        return f"Rp {amount / 1_000_000_000:,.1f} M".replace(",", " ").replace(".", ",")
    if amount >= 10_000_000:
        return f"Rp {amount / 1_000_000:,.1f} jt".replace(",", " ").replace(".", ",")
    return f"Rp {amount:,}".replace(",", ".")


def revenue_pyramid_svg(tiers: Sequence[Tier]) -> str:
    """Buyers ranked by GMV in five equal groups, top 20 % at the apex; bar width = share of GMV."""
    if not tiers:
        return _empty("No buyers to rank yet.")
    width, row_h, top, label_w, value_w = 960, 34, 8, 240, 240
    usable = width - label_w - value_w
    widest = max(t.gmv_share for t in tiers) or 1.0
    height = top + len(tiers) * row_h + 8
    centre = label_w + usable / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="Revenue pyramid" style="{FONT};font-size:13px">']
    for i, t in enumerate(tiers):
        y = top + i * row_h
        w = max(2.0, usable * t.gmv_share / widest)
        fill = "#08306b" if t.tier == 1 else _blue(0.9 - 0.13 * t.tier)
        out.append(f'<text x="4" y="{y + row_h / 2 + 4}" font-weight="{600 if t.tier == 1 else 400}">'
                   f'{escape(t.label)} of buyers ({t.users:,})</text>')
        out.append(f'<rect x="{centre - w / 2:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{fill}">'
                   f'<title>{escape(t.label)}: {t.users:,} buyers, {t.gmv_share * 100:.1f}% of GMV</title></rect>')
        out.append(f'<text x="{label_w + usable + 10}" y="{y + row_h / 2 + 4}">'
                   f'{t.gmv_share * 100:.1f}% of GMV · {escape(rupiah(t.gmv))}</text>')
    out.append("</svg>")
    return "".join(out)


def cohort_heatmap_svg(cohorts: Sequence[Cohort], partial_month: str | None = None) -> str:
    """Rows: cohorts (first-order month, size); columns: months since; cell: % still active.
    Cells of ``partial_month`` (still running at the batch date) are hatched and marked with *."""
    if not cohorts:
        return _empty("No cohorts yet: run the ETL after orders arrive.")
    cell_w, cell_h, left, top = 46, 24, 150, 44
    columns = max(len(c.active_users) for c in cohorts)
    width, height = left + columns * cell_w + 10, top + len(cohorts) * cell_h + 10
    # colour scale: the highest retention after month 0 is darkest, so the differences show
    peak = max((r for c in cohorts for r in c.retention[1:]), default=0.0) or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="Cohort retention heat map" style="{FONT};font-size:11px">',
           '<defs><pattern id="partial" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#bdbdbd" stroke-width="3"/></pattern></defs>']
    out.append(f'<text x="{left}" y="14" font-weight="600">months since first order</text>')
    out.append(f'<text x="4" y="{top - 8}" font-weight="600">cohort (users)</text>')
    for i in range(columns):
        out.append(f'<text x="{left + i * cell_w + cell_w / 2}" y="{top - 8}" text-anchor="middle">{i}</text>')
    for row, c in enumerate(cohorts):
        y = top + row * cell_h
        out.append(f'<text x="4" y="{y + cell_h / 2 + 4}">{escape(c.cohort_month)} ({c.cohort_size:,})</text>')
        for i, (active, share) in enumerate(zip(c.active_users, c.retention, strict=True)):
            x = left + i * cell_w
            partial = partial_month is not None and c.month_at(i) == partial_month
            fill = "url(#partial)" if partial and i else "#08306b" if i == 0 else _blue(share / peak)
            ink = "#ffffff" if (i == 0 or share / peak > 0.55) and not (partial and i) else "#1a1a1a"
            note = f" ({escape(c.month_at(i))} partial: month still running)" if partial else ""
            stroke = ' stroke="#e08214" stroke-width="2" stroke-dasharray="3 2"' if partial else ""
            out.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"{stroke}>'
                       f'<title>{escape(c.cohort_month)} +{i}: {active:,} of {c.cohort_size:,} users{note}</title>'
                       f'</rect>')
            out.append(f'<text x="{x + cell_w / 2 - 1}" y="{y + cell_h / 2 + 3}" text-anchor="middle" '
                       f'fill="{ink}">{share * 100:.0f}%{"*" if partial else ""}</text>')
    out.append("</svg>")
    return "".join(out)


def rfm_sankey_svg(flows: Sequence[Flow]) -> str:
    """Users flowing R score -> F score -> M score -> segment; band width = users."""
    if not flows:
        return _empty("No RFM scores yet: run the ETL after orders arrive.")
    stages: list[tuple[str, Callable[[Flow], int | str]]] = [
        ("R", lambda f: f[0]), ("F", lambda f: f[1]), ("M", lambda f: f[2]), ("segment", lambda f: f[3])]
    columns: list[list[Node]] = []
    links: dict[tuple[Node, Node], int] = defaultdict(int)
    for s, (name, key) in enumerate(stages):
        present = {key(f) for f in flows}
        order: list[int | str] = ([x for x in SEGMENT_ORDER if x in present] if name == "segment"
                                  else sorted((x for x in present if isinstance(x, int)), reverse=True))
        columns.append([(name, x) for x in order])
        if s:
            prev_name, prev_key = stages[s - 1]
            for f in flows:
                links[((prev_name, prev_key(f)), (name, key(f)))] += f[4]
    return _sankey(columns, links, sum(f[4] for f in flows))


def _sankey(columns: list[list[Node]], links: dict[tuple[Node, Node], int], total: int) -> str:
    width, height, node_w, gap, top, label_w = 960, 460, 14, 10, 30, 210
    usable = height - top - 10 - gap * (max(len(c) for c in columns) - 1)
    scale = usable / total
    step = (width - label_w - node_w - 10) / (len(columns) - 1)
    value: dict[Node, int] = defaultdict(int)
    for (_source, target), n in links.items():
        value[target] += n
    for a in columns[0]:
        value[a] = sum(n for (s, _t), n in links.items() if s == a)
    pos: dict[Node, tuple[float, float]] = {}
    for ci, column in enumerate(columns):
        y: float = top
        for node in column:
            pos[node] = (10 + ci * step, y)
            y += value[node] * scale + gap
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="RFM segment flow" style="{FONT};font-size:12px">']
    for ci, title in enumerate(("Recency score", "Frequency score", "Monetary score", "Segment")):
        out.append(f'<text x="{10 + ci * step}" y="16" font-weight="600">{title}</text>')
    out_offset: dict[Node, float] = defaultdict(float)
    in_offset: dict[Node, float] = defaultdict(float)
    order = {node: i for column in columns for i, node in enumerate(column)}
    for (a, b), n in sorted(links.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]])):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        h = n * scale
        y0, y1 = ya + out_offset[a], yb + in_offset[b]
        out_offset[a] += h
        in_offset[b] += h
        x0, x1 = xa + node_w, xb
        mid = (x0 + x1) / 2
        score_colour = SCORE_COLOURS.get(a[1], "#999999") if isinstance(a[1], int) else "#999999"
        colour = SEGMENT_COLOURS.get(str(b[1]), score_colour) if b[0] == "segment" else score_colour
        out.append(f'<path d="M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} '
                   f'L{x1:.1f},{y1 + h:.1f} C{mid:.1f},{y1 + h:.1f} {mid:.1f},{y0 + h:.1f} {x0:.1f},{y0 + h:.1f} Z" '
                   f'fill="{colour}" fill-opacity="0.45"><title>{escape(_label(a))} → {escape(_label(b))}: '
                   f'{n:,} users</title></path>')
    for node, (x, y) in pos.items():
        h = max(1.0, value[node] * scale)
        kind, key = node
        fill = SEGMENT_COLOURS.get(str(key), "#444") if kind == "segment" or not isinstance(key, int) \
            else SCORE_COLOURS[key]
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node_w}" height="{h:.1f}" fill="{fill}">'
                   f'<title>{escape(_label(node))}: {value[node]:,} users</title></rect>')
        out.append(f'<text x="{x + node_w + 4:.1f}" y="{y + h / 2 + 4:.1f}">{escape(_label(node))} '
                   f'({value[node]:,})</text>')
    out.append("</svg>")
    return "".join(out)


def _label(node: Node) -> str:
    kind, value = node
    return str(value) if kind == "segment" else f"{kind}{value}"


def _empty(message: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 40" width="600" height="40" '
            f'style="{FONT};font-size:13px"><text x="4" y="24">{escape(message)}</text></svg>')
