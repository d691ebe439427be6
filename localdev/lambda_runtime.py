"""What AWS Lambda would do, for the functions of infra/functions.yaml, on this machine.

Two modes. Inside ``with TemplateRuntime(...)`` (``localdev/template_stack.py``: the local day
from ``dist/template.json``, IAM enforced, timeouts and concurrency kept) every call below is
routed to that runtime's containers. Otherwise handlers run in this process (quick tests of
one handler against a manifest of their own).

- ``deliver_sqs(function)``: receive a batch from the function's queue, invoke the handler
  with the exact SQS event shape Lambda builds, delete the messages the handler did not
  report in ``batchItemFailures`` (partial batch responses), and leave the failed ones for
  redelivery (made visible again at once, so a local run needs no waiting). moto and
  LocalStack move a message to the DLQ once its receive count passes maxReceiveCount.
- ``drain(...)``: keep delivering until every SQS-triggered queue is empty.
- ``fire_schedule(function, at)``: invoke a scheduled function with its configured input
  (EventBridge's constant input), or with a Scheduled Event when it has none.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import resources, settings
from infra.manifest import FunctionSpec, Manifest, load_manifest

if TYPE_CHECKING:
    from localdev.template_stack import TemplateRuntime

ACCOUNT = "000000000000"
_ACTIVE: list[TemplateRuntime] = []


def activate(runtime: TemplateRuntime) -> None:
    """Route invocations to ``runtime`` (the template's functions in their containers)."""
    _ACTIVE.append(runtime)


def deactivate(runtime: TemplateRuntime) -> None:
    if runtime in _ACTIVE:
        _ACTIVE.remove(runtime)


def active() -> TemplateRuntime | None:
    return _ACTIVE[-1] if _ACTIVE else None


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_s: int = 60
    memory_limit_in_mb: int = 512

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{settings.aws_region()}:{ACCOUNT}:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def invoke(function: FunctionSpec, event: dict[str, Any]) -> Any:
    runtime = active()
    if runtime is not None and function.name in runtime.functions:
        inv = runtime.invoke(function.name, event)
        if inv.error is not None:
            raise RuntimeError(f"{function.name}: {inv.error}")
        return inv.result
    handler = load_handler(function.handler)
    return handler(event, LambdaContext(function.name, function.timeout, function.memory))


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            k: {
                "stringValue": v.get("StringValue"),
                "binaryValue": v.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v["DataType"],
            }
            for k, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": settings.aws_region(),
    }


_sqs_record = sqs_record  # the name the chaos harness imports


@dataclass
class Delivery:
    received: int = 0
    succeeded: int = 0
    failed: int = 0


def deliver_sqs(function: FunctionSpec, wait_seconds: int = 0) -> Delivery:
    """One Lambda invocation's worth of messages from the function's queue."""
    runtime = active()
    if runtime is not None and function.name in runtime.functions:
        received, failed = runtime.deliver(function.name, wait_seconds)
        return Delivery(received=received, succeeded=received - failed, failed=failed)
    queue = function.sqs_queue
    if not queue:
        raise ValueError(f"{function.name} has no SQS trigger")
    sqs = settings.aws_clients().client("sqs")
    url = resources.queue_url(queue)
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    batch_size = int(function.trigger.get("batch_size", 10))
    resp = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
    )
    messages = resp.get("Messages", [])
    if not messages:
        return Delivery()
    event = {"Records": [sqs_record(m, queue_arn) for m in messages]}
    try:
        result = invoke(function, event) or {}
        failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    except Exception:
        failed_ids = {m["MessageId"] for m in messages}  # the whole batch comes back, as in Lambda
    done = [m for m in messages if m["MessageId"] not in failed_ids]
    for i in range(0, len(done), 10):
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    for m in messages:
        if m["MessageId"] in failed_ids:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return Delivery(received=len(messages), succeeded=len(done), failed=len(failed_ids))


def queue_depth(name: str) -> int:
    attrs = settings.aws_clients().client("sqs").get_queue_attributes(
        QueueUrl=resources.queue_url(name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def drain(
    functions: Iterable[str] | None = None,
    *,
    manifest: Manifest | None = None,
    max_rounds: int = 10_000,
    idle: Callable[[], bool] | None = None,
) -> dict[str, Delivery]:
    """Deliver messages to the SQS-triggered functions until their queues are empty.

    ``idle``, if given, must also return True before draining stops (e.g. "no provider
    callbacks outstanding").
    """
    runtime = active()
    names = None if functions is None else list(functions)
    routed = (names is None and manifest is None) or (names is not None and all(n in runtime.functions for n in names)
                                                       if runtime is not None else False)
    if runtime is not None and routed:
        delivered = runtime.drain(names, idle=idle)
        return {name: Delivery(received=r, succeeded=r - f, failed=f) for name, (r, f) in delivered.items()}
    manifest = manifest or load_manifest()
    chosen = [f for f in manifest.functions if f.sqs_queue and (names is None or f.name in set(names))]
    totals = {f.name: Delivery() for f in chosen}
    for _ in range(max_rounds):
        moved = 0
        for f in chosen:
            d = deliver_sqs(f)
            t = totals[f.name]
            t.received += d.received
            t.succeeded += d.succeeded
            t.failed += d.failed
            moved += d.received
        if moved == 0 and all(queue_depth(f.sqs_queue or "") == 0 for f in chosen) and (idle is None or idle()):
            return totals
        if moved == 0:
            time.sleep(0.05)
    raise RuntimeError(f"queues still not empty after {max_rounds} rounds: {[f.name for f in chosen]}")


def scheduled_event(function: FunctionSpec, at: datetime) -> dict[str, Any]:
    if at.tzinfo is None:
        raise ValueError("schedule time must be timezone-aware")
    if "input" in function.trigger:
        return dict(function.trigger["input"])
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings.aws_region(),
        "resources": [f"arn:aws:events:{settings.aws_region()}:{ACCOUNT}:rule/{function.name}"],
        "detail": {},
    }


def fire_schedule(function: FunctionSpec, at: datetime, extra: dict[str, Any] | None = None) -> Any:
    """Invoke a scheduled function as EventBridge would at instant ``at``.

    ``extra`` is merged into the event (the demo passes the simulated business date).
    """
    event = scheduled_event(function, at)
    if extra:
        event = {**event, **extra}
    return invoke(function, event)
