"""Messaging-service routes (staff ``x-api-key``): push-notification blast titles and redirect pages."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http.auth import authenticate, require_scope
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import json_errors
from chalicelib.http.params import QueryParams
from chalicelib.partners.notifications import blast_titles, redirect_pages

pn_api = Blueprint(__name__)


@pn_api.route("/v1/pn/blast-titles", methods=["GET"])
@json_errors
def get_blast_titles() -> dict[str, Any]:
    request = pn_api.current_request
    with request_connection() as conn:
        require_scope(authenticate(conn, request.headers), "staff")
        QueryParams(request.query_params, ())
        return {"blast_titles": blast_titles(conn)}


@pn_api.route("/v1/pn/redirect-pages", methods=["GET"])
@json_errors
def get_redirect_pages() -> dict[str, Any]:
    request = pn_api.current_request
    with request_connection() as conn:
        require_scope(authenticate(conn, request.headers), "staff")
        QueryParams(request.query_params, ())
        return {"redirect_pages": redirect_pages(conn)}
