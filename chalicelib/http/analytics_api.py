"""Staff analytics routes (staff ``x-api-key``): RFM scores, cohort matrix, the HTML dashboard."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.analytics import cohort, rfm
from chalicelib.analytics.dashboard import render_dashboard
from chalicelib.analytics.etl import batch_date
from chalicelib.http.errors import BadRequest
from chalicelib.http.routes import Call, staff_route

analytics_api = Blueprint(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000


@staff_route(analytics_api, "/v1/analytics/rfm", params=("limit", "offset", "segment"))
def rfm_scores(call: Call) -> dict[str, Any]:
    conn, params = call.conn, call.params
    limit = params.integer("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    offset = params.integer("offset", default=0, minimum=0, maximum=MAX_OFFSET)
    segment = params.raw.get("segment")
    if segment is not None and segment not in rfm.SEGMENT_ORDER:
        raise BadRequest(f"segment must be one of: {', '.join(rfm.SEGMENT_ORDER)}", code="invalid_parameter")
    summary = rfm.summary(conn)
    total, users = rfm.user_scores(conn, limit=limit, offset=offset, segment=segment)
    next_offset = offset + len(users)
    return {
        "as_of": batch_date(summary.etl_batch_time).isoformat() if summary.etl_batch_time else None,
        "etl_batch_time": summary.etl_batch_time.isoformat() if summary.etl_batch_time else None,
        "thresholds": {d: {"q1": float(q1), "q3": float(q3)} for d, (q1, q3) in summary.thresholds.items()},
        "segments": [{"segment": name, "users": n} for name, n in summary.segments.items()],
        "total_users": total,
        "users": [u.__dict__ for u in users],
        "limit": limit,
        "offset": offset,
        "next_offset": next_offset if next_offset < total else None,
    }


@staff_route(analytics_api, "/v1/analytics/cohorts")
def cohorts(call: Call) -> dict[str, Any]:
    conn = call.conn
    batch_time = rfm.latest_batch_time(conn)
    matrix = cohort.cohort_matrix(conn)
    return {
        "as_of": batch_date(batch_time).isoformat() if batch_time else None,
        "cohorts": [{"cohort_month": c.cohort_month, "cohort_size": c.cohort_size,
                     "active_users": c.active_users, "retention": c.retention} for c in matrix],
    }


@staff_route(analytics_api, "/v1/analytics/dashboard")
def dashboard(call: Call) -> Response:
    page = render_dashboard(call.conn)
    return Response(body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
