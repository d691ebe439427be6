"""What the contact policy costs a dispatch chunk: the send-time check and the contact history.

    LOCAL_PG_DB=julo_bench_contact \\
      .venv/bin/python -m localdev.services -- .venv/bin/python bench/contact_policy.py --contacts 2000

Loads a demo book (``--loans``) into the database in DATABASE_URL, opts a tenth of the numbers out of
WhatsApp, then times, in the same run:

- ``may_send``: the pure policy decision (calendar, hours, preferences), per call;
- the send-time read (``contact_facts``: the number's preferences and its loans' do-not-call, one
  indexed query, read committed so a mid-stage opt-out is seen), per contact;
- the chunk's contact history: one ``INSERT ... SELECT FROM (VALUES ...)`` per chunk vs. the naive one
  INSERT and commit per payment (ratio printed).

Prints medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db  # noqa: E402
from chalicelib.contact_data import history, preferences  # noqa: E402
from chalicelib.contact_data.history import Contact  # noqa: E402
from chalicelib.contact_policy import ContactPolicy, Send  # noqa: E402
from chalicelib.reminders.contact import load_policy  # noqa: E402
from chalicelib.zones import Zone  # noqa: E402
from localdev.datagen.lending import load  # noqa: E402

DAY = date(2026, 11, 20)
NAIVE_INSERT = """
INSERT INTO contact_history (payment_id, loan_id, customer_id, phone, channel, zone, business_date, stage, attempt,
                             at_utc, at_local, result, reason, provider_id)
SELECT %s, %s, (SELECT customer_id FROM loan WHERE loan_id = %s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
ON CONFLICT (payment_id, business_date, stage) DO NOTHING
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=5000)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    conn = db.connect()
    db.migrate(conn)
    load(conn, args.loans, 7, DAY)
    with conn.cursor() as cur:
        cur.execute("SELECT p.payment_id, p.loan_id, a.mobile_phone_1 FROM payment p JOIN loan l USING (loan_id) "
                    "JOIN application a USING (application_id) ORDER BY p.payment_id LIMIT %s", (args.contacts,))
        rows = cur.fetchall()
        cur.execute("TRUNCATE contact_preference, contact_preference_audit, contact_history")
    conn.commit()
    for _pid, _loan, phone in rows[::10]:
        preferences.change(conn, phone, {"whatsapp": "opted_out"}, source="staff", reason="bench", commit=False)
    conn.commit()

    policy: ContactPolicy = load_policy(conn, DAY)
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 WIB
    send = Send(Zone.WIB, DAY, "whatsapp", opted_out=frozenset({"whatsapp"}))
    decide, facts, batched, naive = [], [], [], []
    for r in range(args.repeat):
        started = time.perf_counter()
        for _ in range(10_000):
            policy.may_send(send, now)
        decide.append((time.perf_counter() - started) / 10_000)

        started = time.perf_counter()
        for _pid, loan_id, phone in rows:
            preferences.contact_facts(conn, phone, [loan_id])
        conn.rollback()
        facts.append((time.perf_counter() - started) / len(rows))

        contacts = [Contact(pid, loan_id, phone, "whatsapp", "WIB", DAY + timedelta(days=r), "whatsapp", 0, now,
                            "placed", None, f"wamid.{pid}") for pid, loan_id, phone in rows]
        started = time.perf_counter()
        history.record(conn, contacts, Zone.WIB.tzinfo)
        batched.append(time.perf_counter() - started)

        started = time.perf_counter()
        with conn.cursor() as cur:
            for c in contacts:
                cur.execute(NAIVE_INSERT, (c.payment_id, c.loan_id, c.loan_id, c.phone, c.channel, c.zone,
                                           c.business_date + timedelta(days=100), c.stage, c.attempt, c.at,
                                           c.at.replace(tzinfo=None), c.result, c.reason, c.provider_id))
                conn.commit()
        naive.append(time.perf_counter() - started)

    med = statistics.median
    print(f"contacts per chunk: {len(rows):,}; repeats: {args.repeat} (medians)")
    print(f"may_send (pure decision):                {med(decide) * 1e6:8.1f} us per send")
    print(f"send-time read (preferences + loans):    {med(facts) * 1e6:8.1f} us per contact")
    print(f"contact history, one statement/chunk:    {med(batched) * 1e3:8.1f} ms per {len(rows):,} rows")
    print(f"contact history, naive insert+commit/row: {med(naive) * 1e3:8.1f} ms per {len(rows):,} rows "
          f"(ratio naive / batched: {med(naive) / med(batched):.1f}x)")
    conn.close()


if __name__ == "__main__":
    main()
