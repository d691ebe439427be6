"""Driving a reminder day by hand for the chaos scenarios, and the three invariants they check.

Only the deployed interfaces are used (the state machine in moto, the queues, the Lambda handlers
through the local runtime, the fake providers and the HTTP callbacks), so a scenario runs the same
against any version of the reminder code.

Invariants:
- ``calls_per_pair``: how many calls/messages each (payment, stage) got; none may get two;
- ``assert_summary_adds_up``: per stage (per attempt) selected = placed + place_failed + unknown
  + not_placed, from the execution's own output;
- ``Day.finish``: every execution ends SUCCEEDED or FAILED with a reason within the test's time
  budget, which is far below the stage heartbeat (900 s): it never waits out a heartbeat.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from datetime import time as clock_time
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalicelib import resources, settings
from chalicelib.reminders.adapters import Executions
from chalicelib.reminders.scheduling import STATE_MACHINE, execution_name
from chalicelib.zones import Zone, local_to_utc
from localdev.lambda_runtime.events import Delivery
from localdev.reminder_day import DISPATCH_FUNCTIONS, STAGE_FUNCTION, LocalReminderStack

STAGES_QUEUE = "reminder-stages"
# far below HeartbeatSeconds (900): finishing inside it means no heartbeat was waited out
FINISH_BUDGET_SECONDS = 150.0


def fast_retries(heartbeat_seconds: int | None = None) -> None:
    """Compress the state machine's clock: retry interval 1 s and, if given, the stage heartbeat."""
    sfn = settings.aws_clients().client("stepfunctions")
    arn = resources.state_machine_arn(STATE_MACHINE)
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    for state in definition["States"].values():
        if heartbeat_seconds is not None and "HeartbeatSeconds" in state:
            state["HeartbeatSeconds"] = heartbeat_seconds
        for retry in state.get("Retry", []):
            retry["IntervalSeconds"], retry["BackoffRate"] = 1, 1.0
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))


def _ref_text(rec: Any) -> str | None:
    body = rec.body
    if rec.channel == "whatsapp":
        return body.get("biz_opaque_callback_data")
    if rec.channel == "sms":
        return body.get("client-ref")
    urls = body.get("event_url") or []
    if not urls:
        return None
    return (parse_qs(urlparse(str(urls[0])).query).get("ref") or [None])[0]


def _placed(rec: Any) -> bool:
    placed = getattr(rec, "placed", None)
    if placed is not None:
        return bool(placed)
    return 200 <= int(rec.http_status) < 300


def calls_per_pair(stack: LocalReminderStack) -> Counter[tuple[int, str]]:
    """(payment id, stage) -> calls or messages the providers placed for it."""
    pairs: Counter[tuple[int, str]] = Counter()
    for rec in [*stack.voice.records, *stack.whatsapp.records, *stack.sms.records]:
        ref = _ref_text(rec)
        if ref and "|" in ref and _placed(rec):  # a reminder's reference (an opt-out confirmation has none)
            payment_id, _day, stage = ref.split("|")[:3]
            pairs[(int(payment_id), stage)] += 1
    return pairs


def called_twice(stack: LocalReminderStack) -> dict[tuple[int, str], int]:
    return {pair: n for pair, n in calls_per_pair(stack).items() if n > 1}


def assert_summary_adds_up(execution: dict[str, Any]) -> dict[str, dict[str, int]]:
    stages = json.loads(execution["output"])["stages"]
    for stage, row in stages.items():
        parts = sum(int(row.get(k, 0)) for k in ("placed", "place_failed", "unknown", "not_placed", "skipped"))
        assert row["selected"] == parts, f"{stage}: selected {row['selected']} != placed + place_failed + " \
                                         f"unknown + not_placed + skipped = {parts} ({row})"
    return stages


@dataclass
class Day:
    """One zone's T-3 day, delivered message by message."""

    stack: LocalReminderStack
    business_date: date
    zone: Zone = Zone.WIB
    stage_failures: int = 0
    dispatch_failures: int = 0

    def start(self) -> None:
        at = local_to_utc(self.zone, self.business_date, clock_time(8, 0))
        self.stack.runtime.fire_schedule(f"reminder-schedule-{self.zone.name.lower()}", at,
                                         {"business_date": self.business_date.isoformat()})

    def take_stage_message(self, stage: str, timeout: float = 90.0) -> dict[str, Any]:
        """Take the workflow's message for ``stage`` off the stage queue (as if its worker were lost)."""
        sqs = settings.aws_clients().client("sqs")
        url = resources.queue_url(STAGES_QUEUE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                body = json.loads(m["Body"])
                if body.get("stage") == stage:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    return body
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        raise AssertionError(f"the workflow never sent the {stage} stage message")

    def send_stage_message(self, body: dict[str, Any]) -> None:
        settings.aws_clients().client("sqs").send_message(QueueUrl=resources.queue_url(STAGES_QUEUE),
                                                          MessageBody=json.dumps(body))

    def deliver_stage(self) -> Delivery:
        delivery = self.stack.runtime.deliver(STAGE_FUNCTION)
        self.stage_failures += delivery.failed
        return delivery

    def deliver_dispatch_once(self, function: str = "reminder-dispatch-robocall") -> Delivery:
        delivery = self.stack.runtime.deliver(function)
        self.dispatch_failures += delivery.failed
        return delivery

    def drain_dispatch(self) -> None:
        totals = self.stack.runtime.drain(DISPATCH_FUNCTIONS, idle=self.stack.idle)
        self.dispatch_failures += sum(d.failed for d in totals.values())

    def fail_task(self, body: dict[str, Any], error: str = "StageLost") -> None:
        """What Step Functions does when a stage's task is lost: fail it (its Retry starts the next attempt).

        (A real heartbeat timeout raises ``States.HeartbeatTimeout``; the API refuses ``States.*``
        names, and the same Retry entry matches any task failure through ``States.TaskFailed``.)
        """
        settings.aws_clients().client("stepfunctions").send_task_failure(taskToken=body["task_token"], error=error,
                                                      cause="chaos: the stage's task was lost")

    def run_stage_normally(self, stage: str) -> None:
        self.send_stage_message(self.take_stage_message(stage))
        self.deliver_stage()
        self.drain_dispatch()

    def execution(self) -> dict[str, Any] | None:
        return Executions(STATE_MACHINE).describe(execution_name(self.zone, self.business_date))

    def finish(self, budget: float = FINISH_BUDGET_SECONDS) -> dict[str, Any]:
        """Deliver everything until the execution ends; fails if it is still running after ``budget``."""
        deadline = time.monotonic() + budget
        while True:
            self.drain_dispatch()
            if self.deliver_stage().received:
                continue
            described = self.execution()
            if described is not None and described["status"] != "RUNNING" \
                    and self.stack.runtime.queue_depth(STAGES_QUEUE) == 0:
                # let the providers deliver their last webhooks while the app still listens: a fake left
                # retrying against a stopped app would keep sleeping in the next test's process
                self.stack.voice.wait_idle(30)
                self.stack.whatsapp.wait_idle(30)
                self.stack.sms.wait_idle(30)
                return described
            if time.monotonic() > deadline:
                raise AssertionError(f"execution still {described and described['status']} after {budget:.0f}s: "
                                     "it is waiting for a task token nobody will complete (heartbeat)")
            time.sleep(0.05)

    def history_errors(self) -> list[str]:
        described = self.execution()
        assert described is not None
        events = settings.aws_clients().client("stepfunctions").get_execution_history(
            executionArn=described["executionArn"], maxResults=1000)["events"]
        return [str(d.get("error")) for e in events for k, d in e.items() if k.endswith("EventDetails")
                and isinstance(d, dict) and d.get("error")]
