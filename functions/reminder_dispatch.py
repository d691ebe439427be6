"""Dispatch queue consumer (robocall, WhatsApp and SMS queues): place the calls and messages of one chunk; on
the WhatsApp and SMS queues also the opt-out confirmations owed (``chalicelib.reminders.opt_out``).

A chunk that fails on its queue's last allowed receive fails its stage's task at once
(``dispatch_message``); the function's remaining time bounds how long a chunk may run.
"""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg2.extensions
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from chalicelib.edge.sqs import RecordContext, SqsBatchHandler
from chalicelib.reminders.adapters import TaskCallbacks, max_receive_count
from chalicelib.reminders.dispatch import Dispatcher, dispatch_message, logger
from chalicelib.reminders.messages import DISPATCH_QUEUES, PoisonChunk
from chalicelib.reminders.opt_out import is_reply, send_reply, text_sender
from chalicelib.reminders.stages import Stage
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.settings import DispatchSettings

_dispatcher: dict[tuple[object, ...], Dispatcher] = {}
_remaining_seconds: list[float | None] = [None]  # of the current invocation (the Lambda context's)


def _get_dispatcher(conn: psycopg2.extensions.connection) -> Dispatcher:
    """One dispatcher (and so one rate limiter per provider) per container, connection and configuration."""
    key = (id(conn), os.environ.get("VOICE_API_URL"), os.environ.get("WHATSAPP_API_URL"),
           os.environ.get("SMS_API_URL"), os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _dispatcher:
        _dispatcher.clear()
        _dispatcher[key] = Dispatcher(conn, store=DynamoReminderStore(), tasks=TaskCallbacks())
    return _dispatcher[key]


def _record(ctx: RecordContext[DispatchSettings]) -> None:
    body = json.loads(ctx.body)
    if is_reply(body):  # an opt-out confirmation owed (WhatsApp or SMS queue)
        send_reply(ctx.conn, text_sender(_get_dispatcher(ctx.conn), body), body)
        return
    stage = body.get("stage") if isinstance(body, dict) else None
    queue = DISPATCH_QUEUES[Stage(stage).channel] if stage in set(Stage) else None
    dispatch_message(_get_dispatcher(ctx.conn), body, receive_count=ctx.receive_count,
                     max_receives=max_receive_count(queue) if queue else None,
                     remaining_seconds=_remaining_seconds[0])


_edge = SqsBatchHandler("reminder-dispatch", _record, logger=logger, poison=(PoisonChunk,),
                       settings=DispatchSettings.from_environment)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    _remaining_seconds[0] = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    return _edge(event, context)
