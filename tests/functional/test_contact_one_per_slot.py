"""One contact per borrower per slot: a borrower (one number) with several payments due is called once
per slot and messaged once, with the total due and every loan named.

Source: POJK 22/2023 Pasal 62 ayat (2) huruf d: contact about a debt is not continuous or disturbing
("tidak secara terus-menerus yang bersifat mengganggu"). Before, a borrower with two payments due got
two full sets of calls.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from chalicelib.indonesian import format_rupiah, thousands
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import stage_summary
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack, run_day
from tests.factories import make_loan, make_partner

FRIDAY = date(2026, 11, 20)
SATURDAY = date(2026, 11, 21)  # covers due dates 24 (its own T-3) and 25 November (T-3 on Sunday)


def test_a_borrower_with_several_payments_due_is_contacted_once_per_slot_with_the_total(aws, conn) -> None:
    bootstrap()
    make_partner(conn, 1, "Lendana P2P")
    # Siti: two loans, payments due the 24th and the 25th (both covered by Saturday), one number
    siti = [make_loan(conn, postcode="10110", phone="081311110001", fullname="Siti Aminah",
                      due_dates=[due], loan_amount=amount)
            for due, amount in ((date(2026, 11, 24), 2_000_000), (date(2026, 11, 25), 3_000_000))]
    # Budi: two loans due the 24th; he answers the first call
    budi = [make_loan(conn, postcode="10110", phone="081311110002", fullname="Budi Santoso",
                      due_dates=[date(2026, 11, 24)], loan_amount=1_000_000) for _ in range(2)]
    conn.commit()
    with LocalReminderStack(seed=5) as stack:
        stack.voice.force_outcome("6281311110001", "busy")
        stack.voice.force_outcome("6281311110002", "human")
        result = run_day(SATURDAY, stack, zones=[Zone.WIB])
        calls = Counter((r.body["to"][0]["number"]) for r in stack.voice.records)
        messages = [r for r in stack.whatsapp.records if r.body.get("type") == "template"]
        siti_call = next(r for r in stack.voice.records if r.body["to"][0]["number"] == "6281311110001")
    assert result.executions["WIB"]["status"] == "SUCCEEDED"
    assert calls == {"6281311110001": 3, "6281311110002": 1}  # once per slot; Budi answered the first
    due = {p: int(v) for p, v in _due_amounts(conn, [loan.payment_ids[0] for loan in siti]).items()}
    total = sum(due.values())
    script = siti_call.body["ncco"][0]["text"]
    assert f"{thousands(total)} rupiah" in script and "24 November 2026 dan 25 November 2026" in script
    assert f"nomor {siti[0].loan_id} dan {siti[1].loan_id}" in script
    assert len(messages) == 1 and messages[0].body["to"] == "6281311110001"
    params = [p["text"] for p in messages[0].body["template"]["components"][0]["parameters"]]
    assert params[1] == format_rupiah(total) and params[5] == f"{siti[0].loan_id} dan {siti[1].loan_id}"
    store = DynamoReminderStore()
    first = stage_summary(store, StageRun(Zone.WIB, SATURDAY, Stage.ROBOCALL_1))
    assert (first["selected"], first["placed"], first["skipped"]) == (4, 2, 2)
    assert first["skipped_by_reason"] == {"merged": 2}
    # Budi answered the 08:00 call that named both his loans: neither payment is called at 10:00
    retry = stage_summary(store, StageRun(Zone.WIB, SATURDAY, Stage.ROBOCALL_2))
    assert retry["selected"] == 2 and len(budi) == 2
    with conn.cursor() as cur:
        cur.execute("SELECT payment_id, is_whatsapp_blasted FROM payment WHERE loan_id = ANY(%s)",
                    ([loan.loan_id for loan in siti],))
        assert all(blasted for _pid, blasted in cur.fetchall())
    conn.rollback()


def _due_amounts(conn, payment_ids: list[int]) -> dict[int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT payment_id, due_amount FROM payment WHERE payment_id = ANY(%s)", (payment_ids,))
        found = dict(cur.fetchall())
    conn.rollback()
    return found
