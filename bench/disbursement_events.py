"""Disbursement-event consumer throughput, end to end (moto SQS + SES, PostgreSQL).

    LOCAL_PG_DB=julo_bench5 MOTO_PORT=5105 \
      .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/disbursement_events.py --events 1000

Each run: N PENDING disbursements (3 installments each), N COMPLETED events on the queue,
drained by the local Lambda runtime through functions.disbursement_events.handler: each event
is validated, applied in one transaction, and sends its calendar email through SES. Compared
with the naive set-up (batch size 1: one invocation, receive and delete per message).
Prints events/s, medians of --repeat runs, and the ratio.

Events are enqueued in waves of 100 and only the draining is timed: moto's SQS receive is
O(queue depth), so a deep local queue would measure moto, not the consumer (with 1,000
queued, the first 100 take ~5x longer than the last 100).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import aws, db, resources  # noqa: E402
from localdev import lambda_runtime, moto_server  # noqa: E402
from localdev.bootstrap_aws import bootstrap  # noqa: E402
from localdev.manifest import Manifest, load_manifest  # noqa: E402

WAVE = 100
SEED_SQL = """
TRUNCATE repayment_transaction, application_history, payment, disbursement, loan, application,
         disbursement_event, email_outbox RESTART IDENTITY CASCADE;
INSERT INTO partner (partner_id, name) VALUES (1, 'Bench Partner') ON CONFLICT DO NOTHING;
INSERT INTO application (application_id, application_xid, customer_id, partner_id, product_line_code, fullname,
                         email, address_kodepos, bank_name, application_status_code)
SELECT g, 5000000000 + g, g, 1, 10, 'Borrower ' || g, 'b' || g || '@example.com', '10110', 'BCA', 170
FROM generate_series(1, %(n)s) g;
INSERT INTO loan (loan_id, application_id, customer_id, partner, loan_status_code, product_code, loan_amount,
                  loan_duration, installment_amount, disbursement_id, julo_bank_name, julo_bank_account_number)
SELECT g, g, g, 1, 210, 10, 3000000, 3, 1120000, g, 'BCA', '10994' || g
FROM generate_series(1, %(n)s) g;
INSERT INTO disbursement (disbursement_id, loan_id, disburse_status, disburse_amount)
SELECT g, g, 'PENDING', 2850000 FROM generate_series(1, %(n)s) g;
INSERT INTO payment (payment_id, loan_id, payment_number, payment_status_code, due_date, due_amount,
                     installment_principal, installment_interest)
SELECT g * 10 + k, g, k, 310, DATE '2026-12-20' + (k - 1) * 30, 1120000, 1000000, 120000
FROM generate_series(1, %(n)s) g CROSS JOIN generate_series(1, 3) k;
ANALYZE;
"""


def prepare(n: int) -> None:
    conn = db.connect()
    with db.transaction(conn) as cur:
        cur.execute(SEED_SQL, {"n": n})
    conn.close()
    moto_server.reset(int(os.environ["MOTO_PORT"]))
    aws.reset_clients()
    bootstrap()


def enqueue(first: int, last: int) -> None:
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    bodies = [json.dumps({"event_id": f"bench-{i}", "disbursement_id": i, "status": "COMPLETED",
                          "occurred_at": (at + timedelta(seconds=i)).isoformat()}) for i in range(first, last + 1)]
    sqs, url = aws.client("sqs"), resources.queue_url("disbursement-events")
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": b}
                                                       for k, b in enumerate(bodies[i:i + 10])])


def with_batch_size(manifest: Manifest, size: int) -> Manifest:
    functions = tuple(
        replace(f, trigger={**f.trigger, "batch_size": size}, triggers=({**f.trigger, "batch_size": size},))
        if f.name == "disbursement-events" else f
        for f in manifest.functions
    )
    return replace(manifest, functions=functions)


def run(n: int, batch_size: int) -> float:
    prepare(n)
    manifest = with_batch_size(load_manifest(), batch_size)
    seconds, succeeded = 0.0, 0
    for first in range(1, n + 1, WAVE):
        enqueue(first, min(n, first + WAVE - 1))
        started = time.perf_counter()
        totals = lambda_runtime.drain(functions=["disbursement-events"], manifest=manifest)["disbursement-events"]
        seconds += time.perf_counter() - started
        succeeded += totals.succeeded
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM email_outbox WHERE sent_at IS NOT NULL")
        (sent,) = db.one(cur)
    conn.close()
    if succeeded != n or sent != n:
        raise RuntimeError(f"expected {n} events and emails, got {succeeded} and {sent}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("MOTO_PORT"):
        print("run inside `python -m localdev.services --moto`", file=sys.stderr)
        return 2
    import logging

    logging.disable(logging.INFO)  # the handler's per-event JSON logs would dominate the timing
    medians = {}
    for size in (10, 1):
        times = [run(args.events, size) for _ in range(args.repeat)]
        medians[size] = statistics.median(times)
        label = "batched (10)" if size == 10 else "naive (1)"
        print(f"{label:>13}: {args.events:,} COMPLETED events (apply + SES email) in {medians[size]:.2f}s = "
              f"{args.events / medians[size]:,.0f} events/s  (median of {args.repeat}: "
              + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"batched vs naive: x{medians[1] / medians[10]:.2f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
