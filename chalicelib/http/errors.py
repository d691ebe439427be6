"""One JSON error shape for every route: ``{"error": {"code": "...", "message": "..."}}``.

Routes raise ``ApiError`` (or a subclass); the domain raises its own ``DomainError`` (it never
imports this module). ``json_errors`` turns both into the response (``DOMAIN_STATUS`` maps each
domain error to its status), and anything unexpected into a 500 with no stack trace or SQL in it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

from chalice import ChaliceViewError, Response

from chalicelib.errors import DomainError, InvalidInput
from chalicelib.logs import get_logger

logger = get_logger("http")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class TooManyRequests(ApiError):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))})


class NotAcceptable(ApiError):
    status, code = 406, "not_acceptable"


class Conflict(ApiError):
    status, code = 409, "conflict"


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"


# domain error → HTTP status (the most specific class listed wins; unlisted ones are a 400)
DOMAIN_STATUS: dict[type[DomainError], int] = {InvalidInput: 400}


def domain_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps({"error": {"code": code, "message": message}}),
        status_code=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def chalice_error_code(name: str) -> str:
    """``BadRequestError`` → ``bad_request`` (Chalice's error class names as our codes)."""
    name = name.removesuffix("Error") or name
    return "".join(("_" + c.lower()) if c.isupper() else c for c in name).lstrip("_")


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for Chalice views: ApiError / DomainError → its status; anything else → a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except DomainError as exc:
            return error_response(domain_status(exc), exc.code, exc.message)
        except ChaliceViewError as exc:  # e.g. BadRequestError from a malformed JSON body
            return error_response(exc.STATUS_CODE, chalice_error_code(type(exc).__name__), str(exc))
        except Exception:
            logger.exception("unhandled error in %s", view.__name__)
            return error_response(500, "internal_error", "internal error")

    return wrapper
