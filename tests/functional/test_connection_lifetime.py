"""One connection lifetime for functions and the API: reused, pinged, replaced after a restart."""

from __future__ import annotations

import psycopg2.extensions

from chalicelib.edge.connection import ConnectionLifetime


def _pid(conn: psycopg2.extensions.connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def test_a_connection_killed_by_a_restart_is_replaced_before_it_is_used(conn: psycopg2.extensions.connection) -> None:
    lifetime = ConnectionLifetime("test-lifetime")
    with lifetime.lease() as first:
        pid = _pid(first)
    with lifetime.lease() as again:
        assert _pid(again) == pid  # reused
    with conn.cursor() as cur:  # what a database restart does to every client session
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    conn.commit()
    with lifetime.lease() as after:
        assert _pid(after) != pid  # the ping found it dead; the caller never saw an error
    assert lifetime.opened == 2
    lifetime.close_all()
