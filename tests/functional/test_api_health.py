"""GET /health touches no database (an unauthenticated caller cannot open PostgreSQL sessions);
GET /health/deep checks the database for a staff key only, on the pooled request connection."""

from __future__ import annotations

import psycopg2

from chalicelib.http import db_conn
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_partner

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"


def _server_now(conn: psycopg2.extensions.connection):
    with conn.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        (now,) = cur.fetchone()
    conn.rollback()
    return now


def _sessions_opened_since(conn: psycopg2.extensions.connection, since) -> int:
    """Backends connected to the test database that started at or after ``since``
    (a session left over by an earlier test may end meanwhile: only new ones count)."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_start >= %s", (since,))
        (n,) = cur.fetchone()
    conn.rollback()
    return int(n)


def test_fifty_health_calls_open_no_database_session(conn):
    db_conn.close_all()
    started = _server_now(conn)
    with api_client() as client:
        answers = [get(client, "/health") for _ in range(50)]
    assert {(status, body["status"]) for status, body, _h in answers} == {(200, "ok")}
    assert "database" not in answers[0][1]
    assert _sessions_opened_since(conn, started) == 0


def test_health_answers_with_the_database_unreachable(pg_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    db_conn.close_all()
    with api_client() as client:
        status, body, _h = get(client, "/health")
    assert (status, body) == (200, {"status": "ok"})


def test_health_takes_no_parameters_and_points_to_the_deep_check(pg_url):
    with api_client() as client:
        status, body, _h = get(client, "/health?deep=1")
    assert status == 400 and "/health/deep" in body["error"]["message"]


def test_deep_health_needs_a_staff_key(conn):
    partner = partner_key(conn, make_partner(conn, 1, "Lendana P2P"))
    with api_client() as client:
        assert get(client, "/health/deep")[0] == 401
        assert get(client, "/health/deep", "not-a-key")[0] == 401
        assert get(client, "/health/deep", partner)[0] == 403


def test_deep_health_checks_the_database_on_the_pooled_connection(conn):
    staff = staff_key(conn)
    db_conn.close_all()
    started = _server_now(conn)
    with api_client() as client:
        answers = [get(client, "/health/deep", staff) for _ in range(10)]
        assert {(status, body.get("database")) for status, body, _h in answers} == {(200, "ok")}
        assert answers[0][2]["cache-control"] == "no-store"
        # ten checks, one pooled session (the in-process client serves requests on one thread)
        assert _sessions_opened_since(conn, started) <= 1


def test_deep_health_is_a_json_503_when_the_database_is_unreachable(conn, monkeypatch):
    staff = staff_key(conn)
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    db_conn.close_all()
    with api_client() as client:
        status, body, _h = get(client, "/health/deep", staff)
    assert status == 503 and body["error"]["code"] == "unavailable"
