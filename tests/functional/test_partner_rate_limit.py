"""A request rate per partner held across API containers: 429 + Retry-After over it, the other
partners and staff untouched, a partner's keys sharing one bucket, the state shared by processes,
and no request admitted twice under concurrency.

Counts, not timings: the tests use a rate so slow (one request per 100 s) that how fast this
machine sends requests cannot change which ones are admitted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from chalicelib.partners.rate_limit import RateLimit, take
from chalicelib.settings import ApiSettings
from tests.api_support import api_client, get, partner_key, staff_key
from tests.factories import make_partner

SLOW = {"PARTNER_RATE_LIMIT_PER_SECOND": "0.01", "PARTNER_RATE_LIMIT_BURST": "5"}


@pytest.fixture
def slow_limit(monkeypatch: pytest.MonkeyPatch) -> RateLimit:
    for name, value in SLOW.items():
        monkeypatch.setenv(name, value)
    return RateLimit.of(ApiSettings.from_environment(complete=False))


@pytest.fixture
def partners(conn) -> dict[str, str]:
    make_partner(conn, 2, "Lendana P2P")
    make_partner(conn, 3, "Mitra Dana Sejahtera")
    conn.commit()
    return {"a": partner_key(conn, 2), "a2": partner_key(conn, 2), "b": partner_key(conn, 3),
            "staff": staff_key(conn)}


def test_the_defaults_are_ten_per_second_with_bursts_of_twenty(monkeypatch):
    monkeypatch.delenv("PARTNER_RATE_LIMIT_PER_SECOND", raising=False)
    monkeypatch.delenv("PARTNER_RATE_LIMIT_BURST", raising=False)
    assert RateLimit.of(ApiSettings()) == RateLimit(10.0, 20)
    secrets = {"VONAGE_SIGNATURE_SECRET": "s", "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "s",
               "CALLBACK_REFERENCE_KEY": "k" * 32}
    settings = ApiSettings.load({"DATABASE_URL": "postgresql://x/y", **secrets})
    assert (settings.partner_rate_per_second, settings.partner_rate_burst) == (10.0, 20)


def test_over_its_rate_a_partner_gets_429_with_retry_after(partners, slow_limit):
    with api_client() as client:
        answers = [get(client, "/v1/partner/summary", partners["a"]) for _ in range(8)]
    assert [status for status, _, _ in answers] == [200] * 5 + [429] * 3
    _, body, headers = answers[-1]
    assert body["error"]["code"] == "rate_limited" and "0.01 requests per second" in body["error"]["message"]
    assert 99 <= int(headers["retry-after"]) <= 100  # the next request is due in 100 s
    assert headers["cache-control"] == "no-store" and headers["content-type"] == "application/json"


def test_other_partners_and_staff_are_served_while_one_is_limited(partners, slow_limit):
    with api_client() as client:
        for _ in range(7):
            get(client, "/v1/partner/report?limit=1", partners["a"])
        assert get(client, "/v1/partner/summary", partners["a"])[0] == 429
        assert [get(client, "/v1/partner/summary", partners["b"])[0] for _ in range(5)] == [200] * 5
        assert [get(client, "/v1/crm/applications?limit=1", partners["staff"])[0] for _ in range(12)] == [200] * 12


def test_a_partners_keys_share_one_bucket(partners, slow_limit):
    """Two live keys during a rotation do not double the partner's rate."""
    with api_client() as client:
        statuses = [get(client, "/v1/partner/summary", partners["a" if i % 2 else "a2"])[0] for i in range(8)]
    assert statuses.count(200) == 5


CHILD = """
import json, sys
from chalice.test import Client
from app import app
with Client(app) as client:
    codes = [client.http.get("/v1/partner/summary", headers={"x-api-key": sys.argv[1]}).status_code
             for _ in range(int(sys.argv[2]))]
print(json.dumps(codes))
"""


def test_the_limit_holds_across_processes(partners, slow_limit):
    """Another process (another API container) spends the partner's burst; this one is refused."""
    child = subprocess.run([sys.executable, "-c", CHILD, partners["a"], "3"], capture_output=True, text=True,
                           env={**os.environ, **SLOW}, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == [200, 200, 200]
    with api_client() as client:
        assert [get(client, "/v1/partner/summary", partners["a"])[0] for _ in range(3)] == [200, 200, 429]


def test_concurrent_requests_never_take_the_same_token(conn, partners, pg_url):
    """16 threads on their own connections, 10 takes each, at once: exactly the burst is admitted."""
    import psycopg2

    limit = RateLimit(0.001, 7)
    admitted: list[int] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        own = psycopg2.connect(pg_url)
        barrier.wait()
        for _ in range(10):
            if take(own, 2, limit) == 0:
                admitted.append(1)
            own.commit()
        own.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(admitted) == 7


def test_a_zero_rate_turns_the_limit_off(partners, monkeypatch):
    monkeypatch.setenv("PARTNER_RATE_LIMIT_PER_SECOND", "0")
    monkeypatch.setenv("PARTNER_RATE_LIMIT_BURST", "1")
    with api_client() as client:
        assert {get(client, "/v1/partner/summary", partners["a"])[0] for _ in range(5)} == {200}
