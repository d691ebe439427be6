"""SQS consumer of ``disbursement-events`` (partial batch responses: a bad message never fails the rest)."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import db
from chalicelib.disbursements.consumer import handle_message, logger
from chalicelib.emails.ses import SesMailer, sender_address

processor = BatchProcessor(event_type=EventType.SQS)
_conn: list[psycopg2.extensions.connection] = []


def _connection() -> psycopg2.extensions.connection:
    if not _conn or _conn[0].closed:
        _conn[:] = [db.connect()]
    return _conn[0]


def _record(record: SQSRecord) -> None:
    try:
        handle_message(_connection(), record.body, SesMailer(), sender_address())
    except Exception:
        logger.exception("disbursement event failed", extra={"message_id": record.message_id})
        raise


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
