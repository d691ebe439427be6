"""Database connections for Chalice routes: reused across requests of one Lambda container.

    from chalicelib.http.db_conn import request_connection

    @bp.route("/v1/things", methods=["GET"])
    @json_errors
    def list_things():
        with request_connection() as conn:
            principal = authenticate(conn, bp.current_request.headers)
            ...                    # read; a route that writes calls conn.commit() itself

How it behaves:

- **Lazy**: nothing connects at import time; the first request opens a connection to
  ``settings.database_url()`` (``DATABASE_URL``, or the secret in ``DATABASE_SECRET_ARN``).
- **Reused**: after the request the connection goes back to a small idle list and the next
  request of the same container takes it (a Lambda container serves one request at a time,
  so that is one connection per container; ``chalice local`` serves requests on threads,
  each takes its own connection and at most ``MAX_IDLE`` are kept).
- **Rolled back after each request**: whatever the route did not commit is rolled back, so
  no request sees another's open transaction and a failed statement never poisons the next
  request.
The lifetime itself (pool, ping, reconnect, rollback) is ``chalicelib.edge.connection``, shared
with every Lambda function; this module only maps its failures to HTTP answers:

- **Reconnects on failure**: a reused connection is checked with a ``SELECT 1`` when it has sat
  idle for ``PING_AFTER_IDLE_S`` or more (0: before every reuse, one local round trip); one that
  is closed, fails the check, or broke during a request (``OperationalError`` /
  ``InterfaceError``) is dropped and a fresh one is opened. If the database cannot be
  reached at all the route answers 503 (``ServiceUnavailable``), never a stack trace.
- **Bounded**: every statement runs under ``statement_timeout`` (``API_STATEMENT_TIMEOUT_MS``,
  default 15000 ms), so a runaway query ends as a 503 instead of holding the Lambda.
- A different ``DATABASE_URL`` (tests switch databases) never gets an old URL's connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.extensions

from chalicelib import settings
from chalicelib.edge.connection import BROKEN_CONNECTION_ERRORS, ConnectionLifetime, DatabaseUnavailable
from chalicelib.http.errors import ServiceUnavailable

MAX_IDLE = 4
PING_AFTER_IDLE_S = 0.0
CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "julo-api"


def _options() -> str:
    return f"-c statement_timeout={settings.api_settings().statement_timeout_ms}"


API = ConnectionLifetime(APPLICATION_NAME, max_idle=MAX_IDLE, ping_after_idle_s=PING_AFTER_IDLE_S,
                         connect_timeout_s=CONNECT_TIMEOUT_S, options=_options)


@contextmanager
def request_connection() -> Iterator[psycopg2.extensions.connection]:
    """A live connection for one request; rolled back and kept for the next one afterwards."""
    try:
        with API.lease() as conn:
            yield conn
    except DatabaseUnavailable as exc:
        raise ServiceUnavailable("database unavailable") from exc
    except BROKEN_CONNECTION_ERRORS as exc:
        # broken connection, server restart, or statement_timeout: the lease dropped it
        raise ServiceUnavailable("database unavailable") from exc


def close_all() -> None:
    """Close every idle connection (tests, or before a process forks)."""
    API.close_all()
