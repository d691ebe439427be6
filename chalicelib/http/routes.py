"""Route decorators: what every partner and staff route does before and after its own lines.

    @partner_route(partner_api, "/v1/partner/summary")
    def get_summary(call: Call) -> dict[str, Any]:
        return partner_summary(call.conn, call.partner_id).as_dict()

    @staff_route(crm_api, "/v1/crm/applications", params=("limit", "cursor"))
    def list_applications(call: Call) -> dict[str, Any]: ...

    @staff_write_route(contact_api, "/v1/crm/contact-preferences", "PUT", params=("phone",))
    def set_preference(call: Call) -> dict[str, Any]: ...   # call.body: the JSON object sent

Each decorator registers ``GET path`` (a write route: its method) on the blueprint and, around the
handler:

- takes a connection for the request (``request_connection``: reused, rolled back afterwards);
- authenticates the ``x-api-key`` and requires the route's scope (401 / 403; an expired key is a
  401 ``key_expired``);
- records the key's last use (at most once a minute per key) and, for a partner key, takes one
  request from the partner's rate shared by every API container (``chalicelib.partners.rate_limit``:
  429 ``rate_limited`` with ``Retry-After``); committed before the read. Staff keys are not limited;
- refuses query parameters the route does not name (400);
- for staff read routes, writes the read to the audit log (key id, route, parameters, time); a write
  route writes its own audit row with the change (key id, time, reason), in the change's transaction;
- for write routes, parses the body: a JSON object (400 otherwise);
- maps errors to the JSON error shape (``json_errors``: ApiError, DomainError, else 500);
- answers with ``Cache-Control: no-store`` (partner figures and borrower data are never cached),
  errors included;
- logs the read with the key id (and the partner for partner routes).

The handler gets a ``Call`` and returns a dict (a JSON 200) or a ``Response``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
from chalice import Blueprint, Response

from chalicelib import settings
from chalicelib.audit import record_staff_read
from chalicelib.http.auth import authenticate, require_scope
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import BadRequest, Forbidden, TooManyRequests, json_errors
from chalicelib.http.params import QueryParams
from chalicelib.logs import get_logger
from chalicelib.partners.keys import Principal, touch_last_used
from chalicelib.partners.rate_limit import RateLimit, take

logger = get_logger("api")

NO_STORE = "no-store"
# (path, method) -> the key scope of every route these decorators registered (infra/api_access.py
# puts staff routes behind the staff networks; a test checks both agree)
ROUTE_SCOPES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Call:
    """One authorised request: its connection, caller, checked query parameters and headers."""

    conn: psycopg2.extensions.connection
    principal: Principal
    params: QueryParams
    headers: Mapping[str, str]
    uri_params: Mapping[str, str] = field(default_factory=dict)  # a path's {name} values
    body: Mapping[str, Any] = field(default_factory=dict)        # a write route's JSON object

    @property
    def partner_id(self) -> int:
        """The calling partner (partner routes only): always from the key, never the request."""
        if self.principal.partner_id is None:
            raise Forbidden("this route needs a partner key")
        return self.principal.partner_id


View = Callable[[Call], "dict[str, Any] | Response"]
Handler = Callable[[], Response]


def partner_route(blueprint: Blueprint, path: str, *, params: Iterable[str] = ()) -> Callable[[View], Handler]:
    """``GET path`` for a partner key."""
    return _route(blueprint, path, scope="partner", params=tuple(params))


def staff_route(blueprint: Blueprint, path: str, *, params: Iterable[str] = ()) -> Callable[[View], Handler]:
    """``GET path`` for a staff key; every read is written to the audit log."""
    return _route(blueprint, path, scope="staff", params=tuple(params))


def _admit(conn: psycopg2.extensions.connection, principal: Principal, path: str) -> None:
    """The key's last use and, for a partner, one request of its rate; committed, then 429 if over it."""
    touch_last_used(conn, principal.api_key_id)
    limit = RateLimit.of(settings.api_settings())
    wait = 0.0 if principal.partner_id is None else take(conn, principal.partner_id, limit)
    conn.commit()
    if wait > 0:
        logger.info("rate limited", extra={"route": path, "api_key_id": principal.api_key_id,
                                           "partner_id": principal.partner_id, "retry_after_s": round(wait, 3)})
        raise TooManyRequests(f"this partner's limit is {limit.per_second:g} requests per second "
                              f"(bursts of {limit.burst}); retry after the Retry-After seconds", retry_after_s=wait)


def staff_write_route(blueprint: Blueprint, path: str, method: str, *,
                      params: Iterable[str] = ()) -> Callable[[View], Handler]:
    """``method path`` (PUT, DELETE) for a staff key: the handler changes data and audits the change."""
    if method not in ("PUT", "DELETE", "POST"):
        raise ValueError(f"not a write method: {method}")
    return _route(blueprint, path, scope="staff", params=tuple(params), method=method)


def _body(raw: bytes | str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("body must be a JSON object", code="invalid_body") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", code="invalid_body")
    return body


def _route(blueprint: Blueprint, path: str, *, scope: str, params: tuple[str, ...],
           method: str = "GET") -> Callable[[View], Handler]:
    def decorate(view: View) -> Handler:
        @json_errors
        @functools.wraps(view)
        def answer(**uri_params: str) -> dict[str, Any] | Response:
            request = blueprint.current_request
            headers: Mapping[str, str] = request.headers or {}
            with request_connection() as conn:
                principal = require_scope(authenticate(conn, headers), scope)
                _admit(conn, principal, path)
                query = QueryParams(request.query_params, params)
                body = _body(request.raw_body) if method != "GET" else {}
                if scope == "staff" and method == "GET":
                    record_staff_read(conn, principal.api_key_id, path, query.raw)
                result = view(Call(conn, principal, query, headers, uri_params, body))
            logger.info("read" if method == "GET" else "write",
                        extra={"route": path, "scope": scope, "method": method, "api_key_id": principal.api_key_id,
                               "partner_id": principal.partner_id})
            return result

        @functools.wraps(view)
        def handler(**uri_params: str) -> Response:
            result = answer(**uri_params)
            response = result if isinstance(result, Response) else Response(body=result, status_code=200)
            response.headers = {**(response.headers or {}), "Cache-Control": NO_STORE}
            return response

        blueprint.route(path, methods=[method])(handler)
        ROUTE_SCOPES[(path, method)] = scope
        return handler

    return decorate
