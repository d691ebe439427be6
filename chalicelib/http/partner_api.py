"""Partner routes (``x-api-key`` of a partner): GET /v1/partner/summary and /v1/partner/report.

The partner always comes from the key, never from the request: no route takes a partner id.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.http.auth import authenticate, require_scope
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import json_errors
from chalicelib.http.negotiation import CSV, choose
from chalicelib.http.params import QueryParams, check_date_range
from chalicelib.logs import get_logger
from chalicelib.partners.figures import partner_summary
from chalicelib.partners.report import DEFAULT_LIMIT, MAX_LIMIT, ReportQuery, report_page, rows_to_csv

partner_api = Blueprint(__name__)
logger = get_logger("partner_api")

REPORT_PARAMS = ("limit", "cursor", "from", "to", "status")


@partner_api.route("/v1/partner/summary", methods=["GET"])
@json_errors
def get_summary() -> dict[str, Any]:
    request = partner_api.current_request
    with request_connection() as conn:
        principal = require_scope(authenticate(conn, request.headers), "partner")
        QueryParams(request.query_params, ())
        summary = partner_summary(conn, principal.partner_id)
    logger.info("partner summary", extra={"partner_id": principal.partner_id, "api_key_id": principal.api_key_id})
    return summary.as_dict()


@partner_api.route("/v1/partner/report", methods=["GET"])
@json_errors
def get_report() -> Response:
    request = partner_api.current_request
    with request_connection() as conn:
        principal = require_scope(authenticate(conn, request.headers), "partner")
        media = choose(request.headers.get("accept"))
        params = QueryParams(request.query_params, REPORT_PARAMS)
        from_date, to_date = params.day("from"), params.day("to")
        check_date_range(from_date, to_date)
        page = report_page(conn, ReportQuery(
            partner_id=principal.partner_id,
            limit=params.integer("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            after=params.cursor(),
            from_date=from_date,
            to_date=to_date,
            status=params.application_status(),
        ))
    logger.info("partner report page", extra={"partner_id": principal.partner_id, "rows": len(page.rows)})
    if media == CSV:
        headers = {"Content-Type": "text/csv; charset=utf-8"}
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
        return Response(body=rows_to_csv(page.rows), status_code=200, headers=headers)
    return Response(body={"rows": page.rows, "next_cursor": page.next_cursor}, status_code=200)
