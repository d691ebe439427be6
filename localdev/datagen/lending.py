"""A realistic, deterministic demo data set, loaded with COPY.

    python -m localdev.datagen.lending --loans 100000 --seed 7 [--business-date YYYY-MM-DD]

Replaces the lending data (partners, applications, loans, payments, disbursements,
repayment transactions, application history) with a book of ``--loans`` loans:

- borrowers in all three zones with real-looking postal codes (about 4% missing or
  malformed, which exercise the zone fallback);
- four partners, one of them Bukalapak, whose applications carry an ``invoice_id``;
- JULO and PEDE product lines with monthly installment schedules; about 8% of the
  disbursed loans have an installment due exactly at T-3 of the business date (or, given the due
  dates the contact calendar's shift rule moves onto it, spread over those), some of those already
  paid early and some with robocall inactive;
- disbursements in every status, including INITIATED ones whose application is stuck at
  170 (legal agreement signed) or 181 (fund disbursal failed);
- repayment transactions for paid (and some partly paid) installments, allocated late fee →
  interest → principal and shared lender/platform so that every component adds up;
- promise-to-pay numbers as agents type them on a few payments (``ptp_robocall_phone_number``,
  robocalled instead of the application's number): with hyphens, or (1 in 40 installments due at
  T-3) two numbers typed into the one field, which no provider can call: the reminder day records
  those as failed, naming no number.

The same ``--seed`` and business date give the same rows.
"""

from __future__ import annotations

import argparse
import io
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date

import psycopg2.extensions

from chalicelib import db
from chalicelib.business_date import default_demo_date, parse_date
from localdev.datagen.lending_book import PARTNERS, Generator
from localdev.datagen.lending_rows import COLUMNS, LENDING_TABLES, Tables


def _copy(conn: psycopg2.extensions.connection, out: Tables, order: Iterable[str]) -> None:
    with conn.cursor() as cur:
        for table in order:
            buf = out.buffers.get(table)
            if not buf or buf.tell() == 0:
                continue
            buf.seek(0)
            cur.copy_expert(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN", buf, size=1 << 20)
            out.buffers[table] = io.StringIO()


def load(
    conn: psycopg2.extensions.connection,
    loans: int,
    seed: int,
    business_date: date,
    *,
    chunk: int = 2_000,
    progress: Callable[[int], object] | None = None,
    due_dates: Iterable[date] = (),
) -> dict[str, int]:
    """Replace the lending data with a generated book; return row counts per table.

    ``due_dates``: the due dates the business date's reminders cover (default its T-3 only).
    The next chunk is generated (Python) while PostgreSQL takes the previous one (COPY).
    """
    gen = Generator(seed, business_date, due_dates=due_dates)
    insert_order = ("application", "application_history", "loan", "disbursement", "payment")
    counts: Counter[str] = Counter()
    with db.transaction(conn) as cur:
        cur.execute(f"TRUNCATE {', '.join(LENDING_TABLES)}, partner CASCADE")
        cur.executemany(
            "INSERT INTO partner (partner_id, name, partner_type) VALUES (%s, %s, %s)",
            [(p.partner_id, p.name, p.partner_type) for p in PARTNERS],
        )
        for out, size in _generated(gen, loans, chunk):
            _copy(conn, out, insert_order)
            counts.update(out.counts)
            if progress:
                progress(size)
        out = Tables()
        gen.flush_repayments(out)
        _copy(conn, out, ("repayment_transaction",))
        counts.update(out.counts)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ANALYZE {', '.join(LENDING_TABLES)}")
    conn.autocommit = False
    return dict(counts)


class _ChunksAhead:
    """Generates (rows, loans) per chunk in a thread, one chunk ahead of the consumer."""

    def __init__(self, gen: Generator, loans: int, chunk: int) -> None:
        self.gen, self.loans, self.chunk = gen, loans, chunk
        self.ahead: queue.Queue[tuple[Tables, int] | BaseException | None] = queue.Queue(maxsize=1)
        self.stop = threading.Event()

    def hand_over(self, item: tuple[Tables, int] | BaseException | None) -> None:
        while not self.stop.is_set():
            try:
                self.ahead.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce(self) -> None:
        try:
            for start in range(0, self.loans, self.chunk):
                if self.stop.is_set():
                    return
                out = Tables()
                end = min(self.loans, start + self.chunk)
                for i in range(start, end):
                    self.gen.loan(i, out)
                self.hand_over((out, end - start))
            self.hand_over(None)
        except BaseException as exc:  # raised in the consumer
            self.hand_over(exc)


def _generated(gen: Generator, loans: int, chunk: int) -> Iterator[tuple[Tables, int]]:
    """(rows, loans) per chunk, generated one chunk ahead in a thread."""
    chunks = _ChunksAhead(gen, loans, chunk)
    thread = threading.Thread(target=chunks.produce, daemon=True)
    thread.start()
    try:
        while (item := chunks.ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        chunks.stop.set()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.datagen.lending", description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--business-date", type=parse_date, default=None,
                        help="YYYY-MM-DD (default: yesterday in Asia/Jakarta)")
    args = parser.parse_args(argv)
    if args.loans <= 0:
        parser.error("--loans must be positive")
    business_date = args.business_date or default_demo_date()
    from tqdm import tqdm

    conn = db.connect()
    started = time.perf_counter()
    try:
        with tqdm(total=args.loans, unit="loan", desc="demo data", file=sys.stderr) as bar:
            counts = load(conn, args.loans, args.seed, business_date, progress=bar.update)
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    rows = sum(counts.values())
    print(f"loaded {args.loans:,} loans for business date {business_date} in {elapsed:.1f}s "
          f"({args.loans / elapsed:,.0f} loans/s, {rows / elapsed:,.0f} rows/s)")
    for table, n in sorted(counts.items()):
        print(f"  {table:<24} {n:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
