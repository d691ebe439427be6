"""Health checks.

- ``GET /health`` (open, the compose healthcheck and load balancers call it): the API process is up
  and answers. It touches no database: an unauthenticated caller must not be able to open
  PostgreSQL sessions (50 calls used to open 50).
- ``GET /health/deep`` (staff ``x-api-key``): the same, plus one ``SELECT 1`` on the request's
  pooled connection (the one every route reuses, never a new session), so staff can tell "the API
  runs" from "the API reaches its database". A database that cannot be reached is a JSON 503.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http.errors import BadRequest, json_errors
from chalicelib.http.routes import Call, staff_route

health = Blueprint(__name__)


@health.route("/health", methods=["GET"])
@json_errors
def get_health() -> dict[str, Any]:
    if health.current_request.query_params:
        raise BadRequest("GET /health takes no parameters (the database check is GET /health/deep, staff only)")
    return {"status": "ok"}


@staff_route(health, "/health/deep")
def get_deep_health(call: Call) -> dict[str, Any]:
    with call.conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {"status": "ok", "database": "ok"}
