"""The reminder store's rules (chalicelib/reminders/store/protocol.py), each run against every store.

The ``store`` fixture is parametrised over the stores: the in-memory one and the DynamoDB one (moto,
the tables the template defines). A rule test written here runs against both; nothing store-specific
belongs in this module (DynamoDB's own concerns — throttling, table pairs, stored values — are in
test_reminder_store_dynamo.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.reminders.stages import Channel, Stage, StageRun
from chalicelib.reminders.store import (
    REFUSED_PART_STATUS,
    EntryStatus,
    Outcome,
    Pacing,
    Parts,
    ReminderStore,
    StartOutcome,
    parts_outcome,
)
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap

RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_2)
SMS = StageRun(Zone.WIB, date(2026, 11, 20), Stage.SMS)
STORES = ("memory", "dynamodb")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[ReminderStore]:
    if request.param == "memory":
        yield MemoryReminderStore()
        return
    request.getfixturevalue("aws")  # a clean emulated account
    bootstrap()                     # the template's tables
    yield DynamoReminderStore()


# --- ledger entries ---

def test_a_payment_is_claimed_for_sending_exactly_once(store: ReminderStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: store.claim(RUN, 7), range(16)))
    assert sum(c.fresh for c in claims) == 1
    assert store.get(RUN, 7).status == EntryStatus.ATTEMPTING
    # another stage of the same day is another entry
    assert store.claim(StageRun(RUN.zone, RUN.business_date, Stage.ROBOCALL_3), 7).fresh


def test_a_payment_nothing_is_sent_for_is_claimed_and_settled_in_one_write(store: ReminderStore) -> None:
    merged = "merged: reminded in the contact of payment 7"
    with ThreadPoolExecutor(max_workers=8) as pool:  # racing a claim for sending: one of them wins, once
        claims = list(pool.map(lambda i: store.claim_settled(RUN, 8, EntryStatus.SKIPPED, error=merged) if i % 2
                               else store.claim(RUN, 8), range(16)))
    assert sum(c.fresh for c in claims) == 1
    winner = next(c for c in claims if c.fresh).entry
    assert store.get(RUN, 8) == winner and winner.attempts == 0
    assert all(c.entry.status == winner.status for c in claims)
    # settled at once: skipped (or failed) with its reason, never sent, never settled again
    done = store.claim_settled(RUN, 9, EntryStatus.FAILED, error="the contact of payment 7 was not placed")
    assert done.fresh and (done.entry.status, done.entry.error) == (EntryStatus.FAILED,
                                                                     "the contact of payment 7 was not placed")
    assert not store.claim(RUN, 9).fresh
    assert store.settle(RUN, 9, EntryStatus.UNCERTAIN, attempts=1) is None
    # an entry claimed before is left as it is; a newer attempt adopts it (counted in its summary)
    store.claim(RUN, 10)
    again = store.claim_settled(RUN.with_attempt(1), 10, EntryStatus.SKIPPED, error=merged)
    assert not again.fresh and (again.entry.status, again.entry.attempt) == (EntryStatus.ATTEMPTING, 1)


def test_a_newer_attempt_adopts_an_entry_without_sending_and_an_older_one_never_takes_it_back(
        store: ReminderStore) -> None:
    assert store.claim(RUN, 7).fresh
    adopted = store.claim(RUN.with_attempt(1), 7)
    assert not adopted.fresh and adopted.entry.attempt == 1
    late = store.claim(RUN, 7)
    assert not late.fresh and store.get(RUN, 7).attempt == 1


def test_failed_and_uncertain_only_replace_attempting(store: ReminderStore) -> None:
    store.claim(RUN, 1)
    assert store.settle(RUN, 1, EntryStatus.UNCERTAIN, attempts=1, error="answer lost").status == EntryStatus.UNCERTAIN
    assert store.settle(RUN, 1, EntryStatus.FAILED, attempts=2) is None
    assert store.get(RUN, 1).status == EntryStatus.UNCERTAIN
    store.claim(RUN, 2)
    assert store.settle(RUN, 2, EntryStatus.PLACED, attempts=1, provider_id="call-2").provider_id == "call-2"
    assert store.settle(RUN, 2, EntryStatus.FAILED, attempts=1) is None
    assert store.settle(RUN, 2, EntryStatus.PLACED, attempts=1, provider_id="someone-else") is None
    assert store.get(RUN, 2).provider_id == "call-2"


def test_a_settled_entry_reads_back_as_written_with_its_status_and_outcome_typed(store: ReminderStore) -> None:
    store.claim(RUN, 3)
    settled = store.settle(RUN, 3, EntryStatus.FAILED, attempts=3, error="x" * 600)
    entry = store.get(RUN, 3)
    assert settled == entry and entry is not None
    assert (entry.payment_id, entry.attempt, entry.channel, entry.attempts) == (3, 0, "robocall", 3)
    assert entry.status is EntryStatus.FAILED and entry.outcome is None and entry.error == "x" * 500
    store.claim(RUN, 4)
    store.settle(RUN, 4, EntryStatus.PLACED, attempts=1, provider_id="call-4")
    assert store.record_outcome(RUN, 4, "call-4", Outcome.FAILED, "busy")
    placed = store.get(RUN, 4)
    assert placed.status is EntryStatus.PLACED and placed.outcome is Outcome.FAILED  # not the status "failed"
    assert placed.provider_status == "busy"


def test_the_first_callback_binds_an_unresolved_entry_and_its_outcome_is_final(store: ReminderStore) -> None:
    store.claim(RUN, 1)                         # the worker died after the provider accepted
    store.claim(RUN, 2)
    store.settle(RUN, 2, EntryStatus.UNCERTAIN, attempts=1)  # the answer was lost
    for pid in (1, 2):
        bound = store.bind(RUN, pid, f"call-{pid}")
        assert bound is not None and (bound.status, bound.provider_id) == (EntryStatus.PLACED, f"call-{pid}")
        assert store.bind(RUN, pid, "another-call") is None
    assert store.record_outcome(RUN, 1, "call-1", Outcome.SUCCEEDED, "human")
    assert not store.record_outcome(RUN, 1, "call-1", Outcome.FAILED, "busy")
    assert not store.record_outcome(RUN, 2, "another-call", Outcome.SUCCEEDED, "human")
    assert store.get(RUN, 1).outcome == Outcome.SUCCEEDED and store.get(RUN, 2).outcome is None
    # the worker's late write after the callback bound the entry keeps the callback's facts
    assert store.settle(RUN, 1, EntryStatus.PLACED, attempts=1, provider_id="call-1").outcome == Outcome.SUCCEEDED
    assert store.bind(RUN, 99, "call-99") is None  # not ours: nothing created
    assert not store.record_outcome(RUN, 98, "call-98", Outcome.SUCCEEDED, "human")  # nor here
    assert store.get(RUN, 98) is None


def test_a_provider_id_is_found_on_the_entries_that_hold_it(store: ReminderStore) -> None:
    other = StageRun(RUN.zone, RUN.business_date, Stage.ROBOCALL_3)
    store.claim(RUN, 1)
    store.settle(RUN, 1, EntryStatus.PLACED, attempts=1, provider_id="call-a")
    store.claim(other, 2)
    store.settle(other, 2, EntryStatus.UNCERTAIN, attempts=1)
    assert store.bound_to("call-a") == {(RUN.ledger_key, 1)}
    assert store.bound_to("call-b") == set()
    store.bind(other, 2, "call-b")                      # bound by its callback
    assert store.bound_to("call-b") == {(other.ledger_key, 2)}


def test_only_an_own_unplaced_claim_is_released(store: ReminderStore) -> None:
    assert store.claim(RUN, 1).fresh and store.claim(RUN, 2).fresh and store.claim(RUN, 3).fresh
    store.settle(RUN, 2, EntryStatus.PLACED, attempts=1, provider_id="call-2")
    store.claim(RUN.with_attempt(1), 3)                                    # adopted by a newer attempt
    assert store.release_claim(RUN, 1) and store.get(RUN, 1) is None
    assert not store.release_claim(RUN, 2) and store.get(RUN, 2).status == EntryStatus.PLACED
    assert not store.release_claim(RUN, 3) and store.get(RUN, 3) is not None
    assert store.claim(RUN, 1).fresh                                       # it can be sent once fixed


def test_entries_are_those_of_the_stage_asked_for(store: ReminderStore) -> None:
    other = StageRun(RUN.zone, RUN.business_date, Stage.ROBOCALL_3)
    for pid in (1, 2, 3):
        store.claim(RUN, pid)
    store.claim(other, 4)
    store.settle(RUN, 2, EntryStatus.SKIPPED, attempts=0, error="closed_day: Sunday")
    found = {e.payment_id: e for e in store.entries(RUN)}
    assert set(found) == {1, 2, 3}
    assert found[2].status is EntryStatus.SKIPPED and found[2].error == "closed_day: Sunday"
    assert [e.payment_id for e in store.entries(other)] == [4]


# --- the parts of an SMS ---

def _sent_in_parts(store: ReminderStore, payment_id: int, parts: int, *, refused: int = 0) -> list[str]:
    assert store.claim(SMS, payment_id).fresh
    assert store.expect_parts(SMS, payment_id, parts)
    ids = [f"0B{payment_id:04d}{i:010d}" for i in range(parts - refused)]
    store.settle(SMS, payment_id, EntryStatus.PLACED, attempts=1, provider_id=ids[0], parts=Parts(tuple(ids), refused))
    return ids


def test_the_part_count_is_known_before_the_send_and_only_for_an_unsent_claim(store: ReminderStore) -> None:
    assert not store.expect_parts(SMS, 1, 2)                # no claim: nothing created
    assert store.get(SMS, 1) is None
    store.claim(SMS, 1)
    assert store.expect_parts(SMS, 1, 2)
    assert store.get(SMS, 1).parts == 2 and store.get(SMS, 1).multipart
    store.claim(SMS, 2)
    store.settle(SMS, 2, EntryStatus.UNCERTAIN, attempts=1)
    assert not store.expect_parts(SMS, 2, 2)                # the send happened already


def test_a_message_of_parts_is_settled_once_on_every_parts_receipt(store: ReminderStore) -> None:
    ids = _sent_in_parts(store, 7, 2)
    entry = store.get(SMS, 7)
    assert entry.status is EntryStatus.PLACED and entry.part_ids == set(ids) and entry.outcome is None
    assert not store.record_outcome(SMS, 7, ids[0], Outcome.SUCCEEDED, "delivered")  # one receipt is not all
    assert store.record_part(SMS, 7, "0BNOTAPART", Outcome.SUCCEEDED) is None
    first = store.record_part(SMS, 7, ids[0], Outcome.SUCCEEDED)
    assert first is not None and first.parts_delivered == {ids[0]} and parts_outcome(first) is None
    second = store.record_part(SMS, 7, ids[1], Outcome.SUCCEEDED)
    assert second is not None and parts_outcome(second) is Outcome.SUCCEEDED
    assert store.record_parts_outcome(SMS, 7, Outcome.SUCCEEDED, "delivered")
    assert not store.record_parts_outcome(SMS, 7, Outcome.FAILED, "failed")            # once
    assert store.record_part(SMS, 7, ids[1], Outcome.FAILED) is None                   # after the outcome: nothing
    final = store.get(SMS, 7)
    assert (final.outcome, final.provider_status) == (Outcome.SUCCEEDED, "delivered")
    assert final.parts_failed == frozenset()


def test_a_failed_part_fails_the_message_and_a_one_part_message_has_no_parts_outcome(store: ReminderStore) -> None:
    ids = _sent_in_parts(store, 8, 3)
    failed = store.record_part(SMS, 8, ids[1], Outcome.FAILED)
    assert failed is not None and parts_outcome(failed) is Outcome.FAILED
    store.claim(SMS, 9)
    store.settle(SMS, 9, EntryStatus.PLACED, attempts=1, provider_id="0B9")
    assert not store.record_parts_outcome(SMS, 9, Outcome.SUCCEEDED, "delivered")   # one part: record_outcome's
    assert store.record_outcome(SMS, 9, "0B9", Outcome.SUCCEEDED, "delivered")


def test_a_part_refused_when_sent_fails_the_message_at_once(store: ReminderStore) -> None:
    ids = _sent_in_parts(store, 10, 2, refused=1)
    entry = store.get(SMS, 10)
    assert (entry.status, entry.outcome, entry.provider_status) == (EntryStatus.PLACED, Outcome.FAILED,
                                                                   REFUSED_PART_STATUS)
    assert entry.parts == 2 and entry.part_ids == {ids[0], "refused#1"} and entry.parts_failed == {"refused#1"}
    assert store.record_part(SMS, 10, ids[0], Outcome.SUCCEEDED) is None            # the message has its outcome


def test_a_lost_answer_binds_at_most_as_many_part_ids_as_the_message_has(store: ReminderStore) -> None:
    store.claim(SMS, 11)
    store.expect_parts(SMS, 11, 2)
    store.settle(SMS, 11, EntryStatus.UNCERTAIN, attempts=1, error="answer lost")
    first = store.bind_part(SMS, 11, "0BA")
    assert first is not None and first.status is EntryStatus.PLACED and first.provider_id == "0BA"
    assert store.bind_part(SMS, 11, "0BA") is None                                   # known already
    second = store.bind_part(SMS, 11, "0BB")
    assert second is not None and second.part_ids == {"0BA", "0BB"} and second.provider_id == "0BA"
    assert store.bind_part(SMS, 11, "0BC") is None                                   # a third: not a part of it
    assert store.get(SMS, 11).part_ids == {"0BA", "0BB"}


# --- stage records ---

def test_stage_record_is_owned_by_its_newest_attempt(store: ReminderStore) -> None:
    first = store.start_stage(RUN, "token-0")
    assert first.outcome is StartOutcome.STARTED
    assert store.start_stage(RUN, "token-0").outcome is StartOutcome.RESUMED
    assert store.seal_stage(RUN, 2, {"selected": 5, "enqueued": 5}) is not None
    retry = store.start_stage(RUN.with_attempt(1), "token-1")
    assert retry.outcome is StartOutcome.STARTED and retry.state.counters()["selected"] == 0
    late = store.start_stage(RUN, "token-0")     # the late duplicate of attempt 0
    assert late.outcome is StartOutcome.SUPERSEDED
    state = store.stage(RUN)
    assert (state.run.attempt, state.task_token) == (1, "token-1")
    assert store.seal_stage(RUN, 1, {"selected": 9}) is None
    assert store.finish_chunk(RUN, "0-1", {"placed": 1}) is None


def test_a_stage_is_sealed_once_per_attempt(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    sealed = store.seal_stage(RUN, 3, {"selected": 7, "enqueued": 6, "not_placed": 1})
    assert sealed is not None and sealed.chunks_total == 3
    again = store.seal_stage(RUN, 5, {"selected": 99})                     # a resumed delivery: the first seal holds
    assert again is not None and again.chunks_total == 3 and again.counters()["selected"] == 7
    assert store.stage(RUN).counters()["not_placed"] == 1


def test_a_stage_completes_once_when_every_chunk_of_its_attempt_has_finished(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    sealed = store.seal_stage(RUN, 2, {"selected": 3, "enqueued": 3})
    assert not store.claim_completion(sealed)
    one = store.finish_chunk(RUN, "0-1", {"placed": 2})
    assert store.finish_chunk(RUN, "0-1", {"placed": 2}) is None  # redelivered chunk counted once
    assert not store.claim_completion(one)
    two = store.finish_chunk(RUN, "0-2", {"unknown": 1})
    assert two.all_chunks_done
    assert [store.claim_completion(two) for _ in range(3)] == [True, False, False]
    done = store.stage(RUN)
    assert done.completed and done.counters()["placed"] == 2 and done.counters()["unknown"] == 1
    again = store.start_stage(RUN, "token")
    assert again.outcome is StartOutcome.COMPLETED and again.state.counters()["selected"] == 3
    newer = store.start_stage(RUN.with_attempt(1), "token-1")  # a retry after completion resets nothing
    assert newer.outcome is StartOutcome.COMPLETED and store.stage(RUN).completed


def test_a_stage_attempt_is_failed_once_and_never_after_it_completed(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    assert store.claim_failure(RUN) is not None
    assert store.claim_failure(RUN) is None
    assert store.claim_failure(RUN.with_attempt(1)) is None          # not the owner
    store.start_stage(RUN.with_attempt(1), "token-1")
    assert store.claim_failure(RUN) is None                          # superseded
    store.claim_completion(store.seal_stage(RUN.with_attempt(1), 0, {}))
    assert store.claim_failure(RUN.with_attempt(1)) is None          # done


def test_an_empty_stage_completes_on_seal(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    assert store.claim_completion(store.seal_stage(RUN, 0, {"selected": 0}))


def test_the_answer_is_stored_with_the_completion_and_taken_once_noted(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    assert store.record_enqueued(RUN) is None                               # not sealed yet
    sealed = store.seal_stage(RUN, 1, {"selected": 2, "enqueued": 2})
    assert not sealed.enqueued_all and store.record_enqueued(RUN).enqueued_all
    assert store.record_enqueued(RUN.with_attempt(1)) is None              # not the owner
    done = store.finish_chunk(RUN, "0-1", {"placed": 2})
    answer = {"selected": 2, "placed": 2, "next_at": "2026-11-20T03:00:00Z"}
    assert store.claim_completion(done, answer) and not store.claim_completion(done, {"placed": 0})
    stored = store.stage(RUN)
    assert stored.completed and stored.answer == answer and not stored.answered
    store.record_answered(RUN.with_attempt(1))                              # not the owner: changes nothing
    assert not store.stage(RUN).answered
    store.record_answered(RUN)
    assert store.stage(RUN).answered and store.stage(RUN).answer == answer


def test_a_failure_claimed_but_not_sent_can_be_released_and_claimed_again(store: ReminderStore) -> None:
    store.start_stage(RUN, "token")
    assert store.claim_failure(RUN) is not None
    store.release_failure(RUN.with_attempt(1))                              # not the owner
    assert store.claim_failure(RUN) is None
    store.release_failure(RUN)
    assert not store.stage(RUN).failed and store.claim_failure(RUN) is not None


def test_an_attempt_names_its_selection_once_and_every_delivery_of_it_shares_the_name(store: ReminderStore) -> None:
    first = store.start_stage(RUN, "token-0").state.selection_id
    assert first and store.start_stage(RUN, "token-0").state.selection_id == first      # resumed: the same
    assert store.seal_stage(RUN, 1, {"selected": 1}).selection_id == first
    retry = store.start_stage(RUN.with_attempt(1), "token-1").state.selection_id
    assert retry and retry != first                                                       # a new attempt: a new one
    assert store.start_stage(RUN, "token-0").state.selection_id == retry  # a late duplicate: the owner's


_DAYS = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=8))
def test_whatever_order_stage_messages_arrive_in_the_newest_attempt_owns_the_record(
        store: ReminderStore, attempts: list[int]) -> None:
    run = StageRun(RUN.zone, RUN.business_date + timedelta(days=next(_DAYS)), RUN.stage)  # a record per example
    for a in attempts:
        store.start_stage(run.with_attempt(a), f"token-{a}")
    state = store.stage(run)
    assert state.run.attempt == max(attempts) and state.task_token == f"token-{max(attempts)}"


# --- measured pacing ---

def test_pacing_is_kept_per_channel(store: ReminderStore) -> None:
    assert store.pacing(Channel.WHATSAPP) is None
    store.record_pacing(Channel.WHATSAPP, Pacing(12.5, 300))
    assert store.pacing(Channel.WHATSAPP) == Pacing(12.5, 300)
    assert store.pacing(Channel.ROBOCALL) is None
    store.record_pacing(Channel.WHATSAPP, Pacing(20.0, 300))               # the latest measurement
    assert store.pacing(Channel.WHATSAPP) == Pacing(20.0, 300)
