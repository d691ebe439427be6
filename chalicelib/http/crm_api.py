"""Staff CRM route (staff ``x-api-key``): GET /v1/crm/applications."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http.auth import authenticate, require_scope
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import json_errors
from chalicelib.http.params import QueryParams
from chalicelib.partners.crm import DEFAULT_LIMIT, MAX_LIMIT, CrmQuery, crm_applications

crm_api = Blueprint(__name__)


@crm_api.route("/v1/crm/applications", methods=["GET"])
@json_errors
def list_applications() -> dict[str, Any]:
    request = crm_api.current_request
    with request_connection() as conn:
        require_scope(authenticate(conn, request.headers), "staff")
        params = QueryParams(request.query_params, ("limit", "cursor", "partner_id", "status"))
        page = crm_applications(conn, CrmQuery(
            limit=params.integer("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            before=params.cursor(),
            partner_id=params.integer("partner_id"),
            status=params.application_status(),
        ))
    return {"rows": page.rows, "next_cursor": page.next_cursor}
