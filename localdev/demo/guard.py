"""``make demo`` runs only against this project's own local demo database, checked before connecting.

    python -m localdev.demo.guard      # exit 0: go ahead; exit 2: refused, with the reason

The demo truncates and reloads every lending table of its database
(``localdev/datagen/lending.py``). With a ``DATABASE_URL`` exported for some other server — a
staging or production one left in the shell — it would wipe that database. So ``DATABASE_URL``,
when set, must name the project's local server and demo database: a loopback host
(``127.0.0.1``, ``localhost``, ``::1``), the port ``LOCAL_PG_PORT`` (default 15432) and the
database ``LOCAL_PG_DB`` (default ``julo``). Any other database is refused unless
``DEMO_ALLOW_DATABASE`` is set to exactly its name: a deliberate, per-database opt-in.

The URL (or ``key=value`` string) is parsed by libpq's own parser without connecting;
parameters that can redirect the connection elsewhere (``hostaddr``, ``service``) count as
another server.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import psycopg2
import psycopg2.extensions

from localdev.servers import postgres

ALLOW_ENV = "DEMO_ALLOW_DATABASE"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class DemoDatabaseRefused(SystemExit):
    """The demo will not touch this database (the message says why and how to allow it)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def demo_database(env: Mapping[str, str]) -> str:
    return env.get("LOCAL_PG_DB") or postgres.DEFAULT_DB


def _where(parts: Mapping[str, str]) -> str:
    """host:port/dbname of a parsed connection string (never the user or password)."""
    return f"{parts.get('host') or '(default host)'}:{parts.get('port') or 5432}/{parts.get('dbname') or '(default)'}"


def refusal(env: Mapping[str, str] | None = None) -> str | None:
    """Why the demo must not run against ``env``'s DATABASE_URL; None when it may."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "")
    if not url:
        return None  # the demo starts and uses the project's own server
    own = demo_database(env)
    local = f"127.0.0.1:{postgres.port()}/{own}"
    try:
        parts = psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError:
        return (f"make demo refuses DATABASE_URL: it is not a PostgreSQL connection string. Unset it (the demo "
                f"then uses its own local server, {local}).")
    dbname = parts.get("dbname") or ""
    port = parts.get("port") or "5432"
    is_own = (parts.get("host") in LOOPBACK and parts.get("hostaddr", "127.0.0.1") in LOOPBACK
              and "service" not in parts and port.isdigit() and int(port) == postgres.port() and dbname == own)
    if is_own or (dbname and env.get(ALLOW_ENV) == dbname):
        return None
    return (f"make demo refuses DATABASE_URL ({_where(parts)}): the demo truncates and reloads every lending "
            f"table of its database, so it runs only against this project's local demo database ({local}; "
            f"LOCAL_PG_PORT, LOCAL_PG_DB). Unset DATABASE_URL to use it, or, if {dbname or 'that database'} "
            f"really is a scratch database, set {ALLOW_ENV}={dbname or '<its name>'}.")


def check(env: Mapping[str, str] | None = None) -> None:
    """Raise ``DemoDatabaseRefused`` (exit status 2) unless the demo may use the database."""
    reason = refusal(env)
    if reason is not None:
        raise DemoDatabaseRefused(reason)


def main() -> int:
    try:
        check()
    except DemoDatabaseRefused as exc:
        print(exc.message, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
