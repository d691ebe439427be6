"""chalicelib.http.db_conn: one connection reused across requests, rolled back after each,
replaced when the server drops it, and a JSON 503 when the database cannot be reached."""

from __future__ import annotations

import pytest

from chalicelib.http import db_conn
from chalicelib.http.db_conn import request_connection
from chalicelib.http.errors import ServiceUnavailable
from tests.api_support import api_client, get, staff_key


@pytest.fixture(autouse=True)
def _fresh_pool():
    db_conn.close_all()
    yield
    db_conn.close_all()


def _backend_pid(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def test_the_connection_is_reused_and_rolled_back_between_requests(conn):
    with request_connection() as first:
        pid = _backend_pid(first)
        with first.cursor() as cur:
            cur.execute("INSERT INTO partner (partner_id, name) VALUES (77, 'never committed')")
    with request_connection() as second:
        assert _backend_pid(second) == pid
        with second.cursor() as cur:
            cur.execute("SELECT count(*) FROM partner WHERE partner_id = 77")
            assert cur.fetchone()[0] == 0


def test_a_failed_statement_does_not_poison_the_next_request(conn):
    with pytest.raises(Exception, match="division by zero"), request_connection() as c:
        with c.cursor() as cur:
            cur.execute("SELECT 1 / 0")
    with request_connection() as c, c.cursor() as cur:
        cur.execute("SELECT 42")
        assert cur.fetchone()[0] == 42


def test_a_connection_killed_by_the_server_is_replaced(conn):
    with request_connection() as c:
        pid = _backend_pid(c)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    conn.commit()
    key = staff_key(conn)
    with api_client() as client:
        status, body, _ = get(client, "/v1/pn/blast-titles", key)
    assert status == 200 and body["blast_titles"]
    with request_connection() as c:
        assert _backend_pid(c) != pid


def test_unreachable_database_is_a_json_503(conn, monkeypatch):
    key = staff_key(conn)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(ServiceUnavailable), request_connection():
        pass
    with api_client() as client:
        for path in ("/v1/pn/blast-titles", "/v1/partner/summary", "/health/deep"):
            status, body, _ = get(client, path, key)
            assert status == 503, path
            assert body["error"]["code"] == "unavailable"


def test_statement_timeout_is_a_503_and_the_connection_is_dropped(conn, monkeypatch):
    monkeypatch.setenv("API_STATEMENT_TIMEOUT_MS", "50")
    with pytest.raises(ServiceUnavailable), request_connection() as c:
        pid = _backend_pid(c)
        with c.cursor() as cur:
            cur.execute("SELECT pg_sleep(2)")
    with request_connection() as c:
        assert _backend_pid(c) != pid
