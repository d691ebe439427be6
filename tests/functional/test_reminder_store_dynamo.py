"""The reminder store rules of tests/unit/test_reminder_store.py, run against the DynamoDB store (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.reminders.ledger import DynamoReminderStore
from chalicelib.reminders.store import ReminderStore
from localdev.bootstrap_aws import bootstrap
from tests.unit.test_reminder_store import (  # noqa: F401 (collected here against DynamoDB)
    test_a_failure_claimed_but_not_sent_can_be_released_and_claimed_again,
    test_a_newer_attempt_adopts_an_entry_without_sending_and_an_older_one_never_takes_it_back,
    test_a_payment_is_claimed_for_sending_exactly_once,
    test_a_stage_attempt_is_failed_once_and_never_after_it_completed,
    test_a_stage_completes_once_when_every_chunk_of_its_attempt_has_finished,
    test_an_attempt_names_its_selection_once_and_every_delivery_of_it_shares_the_name,
    test_an_empty_stage_completes_on_seal,
    test_failed_and_uncertain_only_replace_attempting,
    test_only_an_own_unplaced_claim_is_released,
    test_pacing_is_kept_per_channel,
    test_stage_record_is_owned_by_its_newest_attempt,
    test_the_answer_is_stored_with_the_completion_and_taken_once_noted,
    test_the_first_callback_binds_an_unresolved_entry_and_its_outcome_is_final,
)


@pytest.fixture(params=["dynamodb"])
def store(aws: str) -> Iterator[ReminderStore]:
    bootstrap()
    yield DynamoReminderStore()


def test_two_stores_on_two_table_pairs_do_not_share_state(aws: str) -> None:
    from datetime import date

    from chalicelib import aws as aws_clients
    from chalicelib.reminders.stages import Stage, StageRun
    from chalicelib.zones import Zone

    ddb = aws_clients.client("dynamodb")
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
    from datetime import date

    from chalicelib.reminders.ledger import STORE_ATTEMPTS
    from chalicelib.reminders.stages import Stage, StageRun
    from chalicelib.reminders.store import StoreUnavailable
    from chalicelib.zones import Zone
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
