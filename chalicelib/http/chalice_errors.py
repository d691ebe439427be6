"""Chalice's own error answers in our JSON shape.

Chalice answers some requests before any view runs, or outside ``json_errors``: a wrong
method (405 ``MethodNotAllowedError``), an unsupported media type (415), a ``ChaliceViewError``
raised by a view without ``@json_errors``, an unhandled exception (500). Its body is
``{"Code": ..., "Message": ...}``; this ``http`` middleware rewrites any such body into
``{"error": {"code": ..., "message": ...}}`` with the same status (and ``Cache-Control: no-store``,
like every partner and staff answer). (An unknown path never reaches
the app: API Gateway, and ``chalice local`` imitating it, answer 403 "Missing Authentication
Token" themselves.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.http.errors import chalice_error_code

chalice_errors = Blueprint(__name__)


def _reshape(response: Response) -> Response:
    body = response.body
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return response
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return response
    code = chalice_error_code(str(body["Code"]))
    message = str(body["Message"]) if response.status_code < 500 else "internal error"
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    headers["Cache-Control"] = "no-store"
    return Response(
        body=json.dumps({"error": {"code": code, "message": message}}),
        status_code=response.status_code,
        headers=headers,
    )


@chalice_errors.middleware("http")
def json_error_bodies(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = get_response(event)
    if response.status_code >= 400:
        return _reshape(response)
    return response
