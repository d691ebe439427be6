"""Every error is JSON {"error": {"code", "message"}} with the right 4xx: auth, scopes,
malformed parameters, methods, media types; never a stack trace or SQL."""

from __future__ import annotations

import json

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib.http.chalice_errors import chalice_errors
from chalicelib.http.errors import json_errors
from chalicelib.partners.keys import revoke_key
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_loan, make_partner

PARTNER_ROUTES = ("/v1/partner/summary", "/v1/partner/report")
STAFF_ROUTES = ("/v1/crm/applications", "/v1/pn/blast-titles", "/v1/pn/redirect-pages")


@pytest.fixture
def keys(conn):
    make_partner(conn, 2, "Lendana P2P")
    make_loan(conn, partner_id=2)
    conn.commit()
    return {"partner": partner_key(conn, 2), "staff": staff_key(conn)}


def _assert_error(status, body, expected_status, code=None):
    assert status == expected_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    text = json.dumps(body)
    assert "Traceback" not in text and "SELECT" not in text and "psycopg2" not in text
    if code:
        assert body["error"]["code"] == code


@pytest.mark.parametrize("path", PARTNER_ROUTES + STAFF_ROUTES)
@pytest.mark.parametrize("header", [None, "", "jk_not-a-real-key-but-well-formed", "short", "x" * 500,
                                    "jk_" + "\u00e9" * 12, "jk_a\x00bcdefghijkl"])
def test_missing_or_invalid_key_is_401(keys, path, header):
    with api_client() as client:
        status, body, _ = get(client, path, header)
    _assert_error(status, body, 401, "unauthorized")


def test_wrong_scope_is_403(keys):
    with api_client() as client:
        for path in STAFF_ROUTES:
            _assert_error(*get(client, path, keys["partner"])[:2], 403, "forbidden")
        for path in PARTNER_ROUTES:
            _assert_error(*get(client, path, keys["staff"])[:2], 403, "forbidden")


def test_revoked_key_is_401(conn, keys):
    with api_client() as client:
        assert get(client, "/v1/partner/summary", keys["partner"])[0] == 200
        assert revoke_key(conn, keys["partner"][:11], actor="tests") == 1
        _assert_error(*get(client, "/v1/partner/summary", keys["partner"])[:2], 401)


@pytest.mark.parametrize("query", [
    "limit=0", "limit=501", "limit=abc", "limit=-5", "limit=", "limit=1.5", "limit=%D9%A1",
    "from=2026-13-01", "from=yesterday", "to=2026-02-30", "from=2026-11-02&to=2026-11-01", "from=20261101",
    "status=999", "status=abc", "cursor=not-a-cursor", "cursor=%00", "cursor=eyJjIjoxfQ", "colour=blue",
])
def test_malformed_report_parameters_are_400(keys, query):
    with api_client() as client:
        status, body, _ = get(client, f"/v1/partner/report?{query}", keys["partner"])
    _assert_error(status, body, 400)


@pytest.mark.parametrize("query", ["partner_id=x", "partner_id=0", "status=1", "limit=9999", "cursor=%%%"])
def test_malformed_crm_parameters_are_400(keys, query):
    with api_client() as client:
        status, body, _ = get(client, f"/v1/crm/applications?{query}", keys["staff"])
    _assert_error(status, body, 400)


def test_unacceptable_media_type_is_406(keys):
    with api_client() as client:
        status, body, _ = get(client, "/v1/partner/report", keys["partner"], accept="image/png")
    _assert_error(status, body, 406, "not_acceptable")


def test_wrong_method_is_a_json_405(keys):
    with api_client() as client:
        response = client.http.post("/v1/partner/summary", headers={"x-api-key": keys["partner"]}, body=b"{}")
    _assert_error(response.status_code, json.loads(response.body), 405, "method_not_allowed")


def test_push_notification_catalogue_comes_from_its_tables(conn, keys):
    with api_client() as client:
        status, body, _ = get(client, "/v1/pn/blast-titles", keys["staff"])
        assert status == 200
        titles = [t["title"] for t in body["blast_titles"]]
        assert {"julo info", "julo reminder"} <= set(titles)
        status, pages, _ = get(client, "/v1/pn/redirect-pages", keys["staff"])
        assert status == 200 and {"home", "payment_detail"} <= {p["page"] for p in pages["redirect_pages"]}
        with conn.cursor() as cur:
            cur.execute("INSERT INTO pn_blast_title (title, description, sort_order) VALUES ('julo test', 't', 1)")
            cur.execute("UPDATE pn_redirect_page SET is_active = FALSE WHERE page = 'promo'")
        conn.commit()
        try:
            _, body, _ = get(client, "/v1/pn/blast-titles", keys["staff"])
            _, pages, _ = get(client, "/v1/pn/redirect-pages", keys["staff"])
        finally:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM pn_blast_title WHERE title = 'julo test'")
                cur.execute("UPDATE pn_redirect_page SET is_active = TRUE WHERE page = 'promo'")
            conn.commit()
    assert body["blast_titles"][0]["title"] == "julo test"
    assert "promo" not in {p["page"] for p in pages["redirect_pages"]}


def _probe_app() -> Chalice:
    """A tiny app with the same error plumbing, for Chalice's own errors."""
    probe = Chalice(app_name="probe")
    probe.register_blueprint(chalice_errors)

    @probe.route("/echo", methods=["POST"])
    @json_errors
    def echo():
        return {"got": probe.current_request.json_body}

    @probe.route("/boom", methods=["GET"])
    def boom():
        raise RuntimeError("SELECT secret FROM somewhere")

    return probe


def test_bad_json_body_and_unhandled_errors_come_out_as_json():
    with Client(_probe_app()) as client:
        bad = client.http.post("/echo", headers={"content-type": "application/json"}, body=b"{not json")
        boom = client.http.get("/boom")
        ok = client.http.post("/echo", headers={"content-type": "application/json"}, body=b'{"a": 1}')
    _assert_error(bad.status_code, json.loads(bad.body), 400, "bad_request")
    _assert_error(boom.status_code, json.loads(boom.body), 500, "internal_server")
    assert "secret" not in boom.body.decode()
    assert json.loads(ok.body) == {"got": {"a": 1}}
