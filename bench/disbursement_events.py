"""Disbursement-event consumer: its own cost per event, and throughput end to end (moto SQS + SES).

    LOCAL_PG_DB=julo_bench5 MOTO_PORT=5105 \
      .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/disbursement_events.py --events 1000

1. **Own cost per event** (SQS and SES excluded): ``functions.disbursement_events.handler`` is
   called with in-memory SQS batches of 10 (the relay's SQS send is a no-op), against the
   "old path" of commit 5cc61a8 (its ``apply.py`` read from git: eight statements, then the
   calendar email built in line with a no-op mailer, one connection per container). Both run
   in the same process on the same data, alternately; the median of per-batch ms/event.
2. **End to end**: N PENDING disbursements (3 installments each), N COMPLETED events on the
   queue, drained by the local Lambda runtime through the event consumer and the email relay
   (apply, outbox, relay message, calendar email through SES). Compared with the naive set-up
   (batch size 1: one invocation, receive and delete per message).

Events are enqueued in waves of 100 and only the draining is timed: moto's SQS receive is
O(queue depth), so a deep local queue would measure moto, not the consumer (with 1,000
queued, the first 100 take ~5x longer than the last 100).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db, resources, settings  # noqa: E402
from infra.manifest import Manifest, load_manifest  # noqa: E402
from localdev.aws.bootstrap import bootstrap  # noqa: E402
from localdev.lambda_runtime.runtime import LambdaRuntime  # noqa: E402
from localdev.servers import moto_server  # noqa: E402

WAVE = 100
OLD_PATH_COMMIT = "5cc61a8"
ERRORS: list[str] = []
AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
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


def seed(n: int) -> None:
    conn = db.connect()
    with db.transaction(conn) as cur:
        cur.execute(SEED_SQL, {"n": n})
    conn.close()


def prepare(n: int) -> None:
    seed(n)
    moto_server.reset(int(os.environ["MOTO_PORT"]))
    settings.forget_aws_clients()
    bootstrap()


def body(i: int) -> str:
    return json.dumps({"event_id": f"bench-{i}", "disbursement_id": i, "status": "COMPLETED",
                       "occurred_at": (AT + timedelta(seconds=i)).isoformat()})


def sqs_batch(first: int, last: int) -> dict[str, Any]:
    return {"Records": [{
        "messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body(i), "md5OfBody": "",
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:ap-southeast-3:000000000000:disbursement-events",
        "awsRegion": "ap-southeast-3",
    } for i in range(first, last + 1)]}


class NoOpMailer:
    def send_raw(self, message: Any, sender: str, to: list[str]) -> str:
        message.as_bytes()  # what SES would be handed; the call itself is excluded
        return "bench"


def old_apply_module() -> ModuleType | None:
    """``chalicelib/disbursements/apply.py`` as of OLD_PATH_COMMIT (None without git history)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_PATH_COMMIT}:chalicelib/disbursements/apply.py"],
            capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("bench_old_apply", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{OLD_PATH_COMMIT}:apply.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def old_handler(old_apply: ModuleType) -> Callable[[dict[str, Any], Any], Any]:
    """The consumer of OLD_PATH_COMMIT: per record parse, apply, build + send the email, one connection."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from chalicelib.disbursements.calendar_email import send_calendar_email
    from chalicelib.disbursements.event import parse_event

    processor = BatchProcessor(event_type=EventType.SQS)
    conn = db.connect()

    def handle(record: Any) -> None:
        try:
            event = parse_event(record.body)
            old_apply.apply_event(conn, event)
            send_calendar_email(conn, event.disbursement_id, NoOpMailer(), "no-reply@example.co.id",
                                datetime.now(UTC))
        except Exception as exc:
            ERRORS.append(f"old path: {type(exc).__name__}: {exc}")
            raise

    return lambda event, context: process_partial_response(event=event, record_handler=handle,
                                                           processor=processor, context=context)


class NoOpRelay:
    def enqueue(self, disbursement_id: int) -> None:
        """The relay's SQS send is excluded from the consumer's own cost."""


def new_handler() -> Callable[[dict[str, Any], Any], Any]:
    from chalicelib.disbursements import consumer
    from functions import disbursement_events

    def handler(event: dict[str, Any], context: Any) -> Any:
        real = consumer.SqsEmailRelay
        consumer.SqsEmailRelay = NoOpRelay  # type: ignore[misc,assignment]
        try:
            return disbursement_events.handler(event, context)
        finally:
            consumer.SqsEmailRelay = real  # type: ignore[misc]

    return handler


def own_cost(handler: Callable[[dict[str, Any], Any], Any], n: int) -> list[float]:
    """ms/event of each batch of 10, on n freshly seeded PENDING disbursements."""
    seed(n)
    samples = []
    for first in range(1, n + 1, 10):
        event = sqs_batch(first, min(n, first + 9))
        started = time.perf_counter()
        answer = handler(event, None)
        samples.append((time.perf_counter() - started) * 1000 / len(event["Records"]))
        if answer["batchItemFailures"]:
            raise RuntimeError(f"bench events failed: {answer}; first error: {ERRORS[:1]}")
    return samples


def enqueue(first: int, last: int) -> None:
    bodies = [body(i) for i in range(first, last + 1)]
    sqs, url = settings.aws_clients().client("sqs"), resources.queue_url("disbursement-events")
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": b}
                                                       for k, b in enumerate(bodies[i:i + 10])])


def with_batch_size(manifest: Manifest, size: int) -> Manifest:
    functions = tuple(
        replace(f, trigger={**f.trigger, "batch_size": size}, triggers=({**f.trigger, "batch_size": size},))
        if f.name in FUNCTIONS else f
        for f in manifest.functions
    )
    return replace(manifest, functions=functions)


FUNCTIONS = ("disbursement-events", "email-outbox")


def run(n: int, batch_size: int) -> float:
    prepare(n)
    runtime = LambdaRuntime.in_process(with_batch_size(load_manifest(), batch_size))
    seconds, succeeded = 0.0, 0
    for first in range(1, n + 1, WAVE):
        enqueue(first, min(n, first + WAVE - 1))
        started = time.perf_counter()
        totals = runtime.drain(FUNCTIONS)["disbursement-events"]
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
    parser.add_argument("--own-events", type=int, default=500, help="events per own-cost run")
    args = parser.parse_args()
    if not os.environ.get("MOTO_PORT"):
        print("run inside `python -m localdev.services --moto`", file=sys.stderr)
        return 2
    import logging

    logging.disable(logging.INFO)  # the handler's per-event JSON logs would dominate the timing

    old_apply = old_apply_module()
    paths = {"new": new_handler()}
    if old_apply is not None:
        paths["old"] = old_handler(old_apply)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeat):  # alternate, so load on the machine hits both alike
        for name, handler in paths.items():
            samples[name] += own_cost(handler, args.own_events)
    own = {name: statistics.median(xs) for name, xs in samples.items()}
    print(f"own cost per event (SQS, SES excluded; median of {len(samples['new'])} batches of 10):")
    print(f"  new path: {own['new']:.2f} ms/event")
    if "old" in own:
        print(f"  old path ({OLD_PATH_COMMIT}): {own['old']:.2f} ms/event   new is x{own['old'] / own['new']:.1f} "
              "cheaper")
    else:
        print(f"  old path: not measured (no git history with {OLD_PATH_COMMIT})")

    medians = {}
    for size in (10, 1):
        times = [run(args.events, size) for _ in range(args.repeat)]
        medians[size] = statistics.median(times)
        label = "batched (10)" if size == 10 else "naive (1)"
        print(f"end to end {label:>13}: {args.events:,} COMPLETED events (apply + relay + SES email) in "
              f"{medians[size]:.2f}s = {args.events / medians[size]:,.0f} events/s, "
              f"{medians[size] * 1000 / args.events:.1f} ms/event (median of {args.repeat}: "
              + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"batched vs naive: x{medians[1] / medians[10]:.2f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
