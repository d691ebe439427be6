"""The reminder store's idempotency and stage-completion rules, against the in-memory store.

tests/functional/test_reminder_store_dynamo.py runs these same tests against the DynamoDB store.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.reminders.stages import Channel, Stage, StageRun
from chalicelib.reminders.store import (
    ATTEMPTING,
    FAILED,
    PLACED,
    SUCCEEDED,
    UNCERTAIN,
    MemoryReminderStore,
    Pacing,
    ReminderStore,
    StartOutcome,
)
from chalicelib.zones import Zone

RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_2)


@pytest.fixture
def store() -> Iterator[ReminderStore]:
    yield MemoryReminderStore()


def test_a_payment_is_claimed_for_sending_exactly_once(store: ReminderStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: store.claim(RUN, 7), range(16)))
    assert sum(c.fresh for c in claims) == 1
    assert store.get(RUN, 7).status == ATTEMPTING
    # another stage of the same day is another entry
    assert store.claim(StageRun(RUN.zone, RUN.business_date, Stage.ROBOCALL_3), 7).fresh


def test_a_newer_attempt_adopts_an_entry_without_sending_and_an_older_one_never_takes_it_back(
        store: ReminderStore) -> None:
    assert store.claim(RUN, 7).fresh
    adopted = store.claim(RUN.with_attempt(1), 7)
    assert not adopted.fresh and adopted.entry.attempt == 1
    late = store.claim(RUN, 7)
    assert not late.fresh and store.get(RUN, 7).attempt == 1


def test_failed_and_uncertain_only_replace_attempting(store: ReminderStore) -> None:
    store.claim(RUN, 1)
    assert store.settle(RUN, 1, UNCERTAIN, attempts=1, error="answer lost").status == UNCERTAIN
    assert store.settle(RUN, 1, FAILED, attempts=2) is None
    assert store.get(RUN, 1).status == UNCERTAIN
    store.claim(RUN, 2)
    assert store.settle(RUN, 2, PLACED, attempts=1, provider_id="call-2").provider_id == "call-2"
    assert store.settle(RUN, 2, FAILED, attempts=1) is None
    assert store.settle(RUN, 2, PLACED, attempts=1, provider_id="someone-else") is None
    assert store.get(RUN, 2).provider_id == "call-2"


def test_the_first_callback_binds_an_unresolved_entry_and_its_outcome_is_final(store: ReminderStore) -> None:
    store.claim(RUN, 1)                         # the worker died after the provider accepted
    store.claim(RUN, 2)
    store.settle(RUN, 2, UNCERTAIN, attempts=1)  # the answer was lost
    for pid in (1, 2):
        bound = store.bind(RUN, pid, f"call-{pid}")
        assert bound is not None and (bound.status, bound.provider_id) == (PLACED, f"call-{pid}")
        assert store.bind(RUN, pid, "another-call") is None
    assert store.record_outcome(RUN, 1, "call-1", SUCCEEDED, "human")
    assert not store.record_outcome(RUN, 1, "call-1", FAILED, "busy")
    assert not store.record_outcome(RUN, 2, "another-call", SUCCEEDED, "human")
    assert store.get(RUN, 1).outcome == SUCCEEDED and store.get(RUN, 2).outcome is None
    # the worker's late write after the callback bound the entry keeps the callback's facts
    assert store.settle(RUN, 1, PLACED, attempts=1, provider_id="call-1").outcome == SUCCEEDED
    assert store.bind(RUN, 99, "call-99") is None  # not ours: nothing created


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


def test_only_an_own_unplaced_claim_is_released(store: ReminderStore) -> None:
    assert store.claim(RUN, 1).fresh and store.claim(RUN, 2).fresh and store.claim(RUN, 3).fresh
    store.settle(RUN, 2, PLACED, attempts=1, provider_id="call-2")
    store.claim(RUN.with_attempt(1), 3)                                    # adopted by a newer attempt
    assert store.release_claim(RUN, 1) and store.get(RUN, 1) is None
    assert not store.release_claim(RUN, 2) and store.get(RUN, 2).status == PLACED
    assert not store.release_claim(RUN, 3) and store.get(RUN, 3) is not None
    assert store.claim(RUN, 1).fresh                                       # it can be sent once fixed


def test_pacing_is_kept_per_channel(store: ReminderStore) -> None:
    assert store.pacing(Channel.WHATSAPP) is None
    store.record_pacing(Channel.WHATSAPP, Pacing(12.5, 300))
    assert store.pacing(Channel.WHATSAPP) == Pacing(12.5, 300)
    assert store.pacing(Channel.ROBOCALL) is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=8))
def test_whatever_order_stage_messages_arrive_in_the_newest_attempt_owns_the_record(attempts: list[int]) -> None:
    store = MemoryReminderStore()
    for a in attempts:
        store.start_stage(RUN.with_attempt(a), f"token-{a}")
    state = store.stage(RUN)
    assert state.run.attempt == max(attempts) and state.task_token == f"token-{max(attempts)}"
