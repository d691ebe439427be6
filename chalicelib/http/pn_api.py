"""Messaging-service routes (staff ``x-api-key``): push-notification blast titles and redirect pages."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.http.routes import Call, staff_route
from chalicelib.push_notifications.catalogue import blast_titles, redirect_pages

pn_api = Blueprint(__name__)


@staff_route(pn_api, "/v1/pn/blast-titles")
def get_blast_titles(call: Call) -> dict[str, Any]:
    return {"blast_titles": blast_titles(call.conn)}


@staff_route(pn_api, "/v1/pn/redirect-pages")
def get_redirect_pages(call: Call) -> dict[str, Any]:
    return {"redirect_pages": redirect_pages(call.conn)}
