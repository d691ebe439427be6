"""Hourly (EventBridge): send the repayment-calendar emails left unsent in the outbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.disbursements.outbox import sweep
from chalicelib.edge.schedule import ScheduleContext, ScheduledHandler
from chalicelib.emails.ses import SesMailer, sender_address
from chalicelib.settings import EmailOutboxSettings


def _sweep(ctx: ScheduleContext[EmailOutboxSettings]) -> dict[str, Any]:
    return asdict(sweep(ctx.conn, SesMailer(ctx.aws.client("ses")), sender_address(ctx.settings), ctx.fired_at))


handler = ScheduledHandler("email-outbox-sweeper", _sweep, settings=EmailOutboxSettings)
