"""What only the DynamoDB store has: its tables, their stored values, its retries. The rules every store
keeps are in test_reminder_store_contract.py (run against this store and the in-memory one)."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib import resources, settings
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus, Outcome, StoreUnavailable
from chalicelib.reminders.store.dynamo import STORE_ATTEMPTS, DynamoReminderStore
from chalicelib.reminders.store.dynamo_tables import LEDGER_TABLE
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap


def test_statuses_and_outcomes_are_stored_as_the_values_items_already_hold(aws: str) -> None:
    """Existing ledger items, the API's answers and the docs use these strings: the enums must not change them.
    ``EntryStatus.FAILED`` and ``Outcome.FAILED`` are different things stored as the same word."""
    assert {s.name: s.value for s in EntryStatus} == {"ATTEMPTING": "attempting", "PLACED": "placed",
                                                      "FAILED": "failed", "UNCERTAIN": "uncertain",
                                                      "SKIPPED": "skipped"}
    assert {o.name: o.value for o in Outcome} == {"SUCCEEDED": "succeeded", "FAILED": "failed"}
    bootstrap()
    store = DynamoReminderStore()
    run = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_1)
    for pid in (1, 2):
        store.claim(run, pid)
    store.settle(run, 1, EntryStatus.FAILED, attempts=3, error="gave up")
    store.settle(run, 2, EntryStatus.PLACED, attempts=1, provider_id="call-2")
    store.record_outcome(run, 2, "call-2", Outcome.FAILED, "busy")
    ddb = settings.aws_clients().client("dynamodb")
    items = {int(i["payment_id"]["S"]): i for i in ddb.query(
        TableName=resources.table_name(LEDGER_TABLE), KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": run.ledger_key}})["Items"]}
    assert items[1]["status"] == {"S": "failed"} and "outcome" not in items[1]
    assert items[2]["status"] == {"S": "placed"} and items[2]["outcome"] == {"S": "failed"}
    # and an item written before the enums (plain strings) reads back typed
    ddb.put_item(TableName=resources.table_name(LEDGER_TABLE), Item={
        "pk": {"S": run.ledger_key}, "payment_id": {"S": "3"}, "attempt": {"N": "0"}, "channel": {"S": "robocall"},
        "status": {"S": "placed"}, "provider_id": {"S": "call-3"}, "outcome": {"S": "succeeded"},
        "provider_status": {"S": "human"}, "attempts": {"N": "1"},
        "updated_at": {"S": "2026-11-20T01:00:00.000000+0000"}})
    old = store.get(run, 3)
    assert old is not None and old.status is EntryStatus.PLACED and old.outcome is Outcome.SUCCEEDED


def test_two_stores_on_two_table_pairs_do_not_share_state(aws: str) -> None:
    ddb = settings.aws_clients().client("dynamodb")
    for suffix in ("a", "b"):
        for name, range_key in ((f"ledger-{suffix}", "payment_id"), (f"stages-{suffix}", "stage")):
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": range_key, "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": range_key, "KeyType": "RANGE"}])
    a = DynamoReminderStore(ledger_table="ledger-a", stages_table="stages-a")
    b = DynamoReminderStore(ledger_table="ledger-b", stages_table="stages-b")
    run = StageRun(Zone.WIT, date(2026, 11, 20), Stage.ROBOCALL_1)
    assert a.claim(run, 1).fresh and b.claim(run, 1).fresh
    assert a.get(run, 2) is None and b.get(run, 1) is not None


def test_a_throttled_write_is_tried_again_and_what_stays_refused_is_store_unavailable(
        aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB refusing writes (after the SDK's retries): throttling is retried with backoff inside the
    store; a write refused past the store's tries, or with a 5xx, surfaces as StoreUnavailable."""
    from tests.chaos.aws_faults import THROTTLED, DynamoWriteFaults

    bootstrap()
    store = DynamoReminderStore()
    run = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_1)
    faults = DynamoWriteFaults(monkeypatch)
    any_put = lambda op, _kw: op == "PutItem"  # noqa: E731
    for _ in range(STORE_ATTEMPTS - 1):
        faults.fail_next(any_put, THROTTLED, 400)
    assert store.claim(run, 1).fresh                        # refused four times, written on the fifth try
    assert faults.injected[THROTTLED] == STORE_ATTEMPTS - 1
    for _ in range(STORE_ATTEMPTS):
        faults.fail_next(any_put, THROTTLED, 400)
    with pytest.raises(StoreUnavailable, match=THROTTLED):
        store.claim(run, 2)
    assert store.get(run, 2) is None                        # nothing was written
    faults.fail_next(any_put)                               # a 500: not retried (it may have been written)
    with pytest.raises(StoreUnavailable, match="InternalServerError"):
        store.claim(run, 3)
