"""Chaos: the WhatsApp provider goes slower than planned. A dispatch chunk must still fit in the
WhatsApp dispatch function's own timeout (300 s) at the pacing actually measured, not at the
planned rate (which would make one 4,000-message chunk: 400 s at 10 messages a second)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest

from chalicelib import resources, settings
from infra.manifest import load_manifest
from localdev.aws.bootstrap import bootstrap
from localdev.reminder_day import LocalReminderStack
from tests.chaos.reminder_support import Day

WHATSAPP_QUEUE = "reminder-dispatch-whatsapp"
FIRST_DAY, SECOND_DAY = date(2026, 11, 20), date(2026, 11, 21)

# n WIB payments due on %(due)s, unpaid, robocall not successful, with WhatsApp: all go to the WhatsApp stage
GENERATE_SQL = """
INSERT INTO partner (partner_id, name, partner_type) VALUES (1, 'Lendana P2P', 'lender') ON CONFLICT DO NOTHING;
INSERT INTO application (application_id, application_xid, customer_id, partner_id, product_line_code, fullname,
                         email, mobile_phone_1, has_whatsapp_1, address_kodepos, loan_purpose, credit_grade,
                         bank_name, application_status_code, cdate)
SELECT g, 9000000000 + g, 200000 + g, 1, 10, 'Peminjam ' || g, 'p' || g || '@example.co.id',
       '0812' || lpad(g::text, 8, '0'), TRUE, '10110', 'Modal usaha', 'B', 'BCA', 180, now()
FROM generate_series(%(first)s, %(first)s + %(n)s - 1) AS g;
INSERT INTO loan (loan_id, application_id, customer_id, application_xid, partner, loan_status_code, product_code,
                  loan_amount, loan_duration, installment_amount, julo_bank_name, julo_bank_account_number,
                  disbursement_id, fund_transfer_ts, cdate)
SELECT g, g, 200000 + g, 9000000000 + g, 1, 220, 10, 3000000, 3, 1120000, 'BCA', '10994' || g, NULL, now(), now()
FROM generate_series(%(first)s, %(first)s + %(n)s - 1) AS g;
INSERT INTO payment (payment_id, loan_id, payment_number, payment_status_code, due_date, due_amount,
                     installment_principal, installment_interest, is_robocall_active, is_whatsapp)
SELECT g, g, 1, 310, %(due)s, 1120000, 1000000, 120000, TRUE, TRUE
FROM generate_series(%(first)s, %(first)s + %(n)s - 1) AS g;
"""


def _generate(conn, first: int, n: int, business_date: date) -> None:
    with conn.cursor() as cur:
        cur.execute(GENERATE_SQL, {"first": first, "n": n, "due": business_date + timedelta(days=3)})
    conn.commit()


def _chunk_sizes() -> list[int]:
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url(WHATSAPP_QUEUE)
    sizes = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return sizes
        for m in messages:
            from chalicelib.reminders import stage_worker

            body = json.loads(m["Body"])
            decode = getattr(stage_worker, "decode_rows", None)
            if decode is None:
                from chalicelib.reminders.messages import decode_rows as decode
            sizes.append(len(decode(body["rows_gz"])))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _whatsapp_stage(day: Day, business_date: date) -> None:
    day.send_stage_message({"zone": "WIB", "business_date": business_date.isoformat(), "stage": "whatsapp",
                            "attempt": 0, "task_token": "chaos-no-execution"})
    assert day.deliver_stage().succeeded == 1


@pytest.mark.slow
@pytest.mark.chaos(scenario="WhatsApp provider at half the planned rate (10/s, planned 20/s)",
                   invariant="every chunk fits in the dispatch function's own timeout at the measured pacing")
def test_whatsapp_chunks_fit_the_function_timeout_at_the_pacing_measured(aws, conn) -> None:
    bootstrap()
    timeout = load_manifest().function("reminder-dispatch-whatsapp").timeout
    _generate(conn, 500_001, 40, FIRST_DAY)
    _generate(conn, 600_001, 4_000, SECOND_DAY)
    with LocalReminderStack(messages_per_second=10, extra_env={"WHATSAPP_PLANNED_MESSAGES_PER_SECOND": "20"}) as stack:
        day = Day(stack, FIRST_DAY)
        _whatsapp_stage(day, FIRST_DAY)
        started = time.monotonic()
        totals = stack.runtime.drain(["reminder-dispatch-whatsapp"], idle=stack.idle)
        measured = 40 / (time.monotonic() - started)  # messages a second, as the provider let them through
        assert totals["reminder-dispatch-whatsapp"].failed == 0
        _whatsapp_stage(day, SECOND_DAY)
        sizes = _chunk_sizes()
    assert sum(sizes) == 4_000
    assert max(sizes) / measured <= timeout, (
        f"a chunk of {max(sizes)} messages at {measured:.1f}/s takes {max(sizes) / measured:.0f}s; "
        f"the function times out after {timeout}s")
