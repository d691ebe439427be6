"""GET /health: the API process is up and reaches its database (the compose healthcheck calls it)."""

from __future__ import annotations

from typing import Any

import psycopg2
from chalice import Blueprint

from chalicelib import db
from chalicelib.http.errors import ServiceUnavailable, json_errors

health = Blueprint(__name__)


@health.route("/health", methods=["GET"])
@json_errors
def get_health() -> dict[str, Any]:
    try:
        conn = db.connect(connect_timeout=3)
    except psycopg2.OperationalError as exc:
        raise ServiceUnavailable("database unreachable") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()
    return {"status": "ok", "database": "ok"}
