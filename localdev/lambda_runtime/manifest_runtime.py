"""A manifest's functions run in this process, as Lambda would (the local loops, ``localdev/loops/workers.py``
and ``localdev/loops/scheduler.py``, and tests with a manifest of their own). The template's functions run
through ``localdev.lambda_runtime.runtime.LambdaRuntime``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from chalicelib import resources, settings
from infra.manifest import FunctionSpec, Manifest, load_manifest
from localdev.lambda_runtime.events import Delivery, LambdaContext, add_delivery, load_handler, sqs_record
from localdev.lambda_runtime.events import scheduled_event as _scheduled_event


def invoke(function: FunctionSpec, event: dict[str, Any]) -> Any:
    handler = load_handler(function.handler)
    return handler(event, LambdaContext(function.name, function.timeout, function.memory))


_sqs_record = sqs_record  # the name the chaos harness imports


def deliver_sqs(function: FunctionSpec, wait_seconds: int = 0) -> Delivery:
    """One Lambda invocation's worth of messages from the function's queue."""
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


def drain(functions: Iterable[str] | None = None, *, manifest: Manifest | None = None, max_rounds: int = 10_000,
          idle: Callable[[], bool] | None = None) -> dict[str, Delivery]:
    """Deliver messages to the manifest's SQS-triggered functions until their queues are empty.

    ``idle``, if given, must also return True before draining stops (e.g. "no provider
    callbacks outstanding").
    """
    names = None if functions is None else set(functions)
    chosen = [f for f in (manifest or load_manifest()).functions if f.sqs_queue and (names is None or f.name in names)]
    totals = {f.name: Delivery() for f in chosen}
    for _ in range(max_rounds):
        moved = sum(add_delivery(totals[f.name], deliver_sqs(f)) for f in chosen)
        if moved == 0 and all(queue_depth(f.sqs_queue or "") == 0 for f in chosen) and (idle is None or idle()):
            return totals
        if moved == 0:
            time.sleep(0.05)
    raise RuntimeError(f"queues still not empty after {max_rounds} rounds: {[f.name for f in chosen]}")


def scheduled_event(function: FunctionSpec, at: datetime) -> dict[str, Any]:
    return _scheduled_event(function.name, function.trigger["input"] if "input" in function.trigger else None, at)


def fire_schedule(function: FunctionSpec, at: datetime, extra: dict[str, Any] | None = None) -> Any:
    """Invoke a scheduled function as EventBridge would at instant ``at`` (``extra`` merged into the event)."""
    return invoke(function, {**scheduled_event(function, at), **(extra or {})})
