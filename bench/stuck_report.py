"""Stuck-disbursement report at scale: time and peak memory for N stuck rows.

    LOCAL_PG_DB=julo_bench5 \
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/stuck_report.py --rows 100000

Streamed (server-side cursor + xlsxwriter constant_memory, the shipped code) against naive
(fetchall + a normal in-memory workbook), each in a fresh process so peak RSS is its own;
prints the median of --repeat runs and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db  # noqa: E402

AS_OF = date(2026, 11, 23)

SEED_SQL = """
TRUNCATE repayment_transaction, application_history, payment, disbursement, loan, application RESTART IDENTITY CASCADE;
INSERT INTO partner (partner_id, name) VALUES (1, 'Bench Partner') ON CONFLICT DO NOTHING;
INSERT INTO application (application_id, application_xid, customer_id, partner_id, product_line_code, fullname,
                         email, mobile_phone_1, bank_name, application_status_code, cdate)
SELECT g, 5000000000 + g, g, 1, (ARRAY[10, 20, 100, 200])[1 + g %% 4], 'Borrower Nomor ' || g,
       'b' || g || '@example.com', '0812' || lpad(g::text, 8, '0'), (ARRAY['BCA','BRI','BNI','Mandiri'])[1 + g %% 4],
       CASE WHEN g %% 5 = 0 THEN 181 ELSE 170 END, now() - interval '3 days'
FROM generate_series(1, %(rows)s) g;
INSERT INTO loan (loan_id, application_id, customer_id, partner, loan_status_code, product_code, loan_amount,
                  loan_duration, installment_amount, disbursement_id)
SELECT g, g, g, 1, 210, (ARRAY[10, 20, 100, 200])[1 + g %% 4], 1000000 + (g %% 70) * 100000, 6, 300000, g
FROM generate_series(1, %(rows)s) g;
INSERT INTO disbursement (disbursement_id, loan_id, disburse_status, disburse_amount, bank_code, retry_times)
SELECT g, g, 'INITIATED', 950000 + (g %% 70) * 95000, '014', CASE WHEN g %% 5 = 0 THEN 1 ELSE 0 END
FROM generate_series(1, %(rows)s) g;
INSERT INTO application_history (application_id, status_old, status_new, cdate)
SELECT g, s.old, s.new, now() - interval '3 days' + s.k * interval '1 hour'
FROM generate_series(1, %(rows)s) g
CROSS JOIN LATERAL (VALUES (1, NULL::int, 100), (2, 100, 160), (3, 160, 170), (4, 170, 181)) s(k, old, new)
WHERE s.new <> 181 OR g %% 5 = 0;
ANALYZE;
"""


def seed(rows: int) -> None:
    conn = db.connect()
    with db.transaction(conn) as cur:
        cur.execute(SEED_SQL, {"rows": rows})
    conn.close()


def run_child(mode: str) -> dict:
    from chalicelib.stuck_disbursements.columns import load_settings
    from chalicelib.stuck_disbursements.query import STUCK_SQL, iter_stuck
    from chalicelib.stuck_disbursements.xlsx import write_report

    conn = db.connect()
    settings = load_settings(conn)
    out = Path(tempfile.mkdtemp()) / f"{mode}.xlsx"
    started = time.perf_counter()
    if mode == "streamed":
        rows = write_report(out, settings.columns, iter_stuck(conn, AS_OF))
    else:
        import xlsxwriter

        with conn.cursor() as cur:
            cur.execute(STUCK_SQL, {"as_of": AS_OF})
            names = db.column_names(cur)
            data = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        workbook = xlsxwriter.Workbook(str(out))
        sheet = workbook.add_worksheet()
        for c, col in enumerate(settings.columns):
            sheet.write(0, c, col.header)
        for r, row in enumerate(data, start=1):
            for c, col in enumerate(settings.columns):
                sheet.write(r, c, row[col.key])
        sheet.autofit()
        workbook.close()
        rows = len(data)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb, "bytes": out.stat().st_size}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["streamed", "naive"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child)))
        return 0
    t = time.perf_counter()
    seed(args.rows)
    print(f"seeded {args.rows:,} stuck applications in {time.perf_counter() - t:.1f}s")
    results: dict[str, list[dict]] = {"streamed": [], "naive": []}
    for _ in range(args.repeat):
        for mode in results:
            out = subprocess.run([sys.executable, __file__, "--child", mode], check=True, capture_output=True,
                                 text=True).stdout
            results[mode].append(json.loads(out.strip().splitlines()[-1]))
    med = {m: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_rss_mb")}
           for m, runs in results.items()}
    rows = results["streamed"][0]["rows"]
    for mode, figures in med.items():
        print(f"{mode:>9}: {rows:,} rows in {figures['seconds']:.2f}s ({rows / figures['seconds']:,.0f} rows/s), "
              f"peak RSS {figures['peak_rss_mb']:.0f} MB  (median of {args.repeat})")
    print(f"streamed vs naive: time x{med['naive']['seconds'] / med['streamed']['seconds']:.2f} faster, "
          f"peak memory x{med['naive']['peak_rss_mb'] / med['streamed']['peak_rss_mb']:.2f} lower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
