"""Staff CRM route (staff ``x-api-key``): GET /v1/crm/applications (``invoice_id`` searches)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.crm.applications import DEFAULT_LIMIT, MAX_LIMIT, CrmQuery, crm_applications
from chalicelib.http.routes import Call, staff_route

crm_api = Blueprint(__name__)


@staff_route(crm_api, "/v1/crm/applications", params=("limit", "cursor", "partner_id", "status", "invoice_id"))
def list_applications(call: Call) -> dict[str, Any]:
    params = call.params
    page = crm_applications(call.conn, CrmQuery(
        limit=params.integer("limit", default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
        before=params.cursor(),
        partner_id=params.integer("partner_id"),
        status=params.application_status(),
        invoice_id=params.text("invoice_id"),
    ))
    return {"rows": page.rows, "next_cursor": page.next_cursor}
