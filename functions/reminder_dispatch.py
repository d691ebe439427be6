"""Dispatch queue consumer (robocall and WhatsApp queues): place the calls of one chunk."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.reminders.dispatch import Chunk, Dispatcher, logger
from functions.reminder_connection import connection

processor = BatchProcessor(event_type=EventType.SQS)
_dispatcher: dict[tuple[object, ...], Dispatcher] = {}


def _get_dispatcher() -> Dispatcher:
    """One dispatcher (and so one rate limiter per provider) per container and configuration."""
    conn = connection()
    key = (id(conn), os.environ.get("VOICE_API_URL"), os.environ.get("WHATSAPP_API_URL"),
           os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _dispatcher:
        _dispatcher.clear()
        _dispatcher[key] = Dispatcher(conn)
    return _dispatcher[key]


def _record(record: SQSRecord) -> None:
    try:
        _get_dispatcher().run(Chunk.parse(json.loads(record.body)))
    except Exception:
        logger.exception("dispatch chunk failed", extra={"message_id": record.message_id})
        raise


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
