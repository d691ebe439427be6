"""One reminder stage at scale: select N due payments and enqueue them for dispatch.

    LOCAL_PG_DB=julo_bench3 MOTO_PORT=5103 \\
      .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/stage_fanout.py --payments 1000000

Generates N T-3 payments in one zone (WIB) with set-based SQL (kept between runs when the count
matches), then, each in a fresh subprocess so peak RSS is its own:

- **stage** (what ships): ``run_stage`` — one streamed query in which PostgreSQL orders by
  priority, cuts at capacity and builds chunks as JSON (4,000 payments at a high provider rate);
  each chunk gzip+base64 (~100 KB) on SQS, batched up to 240 KB per ``SendMessageBatch``;
- **naive**: list the ids, then one query per payment and one ``SendMessage`` per payment, on a
  smaller ``--naive-payments`` (default 5,000) and scaled linearly to N (it is linear: each
  payment costs the same two round trips).

Prints the median wall time of ``--repeat`` runs, peak RSS, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db, resources, settings  # noqa: E402
from chalicelib.reminders.adapters import TaskCallbacks  # noqa: E402
from chalicelib.reminders.messages import DISPATCH_QUEUES, StageMessage  # noqa: E402
from chalicelib.reminders.selection import due_date_for  # noqa: E402
from chalicelib.reminders.stage_worker import run_stage  # noqa: E402
from chalicelib.reminders.stages import Channel, Stage, StageRun, slot_utc  # noqa: E402
from chalicelib.reminders.store.dynamo import DynamoReminderStore  # noqa: E402
from chalicelib.settings import StageSettings  # noqa: E402
from chalicelib.zones import Zone  # noqa: E402

BUSINESS_DATE = date(2026, 11, 20)
QUEUE = DISPATCH_QUEUES[Channel.ROBOCALL]

GENERATE_SQL = """
TRUNCATE payment, loan, disbursement, application, partner RESTART IDENTITY CASCADE;
INSERT INTO partner (partner_id, name, partner_type) VALUES (1, 'Bench Lender', 'lender');
INSERT INTO application (application_id, application_xid, customer_id, partner_id, product_line_code, fullname,
                         email, mobile_phone_1, has_whatsapp_1, address_kodepos, loan_purpose, credit_grade,
                         bank_name, application_status_code, cdate)
SELECT g, 9000000000 + g, 200000 + g, 1, CASE WHEN g %% 5 = 0 THEN 100 ELSE 10 END, 'Peminjam ' || g,
       'p' || g || '@example.co.id', '0812' || lpad(g::text, 8, '0'), TRUE,
       CASE WHEN g %% 25 = 0 THEN NULL ELSE '1' || lpad((g %% 5000)::text, 4, '0') END, 'Modal usaha', 'B',
       'BCA', 180, now()
FROM generate_series(1, %(n)s) AS g;
INSERT INTO loan (loan_id, application_id, customer_id, application_xid, partner, loan_status_code, product_code,
                  loan_amount, loan_duration, installment_amount, julo_bank_name, julo_bank_account_number,
                  disbursement_id, fund_transfer_ts, cdate)
SELECT g, g, 200000 + g, 9000000000 + g, 1, 220, 10, 3000000, 3, 1120000, 'BCA', '10994' || g, NULL, now(), now()
FROM generate_series(1, %(n)s) AS g;
INSERT INTO payment (payment_id, loan_id, payment_number, payment_status_code, due_date, due_amount,
                     installment_principal, installment_interest, is_robocall_active, is_whatsapp)
SELECT g, g, 1, 310, %(due)s, 500000 + (g::bigint * 7919) %% 5000000, 1000000, 120000, TRUE, TRUE
FROM generate_series(1, %(n)s) AS g;
ANALYZE application; ANALYZE loan; ANALYZE payment;
"""


def ensure_data(n: int) -> None:
    conn = db.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM payment WHERE due_date = %s", (due_date_for(BUSINESS_DATE),))
        (have,) = db.one(cur)
        if have == n:
            print(f"reusing {n:,} generated T-3 payments")
            conn.close()
            return
        started = time.perf_counter()
        cur.execute(GENERATE_SQL, {"n": n, "due": due_date_for(BUSINESS_DATE)})
    conn.commit()
    conn.close()
    print(f"generated {n:,} T-3 payments in {time.perf_counter() - started:.1f}s")


def purge() -> None:
    """Empty the dispatch queue between runs (PurgeQueue is limited to once a minute: recreate it)."""
    from localdev.aws.bootstrap import bootstrap

    settings.aws_clients().client("sqs").delete_queue(QueueUrl=resources.queue_url(QUEUE))
    bootstrap()


def run_fast(n: int) -> dict:
    plan = StageSettings(planned_calls_per_second=1_000_000)  # measure fan-out, not the capacity cut
    conn = db.connect()
    msg = StageMessage(StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1, int(time.time())), "bench-token")
    started = time.perf_counter()
    counts = run_stage(conn, msg, plan, store=DynamoReminderStore(), tasks=TaskCallbacks(),
                       now=slot_utc(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1))  # the day as at its slot
    elapsed = time.perf_counter() - started
    conn.close()
    return {"seconds": elapsed, "payments": counts["enqueued"], "messages": counts["chunks"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


NAIVE_ONE = """
SELECT p.payment_id, p.loan_id, l.application_id, p.payment_number, p.due_date, p.due_amount,
       p.is_success_robocall, p.is_whatsapp, p.is_whatsapp_blasted, p.robocall_template_id,
       COALESCE(p.ptp_robocall_phone_number, a.mobile_phone_1), a.has_whatsapp_1, a.fullname, a.address_kodepos,
       a.product_line_code, pl.product_family
FROM payment p JOIN loan l ON l.loan_id = p.loan_id JOIN application a ON a.application_id = l.application_id
LEFT JOIN product_line pl ON pl.product_line_code = a.product_line_code
WHERE p.payment_id = %s
"""


def run_naive(n: int) -> dict:
    from chalicelib.reminders.selection import iter_t3_payments

    conn = db.connect()
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url(QUEUE)
    started = time.perf_counter()
    ids = [p.payment_id for _, p in zip(range(n), iter_t3_payments(conn, Zone.WIB, BUSINESS_DATE), strict=False)]
    conn.commit()
    with conn.cursor() as cur:
        for payment_id in ids:
            cur.execute(NAIVE_ONE, (payment_id,))
            row = db.one(cur)
            body = {"payment_id": row[0], "loan_id": row[1], "phone": row[10], "name": row[12], "amount": row[5],
                    "due_date": row[4].isoformat(), "product": row[15], "postcode": row[13]}
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    elapsed = time.perf_counter() - started
    conn.close()
    return {"seconds": elapsed, "payments": len(ids), "messages": len(ids),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(mode: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--payments", str(n)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--naive-payments", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["fast", "naive"])
    args = parser.parse_args()
    if args.child:
        result = run_fast(args.payments) if args.child == "fast" else run_naive(args.payments)
        print(json.dumps(result))
        return 0

    from localdev.aws.bootstrap import bootstrap

    bootstrap()
    ensure_data(args.payments)
    fast, naive = [], []
    for _ in range(args.repeat):
        purge()
        fast.append(child("fast", args.payments))
        purge()
        naive.append(child("naive", min(args.naive_payments, args.payments)))
    purge()
    f_med = statistics.median(r["seconds"] for r in fast)
    n_med = statistics.median(r["seconds"] for r in naive)
    n_count = naive[0]["payments"]
    naive_scaled = n_med * args.payments / n_count
    print(f"\none stage, {args.payments:,} due payments (median of {args.repeat})")
    print(f"  stage (chunks built in SQL, gzip'd, batched): {f_med:8.2f} s  "
          f"{args.payments / f_med:>10,.0f} payments/s  {fast[0]['messages']:,} messages  "
          f"peak RSS {max(r['peak_rss_mb'] for r in fast):.0f} MB")
    print(f"  naive (query + SendMessage per payment) on {n_count:,}: {n_med:8.2f} s  "
          f"{n_count / n_med:>10,.0f} payments/s  peak RSS {max(r['peak_rss_mb'] for r in naive):.0f} MB")
    print(f"  naive scaled linearly to {args.payments:,}: {naive_scaled:,.0f} s")
    print(f"  speed-up: {naive_scaled / f_med:,.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
