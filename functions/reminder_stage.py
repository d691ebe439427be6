"""Stage queue consumer: a workflow stage (select + enqueue chunks), the day's summary (and its Slack
report), or a failed day's report."""

from __future__ import annotations

import json

from chalicelib.edge.sqs import RecordContext, SqsBatchHandler
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.contact import contact_hours
from chalicelib.reminders.day_report import report_day_end
from chalicelib.reminders.messages import StageMessage
from chalicelib.reminders.stage_worker import logger, run_stage
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import run_summary
from chalicelib.settings import StageSettings


def _record(ctx: RecordContext[StageSettings]) -> None:
    body = json.loads(ctx.body)
    store, tasks = DynamoReminderStore(), TaskCallbacks(sfn=ctx.aws.client("stepfunctions"))
    if body.get("stage") == "summary":
        summary = run_summary(body, store=store, tasks=tasks, conn=ctx.conn,
                              hours=contact_hours(ctx.settings.contact_hours))
        report_day_end(ctx.conn, body, ctx.settings, store=store, summary=summary)
    elif body.get("stage") == "day_failed":
        report_day_end(ctx.conn, body, ctx.settings, store=store)
    else:
        run_stage(ctx.conn, StageMessage.parse(body), ctx.settings, store=store, tasks=tasks)


handler = SqsBatchHandler("reminder-stage", _record, logger=logger, settings=StageSettings)
