"""Staff analytics routes (staff ``x-api-key``): RFM scores with the revenue pyramid, cohort matrix,
drill-down from a segment to its users (JSON or CSV), the HTML dashboard. Every route takes the
filters ``marketplace``, ``shop``, ``region``, ``from``, ``to`` (months YYYY-MM); unknown values are a 400."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib.analytics import cohort, filters, rfm
from chalicelib.analytics.batch import batch_date, latest_as_of
from chalicelib.analytics.dashboard import render_dashboard
from chalicelib.analytics.export import users_csv
from chalicelib.http.errors import ApiError, BadRequest
from chalicelib.http.negotiation import CSV, choose
from chalicelib.http.params import QueryParams
from chalicelib.http.routes import Call, staff_route

analytics_api = Blueprint(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_EXPORT_LIMIT = 10_000  # one page of a segment's list (CSV export)
MAX_OFFSET = 10_000_000
FILTER_PARAMS = ("marketplace", "shop", "region", "from", "to")
PAGE_PARAMS = ("limit", "offset")


def _filters(call: Call) -> filters.Filters:
    """The checked filters (``UnknownFilterValue`` is an ``InvalidInput``: a 400). An empty value
    means "all" (what the dashboard's form sends for an unset filter)."""
    raw = {name: value if (value := call.params.raw.get(name)) and value.strip() else None
           for name in FILTER_PARAMS}
    return filters.checked(call.conn, marketplace=raw["marketplace"], shop=raw["shop"], region=raw["region"],
                           month_from=raw["from"], month_to=raw["to"])


def _page(params: QueryParams, maximum: int) -> tuple[int, int]:
    limit = params.integer("limit", default=DEFAULT_LIMIT, maximum=maximum)
    offset = params.integer("offset", default=0, minimum=0, maximum=MAX_OFFSET)
    return limit or DEFAULT_LIMIT, offset or 0


def _users_url(segment: str, chosen: filters.Filters) -> str:
    query = urlencode(chosen.query())
    return f"/v1/analytics/segments/{rfm.slug(segment)}/users" + (f"?{query}" if query else "")


def _summary_json(summary: rfm.RfmSummary, chosen: filters.Filters) -> dict[str, Any]:
    return {
        "as_of": summary.as_of.isoformat() if summary.as_of else None,
        "etl_batch_time": summary.etl_batch_time.isoformat() if summary.etl_batch_time else None,
        "filters": chosen.query(),
        "thresholds": {d: {"q1": float(q1), "q3": float(q3)} for d, (q1, q3) in summary.thresholds.items()},
        "total_gmv": summary.gmv,
        "segments": [{"segment": s.segment, "slug": rfm.slug(s.segment), "users": s.users, "gmv": s.gmv,
                      "user_share": round(s.user_share, 4), "gmv_share": round(s.gmv_share, 4),
                      "users_url": _users_url(s.segment, chosen)} for s in summary.segments.values()],
        "pyramid": {"top_20_percent_gmv_share": round(summary.top_20_gmv_share, 4),
                    "tiers": [{"tier": t.tier, "label": t.label, "users": t.users, "gmv": t.gmv,
                               "gmv_share": round(t.gmv_share, 4)} for t in summary.tiers]},
    }


def _users_json(total: int, users: list[rfm.UserScore], limit: int, offset: int) -> dict[str, Any]:
    next_offset = offset + len(users)
    return {"total_users": total, "users": [u.__dict__ for u in users], "limit": limit, "offset": offset,
            "next_offset": next_offset if next_offset < total else None}


@staff_route(analytics_api, "/v1/analytics/rfm", params=(*PAGE_PARAMS, "segment", *FILTER_PARAMS))
def rfm_scores(call: Call) -> dict[str, Any]:
    limit, offset = _page(call.params, MAX_LIMIT)
    segment = call.params.raw.get("segment")
    if segment is not None and segment not in rfm.SEGMENT_ORDER:
        raise BadRequest(f"segment must be one of: {', '.join(rfm.SEGMENT_ORDER)}", code="invalid_parameter")
    people = rfm.population(call.conn, _filters(call))
    summary = rfm.summary(call.conn, people)
    total, users = rfm.user_scores(call.conn, limit=limit, offset=offset, segment=segment, people=people)
    return {**_summary_json(summary, people.filters), **_users_json(total, users, limit, offset)}


@staff_route(analytics_api, "/v1/analytics/segments/{segment}/users", params=(*PAGE_PARAMS, *FILTER_PARAMS))
def segment_users(call: Call) -> dict[str, Any] | Response:
    media = choose(call.headers.get("accept"))
    slug = call.uri_params.get("segment", "")
    name = rfm.SEGMENT_BY_SLUG.get(slug)
    if name is None:
        raise ApiError(f"no segment {slug!r}; segments: {', '.join(rfm.SEGMENT_BY_SLUG)}", code="not_found",
                       status=404)
    limit, offset = _page(call.params, MAX_EXPORT_LIMIT)
    people = rfm.population(call.conn, _filters(call))
    total, users = rfm.user_scores(call.conn, limit=limit, offset=offset, segment=name, people=people)
    page = _users_json(total, users, limit, offset)
    if media == CSV:
        headers: dict[str, str | list[str]] = {"Content-Type": "text/csv; charset=utf-8", "X-Total-Count": str(total),
                   "Content-Disposition": f'attachment; filename="{slug}.csv"'}
        if page["next_offset"] is not None:
            headers["X-Next-Offset"] = str(page["next_offset"])
        return Response(body=users_csv(users), status_code=200, headers=headers)
    as_of = batch_date(people.etl_batch_time) if people.etl_batch_time else None
    return {"segment": name, "slug": slug, "as_of": as_of.isoformat() if as_of else None,
            "filters": people.filters.query(), **page}


@staff_route(analytics_api, "/v1/analytics/cohorts", params=FILTER_PARAMS)
def cohorts(call: Call) -> dict[str, Any]:
    chosen = _filters(call)
    as_of = latest_as_of(call.conn)
    matrix = cohort.cohort_matrix(call.conn, chosen)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "filters": chosen.query(),
        "partial_month": cohort.partial_month(as_of, chosen),
        "cohorts": [{"cohort_month": c.cohort_month, "cohort_size": c.cohort_size,
                     "active_users": c.active_users, "retention": c.retention} for c in matrix],
    }


@staff_route(analytics_api, "/v1/analytics/dashboard", params=FILTER_PARAMS)
def dashboard(call: Call) -> Response:
    page = render_dashboard(call.conn, _filters(call))
    return Response(body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
