"""A reminder day while DynamoDB refuses 15% of all writes (after the SDK's own retries).

Every writer is hit: the stage worker's stage records, each payment's ledger claim and settle,
the chunk counts, the completion, the outcome callbacks. The day must end SUCCEEDED in every
zone (slower), every selected payment counted by its stage, nobody called twice: a refused write
fails that one payment's step (retried with backoff, or left to the chunk's redelivery with the
chunk's progress kept), never the whole chunk or the zone.

The whole-day version (three zones, 60 payments) is ``slow`` (make chaos); ``make test`` runs one
zone with 10 payments.
"""

from __future__ import annotations

from datetime import date

import psycopg2.extensions
import pytest

from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack, run_day
from tests.chaos.aws_faults import DynamoWriteFaults
from tests.chaos.reminder_support import assert_summary_adds_up, called_twice, fast_retries
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
RATE = 0.15
POSTCODES = {Zone.WIB: "10110", Zone.WITA: "90111", Zone.WIT: "97111"}
SCENARIO = "DynamoDB refuses 15% of writes all day"
INVARIANT = ("every zone's execution ends SUCCEEDED; every selected payment counted (per attempt selected = "
             "placed + place_failed + unknown + not_placed + skipped); no (payment, stage) called twice")


def _throttled_day(conn: psycopg2.extensions.connection, monkeypatch: pytest.MonkeyPatch, zones: list[Zone],
                   per_zone: int, seed: int) -> None:
    bootstrap()
    fast_retries()
    make_partner(conn, 1, "Lendana P2P")
    for z, zone in enumerate(zones):
        for i in range(per_zone):
            make_loan(conn, postcode=POSTCODES[zone], phone=f"0813{z}{i:07d}", due_dates=[DUE])
    conn.commit()
    dynamo = DynamoWriteFaults(monkeypatch, rate=RATE, seed=seed)
    with LocalReminderStack(seed=seed, provider_timeout=0.5,
                            extra_env={"REMINDER_CHUNK_SIZE": "4", "PROVIDER_MAX_ATTEMPTS": "3"}) as stack:
        result = run_day(BUSINESS_DATE, stack, zones=zones, timeout=600)
        twice = called_twice(stack)
    statuses = {name: e["status"] for name, e in result.executions.items()}
    print(f"{SCENARIO}: {dynamo.writes} writes, {dict(dynamo.injected)} refused; executions {statuses}; "
          f"{result.wall_seconds:.0f} s")
    assert dynamo.injected, "no write was refused: the fault did not happen"
    assert statuses == {zone.name: "SUCCEEDED" for zone in zones}, \
        {name: (e["status"], e.get("error"), (e.get("cause") or "")[:300]) for name, e in result.executions.items()}
    for zone in zones:
        stages = assert_summary_adds_up(result.executions[zone.name])
        assert stages["robocall_1"]["selected"] == per_zone, (zone, stages["robocall_1"])
    assert twice == {}


@pytest.mark.chaos(scenario=f"{SCENARIO} (one zone, 10 payments)", invariant=INVARIANT)
def test_one_zone_survives_throttled_writes(aws: str, conn: psycopg2.extensions.connection,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _throttled_day(conn, monkeypatch, [Zone.WIB], per_zone=10, seed=5)


@pytest.mark.slow
@pytest.mark.chaos(scenario=f"{SCENARIO} (three zones, 60 payments)", invariant=INVARIANT)
def test_a_whole_day_survives_throttled_writes(aws: str, conn: psycopg2.extensions.connection,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _throttled_day(conn, monkeypatch, list(Zone), per_zone=20, seed=15)
