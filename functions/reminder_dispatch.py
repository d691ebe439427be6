"""Dispatch queue consumer (robocall, WhatsApp and SMS queues): place the calls and messages of one chunk; on
the WhatsApp and SMS queues also the opt-out confirmations owed (``chalicelib.reminders.opt_out``).

A chunk that fails on its queue's last allowed receive fails its stage's task at once
(``dispatch_message``); the function's remaining time (the Lambda context's, on the record's
context) bounds how long a chunk may run.
"""

from __future__ import annotations

import json

from chalicelib.edge.sqs import RecordContext, SqsBatchHandler
from chalicelib.reminders.adapters import TaskCallbacks, max_receive_count
from chalicelib.reminders.dispatch import Dispatcher, dispatch_message, logger
from chalicelib.reminders.messages import DISPATCH_QUEUES, PoisonChunk
from chalicelib.reminders.opt_out import is_reply, send_reply, text_sender
from chalicelib.reminders.stages import Stage
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.settings import DispatchSettings


class DispatchRecords:
    """The record handler, holding the container's dispatcher: one per connection, settings and AWS clients
    (the handler's ``ctx.aws``: its Step Functions client answers the stage's task), so one rate limiter per
    provider and container."""

    def __init__(self) -> None:
        self._built: tuple[tuple[object, ...], Dispatcher] | None = None

    def dispatcher(self, ctx: RecordContext[DispatchSettings]) -> Dispatcher:
        key = (id(ctx.conn), ctx.settings, ctx.aws)
        if self._built is None or self._built[0] != key:
            tasks = TaskCallbacks(sfn=ctx.aws.client("stepfunctions"))
            self._built = (key, Dispatcher(ctx.conn, ctx.settings, store=DynamoReminderStore(), tasks=tasks))
        return self._built[1]

    def __call__(self, ctx: RecordContext[DispatchSettings]) -> None:
        body = json.loads(ctx.body)
        if is_reply(body):  # an opt-out confirmation owed (WhatsApp or SMS queue)
            send_reply(ctx.conn, text_sender(self.dispatcher(ctx), body), body)
            return
        stage = body.get("stage") if isinstance(body, dict) else None
        queue = DISPATCH_QUEUES[Stage(stage).channel] if stage in set(Stage) else None
        dispatch_message(self.dispatcher(ctx), body, receive_count=ctx.receive_count,
                         max_receives=max_receive_count(queue) if queue else None,
                         remaining_seconds=ctx.remaining_seconds())


handler = SqsBatchHandler("reminder-dispatch", DispatchRecords(), logger=logger, poison=(PoisonChunk,),
                          settings=DispatchSettings)
