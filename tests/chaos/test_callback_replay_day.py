"""An attacker who captured a whole faulty day's robocall webhooks replays them (issue 21).

The day runs with lost answers (entries left ``uncertain``, bound later by their own callback),
cut connections and duplicated webhooks. Every webhook the fake Vonage posted is captured: the
URL (our signed reference), the body and the token. Afterwards each final status is replayed
three ways — the same request again, the same body under another payment's genuine signed URL
with a fresh token (a captured provider retry), and under that payment's reference without our
MAC — and every one must be refused with the ledger table and the payment rows unchanged. The
fast equivalent in ``make test``: ``tests/functional/test_callback_attacks.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import jwt
import psycopg2.extensions
import pytest
import requests

from chalicelib import resources, settings
from chalicelib.reminders.outcomes import ROBOCALL_FAILURE, ROBOCALL_SUCCESS
from chalicelib.reminders.signatures import VONAGE_MAX_AGE_SECONDS, vonage_webhook_token
from chalicelib.reminders.store.dynamo_tables import LEDGER_TABLE
from localdev.aws.bootstrap import bootstrap
from localdev.fakes import FaultRates
from localdev.fakes.provider import Webhook
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET, FakeVoice
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
PAYMENTS = 24


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bytes, str]]]:
    """(url, body, Authorization) of every webhook attempt the fake Vonage posts."""
    seen: list[tuple[str, bytes, str]] = []
    deliver, headers_of = FakeVoice._deliver, FakeVoice.webhook_headers
    current: dict[str, str] = {}

    def recording_deliver(self: FakeVoice, session: requests.Session, hook: Webhook) -> bool:
        current["url"] = hook.url
        return deliver(self, session, hook)

    def recording_headers(self: FakeVoice, body: bytes) -> dict[str, str]:
        headers = headers_of(self, body)
        seen.append((current.get("url", ""), body, headers["Authorization"]))
        return headers

    monkeypatch.setattr(FakeVoice, "_deliver", recording_deliver)
    monkeypatch.setattr(FakeVoice, "webhook_headers", recording_headers)
    yield seen


def _ledger() -> list[dict[str, Any]]:
    items = settings.aws_clients().client("dynamodb").scan(TableName=resources.table_name(LEDGER_TABLE),
                                                ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["payment_id"]["S"]))


def _payments(conn: psycopg2.extensions.connection) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM payment ORDER BY payment_id")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _with_ref(url: str, ref: str) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunparse(parts._replace(query=urlencode({**query, "ref": ref})))


def _post(url: str, body: bytes, authorization: str) -> requests.Response:
    return requests.post(url, data=body, timeout=10,
                         headers={"Content-Type": "application/json", "Authorization": authorization})


@pytest.mark.slow
@pytest.mark.chaos(scenario="a faulty day's captured robocall webhooks replayed: again, under other payments' "
                            "signed URLs, unsigned",
                   invariant="every replay refused; ledger and payment rows unchanged")
def test_a_captured_day_replayed_changes_nothing(aws: str, conn: psycopg2.extensions.connection,
                                                 captured: list[tuple[str, bytes, str]]) -> None:
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    for i in range(PAYMENTS):
        make_loan(conn, postcode="10110", phone=f"08131{i:07d}", due_dates=[DUE])
    conn.commit()
    with LocalReminderStack(seed=5, provider_timeout=0.3, extra_env={"REMINDER_CHUNK_SIZE": "6"}) as stack:
        stack.voice.set_rates(FaultRates(answer_lost=0.2, cut=0.1, duplicate=0.2, reorder=0.2))
        day = Day(stack, BUSINESS_DATE)
        day.start()
        assert day.finish()["status"] == "SUCCEEDED"
        ledger, rows = _ledger(), _payments(conn)
        finals = [(url, body, auth) for url, body, auth in captured
                  if json.loads(body)["status"] in ROBOCALL_SUCCESS | ROBOCALL_FAILURE]
        refs = sorted({parse_qs(urlparse(url).query)["ref"][0] for url, _b, _a in finals})
        assert len(refs) > PAYMENTS // 2 and any(u for u, *_ in finals)

        answers: dict[str, list[tuple[int, str]]] = {"again": [], "other payment": [], "unsigned": []}
        for url, body, auth in finals:
            ref = parse_qs(urlparse(url).query)["ref"][0]
            other = next(r for r in refs if r.split("|")[0] != ref.split("|")[0])
            stale = time.time() - jwt.decode(auth.split()[1], options={"verify_signature": False})["iat"] \
                > VONAGE_MAX_AGE_SECONDS
            again = _post(url, body, auth)
            answers["again"].append((again.status_code, "stale" if stale else again.json()["error"]["code"]))
            fresh = "Bearer " + vonage_webhook_token(LOCAL_SIGNATURE_SECRET, body)
            for name, target in (("other payment", other), ("unsigned", other.rsplit("|", 1)[0])):
                r = _post(_with_ref(url, target), body, fresh)
                answers[name].append((r.status_code, r.json()["error"]["code"]))
                fresh = "Bearer " + vonage_webhook_token(LOCAL_SIGNATURE_SECRET, body)
        after_ledger, after_rows = _ledger(), _payments(conn)
    assert {a for a in answers["again"] if a[1] != "stale"} <= {(409, "replayed")}
    assert all(status == 401 for status, code in answers["again"] if code == "stale")
    assert set(answers["other payment"]) == {(409, "conflict")}
    assert set(answers["unsigned"]) == {(403, "forbidden")}
    assert after_ledger == ledger and after_rows == rows
    print(f"replayed {len(finals)} captured final statuses three ways: all refused")
