"""Demo step: disbursement events through SQS, the calendar emails, and the daily report to Slack.

Sends events for some of the demo book's PENDING and INITIATED disbursements (plus a
duplicate, an out-of-order event and one poison message), lets the Lambda-like runtime
drain the queue, writes every email SES accepted (read back from moto) to
``emails/<disbursement_id>.eml``, then fires the 09:00 WIB report against a fake Slack and
keeps ``reports/pending_disbursements_<date>.xlsx``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING

from chalicelib import resources, settings
from chalicelib.zones import Zone, local_to_utc
from localdev.aws.moto_ses import sent_raw_emails
from localdev.fakes.slack import FakeSlack
from localdev.lambda_runtime.runtime import LambdaRuntime

if TYPE_CHECKING:
    from localdev.demo.context import DemoContext

COMPLETE = 40   # PENDING -> COMPLETED (each gets the calendar email)
FAIL = 5        # PENDING -> FAILED
ADVANCE = 20    # INITIATED -> PENDING
PICK = """
SELECT disbursement_id FROM disbursement WHERE disburse_status = %s ORDER BY disbursement_id LIMIT %s
"""
SENT_EMAILS = "SELECT ses_message_id, disbursement_id FROM email_outbox WHERE sent_at IS NOT NULL"
COUNT_BY_OUTCOME = "SELECT outcome, count(*) FROM disbursement_event GROUP BY outcome"


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pick(ctx: DemoContext, status: str, n: int) -> list[int]:
    with ctx.conn.cursor() as cur:
        cur.execute(PICK, (status, n))
        ids = [r[0] for r in cur.fetchall()]
    ctx.conn.commit()
    return ids


def _events(ctx: DemoContext) -> tuple[list[str], dict[str, int]]:
    base = local_to_utc(Zone.WIB, ctx.business_date, dtime(10, 0))
    pending = _pick(ctx, "PENDING", COMPLETE + FAIL + 1)
    initiated = _pick(ctx, "INITIATED", ADVANCE)

    def ev(event_id: str, disbursement_id: int, status: str, at: datetime) -> str:
        return json.dumps({"event_id": event_id, "disbursement_id": disbursement_id, "status": status,
                           "occurred_at": at.isoformat().replace("+00:00", "Z")})

    bodies: list[str] = []
    for i, d in enumerate(pending[:COMPLETE]):
        bodies.append(ev(f"demo-{d}-completed", d, "COMPLETED", base + timedelta(seconds=i)))
    for d in pending[COMPLETE:COMPLETE + FAIL]:
        bodies.append(ev(f"demo-{d}-failed", d, "FAILED", base + timedelta(minutes=5)))
    for d in initiated:
        bodies.append(ev(f"demo-{d}-pending", d, "PENDING", base + timedelta(minutes=1)))
    special = {}
    if pending:
        bodies.append(bodies[0])  # duplicate delivery of the first COMPLETED event
        special["duplicate"] = pending[0]
    if len(pending) > COMPLETE + FAIL:
        late = pending[COMPLETE + FAIL]  # FAILED at 10:10, then an older PENDING at 10:02 arrives
        bodies.append(ev(f"demo-{late}-failed", late, "FAILED", base + timedelta(minutes=10)))
        bodies.append(ev(f"demo-{late}-pending-late", late, "PENDING", base + timedelta(minutes=2)))
        special["out_of_order"] = late
    bodies.append('{"event_id": "demo-poison", "disbursement_id": "not-a-number"}')
    return bodies, special


def _send(bodies: list[str]) -> None:
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url("disbursement-events")
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i:i + 10])
        ])


def step_disbursements(ctx: DemoContext) -> None:
    _run(ctx)


RELAYED = ["disbursement-events", "email-outbox"]  # the event, then its email through the outbox relay


def _run(ctx: DemoContext) -> None:
    started = time.perf_counter()
    ctx.aws_ready()
    bodies, special = _events(ctx)
    # the out-of-order pair must arrive in that order: send it after the rest is drained
    tail = bodies[-3:-1] if "out_of_order" in special else []
    head = [b for b in bodies if b not in tail]
    with LambdaRuntime(placeholders=True) as runtime:  # the consumer from the template, IAM enforced
        _send(head)
        totals = runtime.drain(RELAYED)["disbursement-events"]
        if tail:
            _send(tail[:1])
            runtime.drain(RELAYED)
            _send(tail[1:])
            runtime.drain(RELAYED)
    sqs = settings.aws_clients().client("sqs")
    dead = sqs.receive_message(
        QueueUrl=resources.queue_url("disbursement-events-dlq"), MaxNumberOfMessages=10, VisibilityTimeout=0,
    ).get("Messages", [])
    redrive = sqs.get_queue_attributes(QueueUrl=resources.queue_url("disbursement-events"),
                                       AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    max_receives = json.loads(redrive)["maxReceiveCount"]  # the queue's, as the template deploys it

    with ctx.conn.cursor() as cur:
        cur.execute(SENT_EMAILS)
        by_message_id = dict(cur.fetchall())
        cur.execute(COUNT_BY_OUTCOME)
        outcomes = Counter(dict(cur.fetchall()))
    ctx.conn.commit()
    email_dir = ctx.out_dir / "emails"
    email_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for sent in sent_raw_emails():
        disbursement_id = by_message_id.get(sent.message_id)
        if disbursement_id is not None:
            (email_dir / f"{disbursement_id}.eml").write_bytes(sent.raw)
            written += 1
    print(f"\ndisbursement events: {len(bodies)} sent ({totals.received} deliveries), "
          f"outcomes {dict(sorted(outcomes.items()))}; "
          f"duplicate of {special.get('duplicate')}, out-of-order on {special.get('out_of_order')}")
    for m in dead:
        print(f"dead-lettered after {max_receives} receives (the queue's maxReceiveCount): {m['Body']}")
    print(f"calendar emails: {written} written to {email_dir}/ (one per COMPLETED disbursement)")

    report_dir = ctx.out_dir / "reports"
    with FakeSlack() as slack, _env(SLACK_API_URL=slack.api_url, SLACK_BOT_TOKEN=slack.token,
                                    REPORT_DIR=str(report_dir)), LambdaRuntime(placeholders=True) as runtime:
        at = local_to_utc(Zone.WIB, ctx.business_date, dtime(9, 0))
        answer = runtime.fire_schedule("stuck-disbursement-report", at,
                                       {"business_date": ctx.business_date.isoformat()})
        shared = slack.recorded.shared()
    where = (f"posted to Slack {shared[0].channel} as {shared[0].file_id} ({shared[0].title!r}), names masked"
             if shared else f"Slack: {answer['slack']}")
    print(f"stuck-disbursement report: {answer['rows']:,} rows -> {report_dir / answer['file']}; {where}")
    print(f"disbursement step took {time.perf_counter() - started:.1f}s")
