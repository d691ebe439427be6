"""One contact per borrower per slot (POJK 22/2023 Pasal 62 ayat (2) huruf d: not continuous or
disturbing): a chunk's payments of one number are one contact; the leader is sent once for all of them,
with their total and their loans, and the others are counted ``skipped`` (``merged``) or mirror a failure."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from chalicelib.contact_policy import ContactPolicy, FixedClock
from chalicelib.indonesian import listed
from chalicelib.reminders import templates
from chalicelib.reminders.contact import MemoryContactRecords
from chalicelib.reminders.dispatch import Dispatcher, contact_groups
from chalicelib.reminders.messages import CHUNK_FIELDS, Chunk, PaymentRow, chunk_body
from chalicelib.reminders.providers import Accepted, ProviderGaveUp
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone

RUN = StageRun(Zone.WIB, date(2026, 11, 21), Stage.ROBOCALL_1)
CLOCK = FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage) + timedelta(minutes=5))


class Voice:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail or set()

    def call(self, to: str, text: str, event_url: str, *, language: str = "id-ID", gate: Any = None) -> Accepted:
        if gate is not None:
            gate()
        self.calls.append((to, text))
        if to in self.fail:
            raise ProviderGaveUp("busy lines", attempts=3)
        return Accepted(f"call-{to}", 1)


class Tasks:
    def succeed(self, *_a: Any) -> bool:
        return True

    def heartbeat(self, *_a: Any) -> bool:
        return True


def _row(pid: int, loan: int, phone: str, amount: int, due: str, contact: int) -> list[Any]:
    return [pid, loan, phone, "Siti", amount, due, "JULO", "10110", contact]


def _dispatch(rows: list[list[Any]], voice: Voice) -> tuple[MemoryReminderStore, MemoryContactRecords]:
    store, records = MemoryReminderStore(), MemoryContactRecords()
    store.start_stage(RUN, "t")
    store.seal_stage(RUN, 1, {"selected": len(rows), "enqueued": len(rows)})
    dispatcher = Dispatcher(None, store=store, voice=voice, tasks=Tasks(), clock=CLOCK,  # type: ignore[arg-type]
                            policy=ContactPolicy(), records=records,
                            reference_key="unit-test-callback-reference-key-0123456789")
    dispatcher.run(Chunk.parse(chunk_body(RUN, "0-1", json.dumps(rows))))
    return store, records


def test_a_borrower_with_two_payments_gets_one_call_naming_the_total_and_both_loans() -> None:
    voice = Voice()
    store, records = _dispatch([_row(11, 101, "081200000001", 2_000_000, "2026-11-24", 11),
                                _row(12, 102, "081200000001", 3_000_000, "2026-11-25", 11),
                                _row(13, 103, "081200000002", 1_000_000, "2026-11-24", 13)], voice)
    assert sorted(to for to, _ in voice.calls) == ["6281200000001", "6281200000002"]  # one call per number
    text = dict(voice.calls)["6281200000001"]
    assert "5.000.000 rupiah" in text and "24 November 2026 dan 25 November 2026" in text
    assert "2 pinjaman Anda, nomor 101 dan 102" in text
    assert store.get(RUN, 11).status == EntryStatus.PLACED
    member = store.get(RUN, 12)
    assert member.status == EntryStatus.SKIPPED and member.error.startswith("merged")
    assert {(c.payment_id, c.result, c.contact_of) for c in records.rows} == {
        (11, "placed", None), (12, "skipped", 11), (13, "placed", None)}


def test_a_contact_that_was_not_placed_leaves_every_payment_of_it_not_placed() -> None:
    store, _records = _dispatch([_row(21, 201, "081200000009", 1_000_000, "2026-11-24", 21),
                                 _row(22, 202, "081200000009", 1_000_000, "2026-11-24", 21)],
                                Voice(fail={"6281200000009"}))
    assert store.get(RUN, 21).status == EntryStatus.FAILED and store.get(RUN, 22).status == EntryStatus.FAILED


def test_contacts_keep_their_leader_first_and_old_chunks_stay_one_payment_each() -> None:
    def row(pid: int, contact: int | None) -> PaymentRow:
        return PaymentRow(pid, pid, "0812", "Siti", 1, date(2026, 11, 23), contact=contact)

    payments = [row(5, 3), row(3, 3), row(9, None)]
    assert [[p.payment_id for p in g] for g in contact_groups(payments)] == [[3, 5], [9]]
    assert CHUNK_FIELDS[-1] == "contact"


def test_the_whatsapp_parameters_list_every_loan_and_account_once() -> None:
    params = templates.whatsapp_parameters("Siti", 5_000_000, [date(2026, 11, 25), date(2026, 11, 24)], [101, 102],
                                           "BCA", ["1099400001", "1099400001"])
    assert params == ["Siti", "Rp 5.000.000", "24 November 2026 dan 25 November 2026", "BCA", "1099400001",
                      "101 dan 102"]
    assert listed(["a", "b", "c"]) == "a, b dan c" and listed(["a"]) == "a" and listed([]) == ""
