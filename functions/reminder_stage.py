"""Stage queue consumer: a workflow stage (select + enqueue chunks) or the day's summary."""

from __future__ import annotations

import json

from chalicelib.edge.sqs import RecordContext, SqsBatchHandler
from chalicelib.reminders.messages import StageMessage
from chalicelib.reminders.stage_worker import logger, run_stage
from chalicelib.reminders.summary import run_summary
from chalicelib.settings import StageSettings


def _record(ctx: RecordContext[StageSettings]) -> None:
    body = json.loads(ctx.body)
    if body.get("stage") == "summary":
        run_summary(body, conn=ctx.conn)
    else:
        run_stage(ctx.conn, StageMessage.parse(body))


handler = SqsBatchHandler("reminder-stage", _record, logger=logger, settings=StageSettings.from_environment)
