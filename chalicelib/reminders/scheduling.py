"""Start the day's workflow for one zone, at most once.

The execution name ``t3-<zone>-<date>`` is the idempotency key. Step Functions refuses a
second start with the same name once an execution has closed, but *accepts* it (returning the
running one) while the first is still running with the same input, and moto accepts it
always; so the name is looked up first and an existing execution is reported, never restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chalicelib.logs import get_logger
from chalicelib.reminders.adapters import Executions
from chalicelib.zones import Zone

STATE_MACHINE = "t3-reminders"
logger = get_logger("reminders")


@dataclass(frozen=True)
class StartResult:
    execution_name: str
    started: bool
    execution_arn: str | None
    reason: str | None = None


def execution_name(zone: Zone, business_date: date) -> str:
    return f"t3-{zone.name}-{business_date.isoformat()}"


def start_day(zone: Zone, business_date: date, executions: Executions | None = None) -> StartResult:
    executions = executions or Executions(STATE_MACHINE)
    name = execution_name(zone, business_date)
    existing = executions.describe(name)
    if existing is not None:
        reason = f"execution {name} already exists ({existing['status']}); not started again"
        logger.warning("duplicate start refused", extra={"execution_name": name, "status": existing["status"]})
        return StartResult(name, False, existing["executionArn"], reason)
    arn, refused = executions.start(name, {"zone": zone.name, "business_date": business_date.isoformat()})
    if arn is None:
        logger.warning("duplicate start refused", extra={"execution_name": name, "reason": refused})
        return StartResult(name, False, None, refused)
    logger.info("workflow started", extra={"execution_name": name, "execution_arn": arn})
    return StartResult(name, True, arn)
