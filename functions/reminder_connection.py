"""The per-container PostgreSQL connection shared by the reminder handlers."""

from __future__ import annotations

import psycopg2.extensions

from chalicelib import config, db

_conn: dict[str, psycopg2.extensions.connection] = {}


def connection() -> psycopg2.extensions.connection:
    dsn = config.database_url()
    conn = _conn.get(dsn)
    if conn is None or conn.closed:
        for old in _conn.values():
            if not old.closed:
                old.close()
        _conn.clear()
        conn = _conn[dsn] = db.connect(dsn)
    return conn
