"""An SMS of two parts against the strict fake: two message ids, a signed receipt per part, one ledger entry.

Source: Vonage's SMS API sends a concatenated message as one message per part, each with its own
``message-id`` in the answer and its own delivery receipt. The entry is settled once: succeeded only when
both parts were delivered, failed when either part finally failed (or was refused when sent), also when
the send's answer was lost and the receipts bind the parts themselves. (Before: the ledger kept the first
part's id, the second part's receipt was "not ours", and a message whose second part failed counted as
delivered.)
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib.contact_policy import FixedClock
from chalicelib.reminders import gsm7
from chalicelib.reminders.contact import PgContactRecords
from chalicelib.reminders.dispatch import ChunkDeferred, Dispatcher
from chalicelib.reminders.messages import Chunk, chunk_body
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store import EntryStatus, Outcome, StoreUnavailable
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import stage_summary
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.factories import dispatch_settings, make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)  # a Friday
DUE = date(2026, 11, 23)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.SMS)
IN_THE_SMS_SLOT = FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage) + timedelta(minutes=1))
LONG_BANK = "Bank Pembangunan Daerah Jawa Barat dan Banten Syariah"  # the text takes two SMS


class _Tasks:
    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        return True

    def heartbeat(self, token: str) -> bool:
        return True


def _intl(phone: str) -> str:
    return "62" + phone[1:]


def test_a_two_part_sms_is_settled_on_both_parts_receipts_once(aws, conn) -> None:
    bootstrap()
    make_partner(conn, 1, "Lendana P2P")
    names = ("both delivered", "second failed", "first expired", "second refused", "answer lost")
    phones = {name: f"08135557{i:04d}" for i, name in enumerate(names)}
    loans = {name: make_loan(conn, postcode="10110", phone=phone, due_dates=[DUE], has_whatsapp=False,
                             bank_name=LONG_BANK) for name, phone in phones.items()}
    conn.commit()
    rows = [[loan.payment_ids[0], loan.loan_id, phones[name], "Budi Santoso", 1_250_000, DUE.isoformat(), "JULO",
             "10110", loan.payment_ids[0]] for name, loan in loans.items()]
    store = DynamoReminderStore()
    store.start_stage(RUN, "token")
    store.seal_stage(RUN, 1, {"selected": len(rows), "enqueued": len(rows)})
    with LocalReminderStack() as stack:
        sms = stack.sms
        sms.force_part_outcomes(_intl(phones["both delivered"]), ["delivered", "delivered"])
        sms.inject("duplicate", count=1, recipient=_intl(phones["both delivered"]))  # every receipt twice
        sms.force_part_outcomes(_intl(phones["second failed"]), ["delivered", "failed"])
        sms.inject("reorder", count=1, recipient=_intl(phones["second failed"]))
        sms.force_part_outcomes(_intl(phones["first expired"]), ["expired", "delivered"])
        sms.refuse_parts(_intl(phones["second refused"]), 1)
        sms.force_part_outcomes(_intl(phones["second refused"]), ["delivered"])
        sms.force_part_outcomes(_intl(phones["answer lost"]), ["delivered", "delivered"])
        sms.inject("answer_lost", count=1, recipient=_intl(phones["answer lost"]))
        dispatcher = Dispatcher(conn, dispatch_settings(), store=store, tasks=_Tasks(), clock=IN_THE_SMS_SLOT,  # type: ignore[arg-type]
                                records=PgContactRecords(conn))
        counts = dispatcher.run(Chunk.parse(chunk_body(RUN, "0-5", json.dumps(rows))))
        assert sms.wait_idle(60)
        texts = {rec.body["to"]: rec.body["text"] for rec in sms.records}
        requests = len(sms.records)
    # the lost answer's receipts may come before the client gives up on the answer (then it counts as placed)
    assert counts["placed"] + counts["unknown"] == len(names)
    assert requests == len(names)  # one request per message, two parts each: nobody texted twice
    assert all(gsm7.segments(text) == 2 for text in texts.values())
    entries = {name: store.get(RUN, loan.payment_ids[0]) for name, loan in loans.items()}
    got = {name: (e.status, e.outcome, e.provider_status, len(e.part_ids)) for name, e in entries.items() if e}
    assert got == {
        "both delivered": (EntryStatus.PLACED, Outcome.SUCCEEDED, "delivered", 2),
        "second failed": (EntryStatus.PLACED, Outcome.FAILED, "failed", 2),
        "first expired": (EntryStatus.PLACED, Outcome.FAILED, "expired", 2),
        "second refused": (EntryStatus.PLACED, Outcome.FAILED, "rejected", 2),  # the sent part and the refused one
        "answer lost": (EntryStatus.PLACED, Outcome.SUCCEEDED, "delivered", 2),  # both parts bound by their receipts
    }
    summary = stage_summary(store, RUN)
    assert (summary["placed"], summary["succeeded"], summary["failed"]) == (5, 2, 3)  # each message once


class _PartsNotWritten(DynamoReminderStore):
    """The ledger refuses the part count once (DynamoDB throttling past the retries, say)."""

    failures = 1

    def expect_parts(self, run: StageRun, payment_id: int, count: int) -> bool:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("expect_parts: ProvisionedThroughputExceededException")
        return super().expect_parts(run, payment_id, count)


def test_a_two_part_sms_whose_part_count_cannot_be_written_is_not_sent_and_goes_out_on_redelivery(aws, conn) -> None:
    bootstrap()
    make_partner(conn, 1, "Lendana P2P")
    loan = make_loan(conn, postcode="10110", phone="081355580001", due_dates=[DUE], has_whatsapp=False,
                     bank_name=LONG_BANK)
    conn.commit()
    rows = [[loan.payment_ids[0], loan.loan_id, "081355580001", "Budi Santoso", 1_250_000, DUE.isoformat(),
             "JULO", "10110", loan.payment_ids[0]]]
    store = _PartsNotWritten()
    store.start_stage(RUN, "token")
    store.seal_stage(RUN, 1, {"selected": 1, "enqueued": 1})
    chunk = Chunk.parse(chunk_body(RUN, "0-1", json.dumps(rows)))
    with LocalReminderStack() as stack:
        stack.sms.force_part_outcomes("6281355580001", ["delivered", "delivered"])
        dispatcher = Dispatcher(conn, dispatch_settings(), store=store, tasks=_Tasks(), clock=IN_THE_SMS_SLOT,  # type: ignore[arg-type]
                                records=PgContactRecords(conn))
        with pytest.raises(ChunkDeferred):
            dispatcher.run(chunk)
        assert stack.sms.records == [] and store.get(RUN, loan.payment_ids[0]) is None  # nothing sent, given back
        assert dispatcher.run(chunk)["placed"] == 1   # the chunk's redelivery sends it, once
        assert stack.sms.wait_idle(60)
        sent = len(stack.sms.records)
    entry = store.get(RUN, loan.payment_ids[0])
    assert sent == 1 and entry is not None and (entry.parts, entry.outcome) == (2, Outcome.SUCCEEDED)
