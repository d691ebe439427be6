"""``chalice local``'s request handler with API Gateway's own answers for requests no function sees.

API Gateway refuses some requests before any Lambda runs; ``chalice local``'s handler (Python's
``http.server``) does something else with them, which a fuzzer or an attacker then finds:
- a verb http.server has no ``do_<VERB>`` for (TRACE, QUERY, ...): an HTML 501 page there, a JSON
  405 here;
- a ``Content-Length`` that is not a number (empty, ``abc``, ``-1``): chalice raises ValueError
  and drops the connection without an answer; a JSON 400 here.
Every local server of the API (the template runtime's API container, the in-process reminder
day, the HTTP tests) serves through this one handler.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, RouteMatcher


class MalformedRequest(ValueError):
    """The request is refused before it reaches the app (API Gateway's own 400)."""


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class GatewayLikeHandler(ChaliceRequestHandler):
    # headers and body go out in separate writes: without TCP_NODELAY every response waits ~40 ms
    # for the client's delayed ACK
    disable_nagle_algorithm = True
    quiet = True  # one access line per provider webhook (five per call) drowns the demo output

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice,
                 config: Config) -> None:
        self._routes = app_object.routes  # set first: the base class handles the request in __init__
        super().__init__(request, client_address, server, app_object=app_object, config=config)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    def _generic_handle(self) -> None:
        try:
            self._before_app()
        except MalformedRequest as refused:
            self._answer(400, _error_body("bad_request", str(refused)))
            self.close_connection = True  # the body's length is unknown: nothing after it can be read
            return
        super()._generic_handle()

    def _before_app(self) -> None:
        """Checks API Gateway makes before the function; subclasses add theirs (resource policy)."""
        values = self.headers.get_all("content-length") or []
        if len(set(values)) > 1 or any(not value.strip().isdigit() for value in values):
            raise MalformedRequest("Content-Length must be one non-negative number")

    # the base class binds its own _generic_handle to each verb
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._refuse_method
        raise AttributeError(name)

    def _refuse_method(self) -> None:
        self._answer(405, _error_body("method_not_allowed", "unsupported method"),
                     {"Allow": ", ".join(sorted(self._allowed_methods()))})
        self.close_connection = True  # its body, if any, was not read

    def _allowed_methods(self) -> list[str]:
        """The route's methods (RFC 9110 §15.5.6: a 405 names them in ``Allow``)."""
        try:
            route = RouteMatcher(list(self._routes)).match_route(self.path).route
        except ValueError:
            return []
        return list(self._routes[route])

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
