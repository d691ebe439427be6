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
  ``config.database_url()`` (``DATABASE_URL``, or the secret in ``DATABASE_SECRET_ARN``).
- **Reused**: after the request the connection goes back to a small idle list and the next
  request of the same container takes it (a Lambda container serves one request at a time,
  so that is one connection per container; ``chalice local`` serves requests on threads,
  each takes its own connection and at most ``MAX_IDLE`` are kept).
- **Rolled back after each request**: whatever the route did not commit is rolled back, so
  no request sees another's open transaction and a failed statement never poisons the next
  request.
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

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from chalicelib import config, db
from chalicelib.http.errors import ServiceUnavailable
from chalicelib.logs import get_logger

logger = get_logger("http.db")

MAX_IDLE = 4
PING_AFTER_IDLE_S = 0.0
CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "julo-api"


@dataclass
class _Pooled:
    conn: psycopg2.extensions.connection
    dsn: str
    returned_at: float


_idle: list[_Pooled] = []
_lock = threading.Lock()


def _statement_timeout_ms() -> int:
    return config.env_int("API_STATEMENT_TIMEOUT_MS", 15_000)


def _open(dsn: str) -> psycopg2.extensions.connection:
    try:
        return db.connect(
            dsn,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
            options=f"-c statement_timeout={_statement_timeout_ms()}",
        )
    except psycopg2.OperationalError as exc:
        logger.warning("database unreachable", extra={"error": type(exc).__name__})
        raise ServiceUnavailable("database unavailable") from exc


def _alive(item: _Pooled) -> bool:
    if item.conn.closed:
        return False
    if time.monotonic() - item.returned_at < PING_AFTER_IDLE_S:
        return True
    try:
        with item.conn.cursor() as cur:
            cur.execute("SELECT 1")
        item.conn.rollback()
        return True
    except psycopg2.Error:
        return False


def _checkout(dsn: str) -> psycopg2.extensions.connection:
    while True:
        with _lock:
            item = _idle.pop() if _idle else None
        if item is None:
            return _open(dsn)
        if item.dsn == dsn and _alive(item):
            return item.conn
        _close_quietly(item.conn)


def _release(conn: psycopg2.extensions.connection, dsn: str) -> None:
    if conn.closed:
        return
    try:
        conn.rollback()
    except psycopg2.Error:
        _close_quietly(conn)
        return
    with _lock:
        if len(_idle) < MAX_IDLE:
            _idle.append(_Pooled(conn, dsn, time.monotonic()))
            return
    _close_quietly(conn)


def _close_quietly(conn: psycopg2.extensions.connection) -> None:
    try:
        conn.close()
    except psycopg2.Error:
        logger.debug("closing a broken connection failed")


@contextmanager
def request_connection() -> Iterator[psycopg2.extensions.connection]:
    """A live connection for one request; rolled back and kept for the next one afterwards."""
    dsn = config.database_url()
    conn = _checkout(dsn)
    try:
        yield conn
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        # broken connection, server restart, or statement_timeout: never reuse it
        _close_quietly(conn)
        logger.warning("database error during request", extra={"error": type(exc).__name__})
        raise ServiceUnavailable("database unavailable") from exc
    except BaseException:
        _release(conn, dsn)
        raise
    else:
        _release(conn, dsn)


def close_all() -> None:
    """Close every idle connection (tests, or before a process forks)."""
    with _lock:
        items = list(_idle)
        _idle.clear()
    for item in items:
        _close_quietly(item.conn)
