"""Partner routes (``x-api-key`` of a partner): GET /v1/partner/summary and /v1/partner/report,
and the page a funder's browser uses on top of them, GET /v1/partner/portal (no key: it holds none).

The partner always comes from the key, never from the request: no route takes a partner id.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.http.negotiation import CSV, choose
from chalicelib.http.params import check_date_range
from chalicelib.http.portal_page import HEADERS as PORTAL_HEADERS
from chalicelib.http.portal_page import PAGE as PORTAL_PAGE
from chalicelib.http.routes import Call, partner_route
from chalicelib.partners.figures import partner_summary
from chalicelib.partners.report import (
    DEFAULT_LIMIT,
    DEFAULT_ORDER,
    MAX_LIMIT,
    ORDERS,
    ReportQuery,
    report_page,
    rows_to_csv,
)

partner_api = Blueprint(__name__)

REPORT_PARAMS = ("limit", "cursor", "from", "to", "status", "order")


@partner_api.route("/v1/partner/portal", methods=["GET"])
def get_portal() -> Response:
    """The static portal page: the funder's browser asks for the key and calls the routes below."""
    return Response(body=PORTAL_PAGE, status_code=200, headers=dict(PORTAL_HEADERS))


@partner_route(partner_api, "/v1/partner/summary")
def get_summary(call: Call) -> dict[str, Any]:
    return partner_summary(call.conn, call.partner_id).as_dict()


@partner_route(partner_api, "/v1/partner/report", params=REPORT_PARAMS)
def get_report(call: Call) -> Response:
    media = choose(call.headers.get("accept"))
    params = call.params
    from_date, to_date = params.day("from"), params.day("to")
    check_date_range(from_date, to_date)
    page = report_page(call.conn, ReportQuery(
        partner_id=call.partner_id,
        limit=params.integer("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
        after=params.cursor(),
        from_date=from_date,
        to_date=to_date,
        status=params.application_status(),
        order=params.choice("order", ORDERS, default=DEFAULT_ORDER),
    ))
    if media == CSV:
        headers: dict[str, str | list[str]] = {"Content-Type": "text/csv; charset=utf-8"}
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
        return Response(body=rows_to_csv(page.rows), status_code=200, headers=headers)
    return Response(body={"rows": page.rows, "next_cursor": page.next_cursor}, status_code=200)
