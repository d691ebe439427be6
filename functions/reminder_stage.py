"""Stage queue consumer: a workflow stage (select + enqueue chunks) or the day's summary."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.reminders.stage_worker import StageMessage, logger, run_stage
from chalicelib.reminders.summary import run_summary
from functions.reminder_connection import connection

processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> None:
    try:
        body = json.loads(record.body)
        if body.get("stage") == "summary":
            run_summary(body)
        else:
            run_stage(connection(), StageMessage.parse(body))
    except Exception:
        logger.exception("stage message failed", extra={"message_id": record.message_id})
        raise


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
