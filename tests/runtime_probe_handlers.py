"""A tiny SQS handler used only by tests of the local Lambda runtime."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

PROCESSED: list[int] = []
processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if body.get("poison"):
        raise ValueError("poison message")
    PROCESSED.append(body["n"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)


SCHEDULED: list[tuple[str, dict[str, Any]]] = []


def scheduled(event: dict[str, Any], context: Any) -> None:
    """A scheduled function: records (its name, the event EventBridge sent)."""
    SCHEDULED.append((context.function_name, event))
