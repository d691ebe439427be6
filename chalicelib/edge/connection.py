"""One PostgreSQL connection lifetime for every Lambda function and the HTTP API.

    from chalicelib.edge.connection import FUNCTIONS

    with FUNCTIONS.lease() as conn:      # a live connection; rolled back and kept afterwards
        ...

How a connection lives:

- **Lazy**: nothing connects at import time; the first lease opens a connection to
  ``settings.database_url()`` (``DATABASE_URL``, or the secret in ``DATABASE_SECRET_ARN``).
- **Reused**: after the lease the connection goes back to a small idle list; the next lease
  of the same container takes it (a Lambda container runs one invocation at a time, so that
  is one connection per container; ``chalice local`` serves requests on threads, each takes
  its own connection and at most ``max_idle`` are kept).
- **Pinged before reuse**: a reused connection is checked with ``SELECT 1`` when it sat idle
  for ``ping_after_idle_s`` or more (0: before every reuse, one local round trip). A database
  restart closes every server-side session; the ping notices and a fresh connection is opened,
  so the first message or request after a restart does not fail.
- **Rolled back after each lease**: whatever the caller did not commit is rolled back, so a
  failed statement never poisons the next lease.
- **Dropped when broken**: a connection that broke during a lease (``OperationalError`` /
  ``InterfaceError``: server restart, ``statement_timeout``) is closed, never reused.
- **One URL at a time**: a different ``DATABASE_URL`` (tests switch databases) never gets an
  old URL's connection.
- **Rotated credentials**: when the server refuses the login (a rotated password), the database
  secret is read again, once (``settings.reread_database_url``: its current version, else its
  pending one during a rotation), and the connection opened with what it says; a second refusal
  is ``DatabaseUnavailable``. A container re-reads at most once per ``REREAD_MIN_INTERVAL_S``
  (a wrong password must not turn every request into a Secrets Manager call); open sessions
  outlive a password change, so only new connections are concerned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from chalicelib import db, settings
from chalicelib.logs import get_logger

logger = get_logger("edge.db")

BROKEN_CONNECTION_ERRORS: tuple[type[Exception], ...] = (psycopg2.OperationalError, psycopg2.InterfaceError)
REREAD_MIN_INTERVAL_S = 5.0
PING = "SELECT 1"


@dataclass
class _Idle:
    conn: psycopg2.extensions.connection
    dsn: str
    returned_at: float


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (a transient failure: retry later)."""


class ConnectionLifetime:
    """A small pool of reused, pinged, self-healing connections (one per thread in use)."""

    def __init__(
        self,
        application_name: str,
        *,
        max_idle: int = 4,
        ping_after_idle_s: float = 0.0,
        connect_timeout_s: int = 5,
        options: Callable[[], str] | None = None,
        dsn: Callable[[], str] | None = None,
        reread: Callable[[str], str | None] | None = None,
        connect: Callable[..., psycopg2.extensions.connection] | None = None,
    ) -> None:
        self.application_name = application_name
        self.max_idle = max_idle
        self.ping_after_idle_s = ping_after_idle_s
        self.connect_timeout_s = connect_timeout_s
        self._options = options
        self._dsn = dsn or settings.database_url
        self._reread = reread or (settings.reread_database_url if dsn is None else (lambda _refused: None))
        # how a connection is opened: ``db.connect``; a test passes its own (refused during an outage)
        self._connect_to = connect or db.connect
        self._idle: list[_Idle] = []
        self._lock = threading.Lock()
        self._last_reread = -REREAD_MIN_INTERVAL_S
        self.opened = 0  # connections opened so far (tests and logs read it)
        self.rereads = 0  # times the secret was read again after a refused login

    def _connect(self, dsn: str) -> psycopg2.extensions.connection:
        kwargs: dict[str, object] = {"connect_timeout": self.connect_timeout_s,
                                     "application_name": self.application_name}
        if self._options is not None:
            kwargs["options"] = self._options()
        return self._connect_to(dsn, **kwargs)

    def _open(self, dsn: str) -> psycopg2.extensions.connection:
        try:
            conn = self._connect(dsn)
        except psycopg2.OperationalError as exc:
            fresh = self._after_refused_login(dsn) if db.is_authentication_failure(exc) else None
            if fresh is None:
                logger.warning("database unreachable", extra={"error": type(exc).__name__,
                                                             "application_name": self.application_name})
                raise DatabaseUnavailable("database unavailable") from exc
            try:
                conn = self._connect(fresh)
            except psycopg2.OperationalError as again:
                logger.warning("database login refused with the secret read again",
                               extra={"error": type(again).__name__, "application_name": self.application_name})
                raise DatabaseUnavailable("database unavailable") from again
            logger.info("database login refused: connected with the secret read again",
                        extra={"application_name": self.application_name})
        self.opened += 1
        return conn

    def _after_refused_login(self, refused: str) -> str | None:
        """The URL to try once more: another thread's fresh read, else the secret read again (at most
        once per REREAD_MIN_INTERVAL_S)."""
        current = self._dsn()
        if current != refused:
            return current
        with self._lock:
            if time.monotonic() - self._last_reread < REREAD_MIN_INTERVAL_S:
                return None
            self._last_reread = time.monotonic()
            self.rereads += 1
        logger.warning("database login refused: reading the database secret again",
                       extra={"application_name": self.application_name})
        return self._reread(refused)

    def _alive(self, item: _Idle) -> bool:
        if item.conn.closed:
            return False
        if time.monotonic() - item.returned_at < self.ping_after_idle_s:
            return True
        try:  # in autocommit: one round trip, no BEGIN / ROLLBACK around it
            item.conn.autocommit = True
            with item.conn.cursor() as cur:
                cur.execute(PING)
            item.conn.autocommit = False
            return True
        except psycopg2.Error:
            return False

    def checkout(self, dsn: str) -> psycopg2.extensions.connection:
        """A live connection: a pinged idle one, or a new one (DatabaseUnavailable if none can be opened)."""
        while True:
            with self._lock:
                item = self._idle.pop() if self._idle else None
            if item is None:
                return self._open(dsn)
            if item.dsn == dsn and self._alive(item):
                return item.conn
            _close_quietly(item.conn)

    def release(self, conn: psycopg2.extensions.connection, dsn: str) -> None:
        """Roll back and keep ``conn`` for the next lease (or close it when broken or surplus)."""
        if conn.closed:
            return
        try:
            conn.rollback()
        except psycopg2.Error:
            _close_quietly(conn)
            return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(_Idle(conn, dsn, time.monotonic()))
                return
        _close_quietly(conn)

    def discard(self, conn: psycopg2.extensions.connection) -> None:
        _close_quietly(conn)

    @contextmanager
    def lease(self) -> Iterator[psycopg2.extensions.connection]:
        """A live connection for one request or message; rolled back and kept afterwards."""
        dsn = self._dsn()
        conn = self.checkout(dsn)
        try:
            yield conn
        except BROKEN_CONNECTION_ERRORS as exc:
            self.discard(conn)
            logger.warning("database error during lease", extra={"error": type(exc).__name__,
                                                                 "application_name": self.application_name})
            raise
        except BaseException:
            self.release(conn, dsn)
            raise
        else:
            self.release(conn, dsn)

    def close_all(self) -> None:
        """Close every idle connection (tests, or before a process forks)."""
        with self._lock:
            items = list(self._idle)
            self._idle.clear()
        for item in items:
            _close_quietly(item.conn)


def _close_quietly(conn: psycopg2.extensions.connection) -> None:
    try:
        conn.close()
    except psycopg2.Error:
        logger.debug("closing a broken connection failed")


# A connection used less than this long ago is not pinged again: records of one batch follow each
# other within milliseconds, while a database restart keeps the server away for seconds, so a
# connection that outlived a restart has always been idle longer than this and is pinged.
FUNCTIONS_PING_AFTER_IDLE_S = 0.1

# The Lambda functions' lifetime (the HTTP API has its own instance in chalicelib/http/db_conn.py).
FUNCTIONS = ConnectionLifetime("julo-functions", ping_after_idle_s=FUNCTIONS_PING_AFTER_IDLE_S)
