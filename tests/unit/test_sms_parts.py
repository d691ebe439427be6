"""An SMS sent in two or three parts: a message id and a delivery receipt per part (Vonage SMS API:
"each part of a concatenated message has its own message-id and delivery receipt"). The ledger entry is
settled once, on every part's receipt: delivered only when every part was delivered, failed as soon as a
part finally failed (or was refused when sent), whatever order and however often the receipts come,
also when the send's answer was lost and the receipts bind the parts' ids themselves."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.reminders.outcomes import CallbackRef, ProviderIdTaken, apply_sms_status, sms_outcome
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus, Outcome, Parts
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.reminders.summary import stage_summary
from chalicelib.zones import Zone

RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.SMS)
REF = CallbackRef(7, RUN)
FINAL = ("delivered", "failed", "expired", "rejected")


def _sent(parts: int, *, lost: bool = False, refused: int = 0) -> tuple[MemoryReminderStore, list[str]]:
    store = MemoryReminderStore()
    store.start_stage(RUN, "token")
    assert store.claim(RUN, 7).fresh
    assert store.expect_parts(RUN, 7, parts)
    ids = [f"0B{i:014d}" for i in range(parts - refused)]
    if lost:
        store.settle(RUN, 7, EntryStatus.UNCERTAIN, attempts=1, error="answer lost")
    else:
        store.settle(RUN, 7, EntryStatus.PLACED, attempts=1, provider_id=ids[0], parts=Parts(tuple(ids), refused))
    return store, ids


@settings(max_examples=300, deadline=None)
@given(data=st.data(), parts=st.integers(2, 3), lost=st.booleans())
def test_any_order_and_repeats_of_part_receipts_settle_the_message_once_and_right(data, parts, lost) -> None:
    store, ids = _sent(parts, lost=lost)
    finals = data.draw(st.lists(st.sampled_from(FINAL), min_size=parts, max_size=parts), label="finals")
    receipts = [(i, "accepted") for i in ids] + list(zip(ids, finals, strict=True))
    receipts += data.draw(st.lists(st.sampled_from(receipts)), label="repeats")
    order = data.draw(st.permutations(receipts), label="order")
    recorded = []
    for position, (part_id, status) in enumerate(order):
        before = store.get(RUN, 7)
        assert before is not None
        outcome = apply_sms_status(store, REF, part_id, status)
        if outcome is not None:
            recorded.append(outcome)
            arrived = {(p, s) for p, s in order[:position + 1]}
            if outcome == Outcome.SUCCEEDED:  # never before every part's delivered receipt is in
                assert all((p, "delivered") in arrived for p in ids)
            else:
                assert any(sms_outcome(s) == Outcome.FAILED for _p, s in arrived)
    expected = Outcome.FAILED if any(sms_outcome(f) == Outcome.FAILED for f in finals) else Outcome.SUCCEEDED
    entry = store.get(RUN, 7)
    assert entry is not None and entry.status == EntryStatus.PLACED
    assert recorded == [expected] and entry.outcome == expected  # once, and right
    summary = stage_summary(store, RUN)
    assert (summary["placed"], summary["succeeded"], summary["failed"]) == (1, int(expected == Outcome.SUCCEEDED),
                                                                             int(expected == Outcome.FAILED))


def test_a_half_sent_message_failed_when_sent_and_its_sent_parts_receipt_changes_nothing() -> None:
    store, ids = _sent(2, refused=1)
    entry = store.get(RUN, 7)
    assert entry is not None and (entry.outcome, entry.provider_status) == (Outcome.FAILED, "rejected")
    assert apply_sms_status(store, REF, ids[0], "delivered") is None
    assert stage_summary(store, RUN)["failed"] == 1


def test_a_receipt_of_another_message_is_not_a_part() -> None:
    store, ids = _sent(2)
    assert apply_sms_status(store, REF, "0BSOMEBODYELSE", "delivered") is None
    assert apply_sms_status(store, REF, ids[0], "delivered") is None  # still waiting for part 2
    assert apply_sms_status(store, REF, ids[1], "delivered") == Outcome.SUCCEEDED


def test_a_lost_answer_binds_at_most_as_many_parts_as_the_text_has() -> None:
    store, _ids = _sent(2, lost=True)
    assert apply_sms_status(store, REF, "0BA", "delivered") is None
    assert apply_sms_status(store, REF, "0BB", "delivered") == Outcome.SUCCEEDED
    assert apply_sms_status(store, REF, "0BC", "failed") is None  # a third id: not a part of this message
    entry = store.get(RUN, 7)
    assert entry is not None and entry.part_ids == {"0BA", "0BB"} and entry.outcome == Outcome.SUCCEEDED


def test_a_lost_answer_never_binds_another_messages_id_as_its_part() -> None:
    """Cross-binding (issue 21): a receipt of payment 8's message presented with payment 7's reference
    (it takes the SMS signature secret to re-sign it) does not become one of 7's parts."""
    store, _ids = _sent(2, lost=True)
    assert store.claim(RUN, 8).fresh
    store.settle(RUN, 8, EntryStatus.PLACED, attempts=1, provider_id="0BEIGHT")
    with pytest.raises(ProviderIdTaken):
        apply_sms_status(store, REF, "0BEIGHT", "delivered")
    entry = store.get(RUN, 7)
    assert entry is not None and entry.part_ids == frozenset() and entry.outcome is None
    assert apply_sms_status(store, REF, "0BA", "delivered") is None  # 7's own parts still bind
    assert apply_sms_status(store, REF, "0BB", "delivered") == Outcome.SUCCEEDED


def test_a_message_of_one_part_keeps_the_one_receipt_rule() -> None:
    store = MemoryReminderStore()
    store.claim(RUN, 7)
    store.settle(RUN, 7, EntryStatus.PLACED, attempts=1, provider_id="0B1")
    assert apply_sms_status(store, REF, "0B1", "delivered") == Outcome.SUCCEEDED
    assert apply_sms_status(store, REF, "0B1", "failed") is None
