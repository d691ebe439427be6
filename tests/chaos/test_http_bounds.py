"""HTTP inputs at every bound: each query parameter of every route, just inside and just outside
its bounds, and far outside them (a 5,000-digit integer, a 5,000-deep nested cursor, the last
representable date). The API must never answer 5xx; outside the bounds the answer is a JSON 400."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import psycopg2.extensions
import pytest
from chalice.test import Client

from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_loan, make_partner


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


DEEP = 5_000
CURSORS_OUT = [
    _b64("[" * DEEP + "]" * DEEP),                                   # 5,000-deep nested array
    _b64('{"c":' * DEEP + "1" + "}" * DEEP),                           # 5,000-deep nested object
    _b64(json.dumps({"c": "2026-01-01T00:00:00+00:00", "i": 2**63})),  # id past int8
    _b64(json.dumps({"c": "2026-01-01T00:00:00+00:00", "i": 1, "pad": "x" * 5_000})),  # oversize
    "A" * 100_000,                                                     # 100 kB of base64
    _b64(json.dumps({"c": "9999-12-31T23:59:59+14:00", "i": 1})),
    _b64(json.dumps({"c": "0001-01-01T00:00:00-14:00", "i": 1})),
    "%%%", "\u00e9\u00e9\u00e9\u00e9", "%00", "A%00",
]
INTEGERS_OUT = ["0", "-1", "501", str(2**31), str(2**63), "9" * 5_000, "1" * 20, "1e3", "0x10", "\u0661"]
DATES_IN = ["2000-01-01", "2100-12-31"]
DATES_OUT = ["1999-12-31", "2101-01-01", "9999-12-31", "0001-01-01", "2026-02-30", "2026-1-1", "9" * 5_000]

PARTNER_ROUTES = {
    "/v1/partner/report": {"limit": INTEGERS_OUT, "status": INTEGERS_OUT, "cursor": CURSORS_OUT,
                           "from": DATES_OUT, "to": DATES_OUT, "order": ["x" * 5_000, "NEWEST", "%00", "newest%00"]},
    "/v1/partner/summary": {},
}
STAFF_ROUTES = {
    "/v1/crm/applications": {"limit": INTEGERS_OUT, "status": INTEGERS_OUT,
                             "partner_id": [v for v in INTEGERS_OUT if v != "501"],
                             "cursor": CURSORS_OUT, "invoice_id": ["x" * 5_000, "%00", "INV%0A1"]},
    "/v1/pn/blast-titles": {},
    "/v1/pn/redirect-pages": {},
    "/v1/analytics/rfm": {"limit": INTEGERS_OUT, "offset": ["-1", "9" * 5_000, str(2**63)],
                          "segment": ["x" * 5_000, "%00"]},
    "/v1/analytics/cohorts": {},
}


@pytest.fixture
def keys(conn: psycopg2.extensions.connection) -> dict[str, str]:
    make_partner(conn, 2, "Lendana P2P")
    make_loan(conn, partner_id=2)
    conn.commit()
    return {"partner": partner_key(conn, 2), "staff": staff_key(conn)}


@pytest.fixture
def client() -> Iterator[Client]:
    with api_client() as c:
        yield c


def _assert_json_400(status: int, body: Any, what: str) -> None:
    assert status < 500, f"{what}: {status} {str(body)[:200]}"
    assert status == 400, f"{what}: {status} {str(body)[:200]}"
    assert isinstance(body, dict) and body["error"]["code"] and body["error"]["message"], what


def _cases(routes: dict[str, dict[str, list[str]]]) -> Iterator[tuple[str, str, str]]:
    for path, params in routes.items():
        for name, values in params.items():
            for value in values:
                yield path, name, value
        yield path, "unknown", "1"
        yield path, "x" * 5_000, "1"


@pytest.mark.chaos(scenario="HTTP inputs at every bound", invariant="no 5xx from the API on any input")
def test_every_input_outside_the_bounds_is_a_json_400(keys: dict[str, str], client: Client) -> None:
    failures = []
    for scope, routes in (("partner", PARTNER_ROUTES), ("staff", STAFF_ROUTES)):
        for path, name, value in _cases(routes):
            status, body, _ = get(client, f"{path}?{name}={value}", keys[scope])
            try:
                _assert_json_400(status, body, f"{path} {name}={value[:40]}")
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures[:20])


@pytest.mark.chaos(scenario="HTTP inputs at every bound (just inside)",
                   invariant="inputs at the bounds are answered, not refused")
def test_inputs_at_the_bounds_are_answered(keys: dict[str, str], client: Client) -> None:
    for day in DATES_IN:
        status, body, _ = get(client, f"/v1/partner/report?from={day}&to={day}", keys["partner"])
        assert status == 200, (day, body)
    status, body, _ = get(client, "/v1/partner/report?from=2000-01-01&to=2100-12-31&limit=500", keys["partner"])
    assert status == 200 and len(body["rows"]) == 1, body
    for limit in ("1", "500"):
        assert get(client, f"/v1/crm/applications?limit={limit}", keys["staff"])[0] == 200
