"""The reminder-day report to the collections channel on Slack: one message per zone and date.

Posted when the zone's day ends: by the workflow's Summary state (the day finished), or by its
failure path (a stage failed for good: the state machine's Catch sends ``{"stage": "day_failed"}``).
Once per zone and date whatever redeliveries happen (``chalicelib.slack_once.post_message_once``:
recorded post, advisory lock, lost-answer check).

What it says, per stage: selected / placed / succeeded / failed / not placed / skipped; the zone
fallbacks; and what is unusual: a stage whose success rate (succeeded / placed) is under
``REMINDER_ALERT_SUCCESS_RATE``, a stage that did not finish, place_failed or unknown above zero.
Only counts: the text names no borrower, number or loan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg2.extensions

from chalicelib.logs import get_logger
from chalicelib.reminders import metrics
from chalicelib.reminders.contact import contact_hours, load_policy
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import ReminderStore
from chalicelib.reminders.summary import zone_summary
from chalicelib.settings import StageSettings
from chalicelib.slack_once import MessagePoster, MessageResult, post_message_once
from chalicelib.zones import Zone

logger = get_logger("reminders")

REPORT_KIND = "reminder-day"
COLUMNS = ("selected", "placed", "succeeded", "failed", "not_placed", "skipped")
DEFAULT_ALERT_SUCCESS_RATE = StageSettings().alert_success_rate  # REMINDER_ALERT_SUCCESS_RATE's default


def success_rate(row: Mapping[str, Any]) -> float | None:
    placed = int(row.get("placed") or 0)
    return None if placed == 0 else int(row.get("succeeded") or 0) / placed


@dataclass(frozen=True)
class DayReport:
    zone: str
    business_date: str
    text: str
    unusual: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.zone}#{self.business_date}"


def build_report(summary: Mapping[str, Any], *, finished: Mapping[str, bool] | None = None,
                 failure: str | None = None, threshold: float = DEFAULT_ALERT_SUCCESS_RATE) -> DayReport:
    """The message for one zone's day from its summary (``summary.zone_summary``); ``finished`` says which
    stages completed (default: all of them), ``failure`` why the day stopped early."""
    zone, day = str(summary["zone"]), str(summary["business_date"])
    stages: Mapping[str, Mapping[str, Any]] = summary.get("stages") or {}
    unusual: list[str] = []
    if failure:
        unusual.append(f"the workflow stopped before its end: {failure[:200]}")
    lines = [f"*T-3 reminders {zone} {day}*" + (" (did not finish)" if failure else ""),
             "```", f"{'stage':<11} " + " ".join(f"{c:>10}" for c in COLUMNS)]
    for stage in Stage:
        row = stages.get(str(stage)) or {}
        lines.append(f"{stage!s:<11} " + " ".join(f"{int(row.get(c) or 0):>10,}" for c in COLUMNS))
        if finished is not None and not finished.get(str(stage), False):
            unusual.append(f"{stage}: did not finish")
        rate = success_rate(row)
        if rate is not None and rate < threshold:
            unusual.append(f"{stage}: success rate {rate:.0%} is under {threshold:.0%} "
                           f"({int(row.get('succeeded') or 0):,} of {int(row.get('placed') or 0):,})")
        for counter in ("place_failed", "unknown"):
            if int(row.get(counter) or 0) > 0:
                unusual.append(f"{stage}: {counter} {int(row[counter]):,}")
        reasons = row.get("skipped_by_reason") or {}
        if reasons:
            unusual.append(f"{stage}: skipped " + ", ".join(f"{r} {int(n):,}" for r, n in sorted(reasons.items())))
    lines.append("```")
    lines.append(f"zone fallbacks (missing or invalid postal code): {int(summary.get('zone_fallback') or 0):,}")
    day_plan = summary.get("contact_day") or {}
    if day_plan and not day_plan.get("allowed", True):
        lines.append(f"not a contact day: {day_plan.get('reason')}")
    if unusual:
        lines.append("*Unusual:*")
        lines += [f"• {u}" for u in unusual]
    else:
        lines.append("Nothing unusual.")
    return DayReport(zone, day, "\n".join(lines), tuple(unusual))


def post_day_report(conn: psycopg2.extensions.connection, slack: MessagePoster | None, report: DayReport,
                    channel: str) -> MessageResult | None:
    """Post the report once per zone and date; None when no channel is configured (logged)."""
    if not channel or slack is None:
        logger.warning("reminder-day report not posted: REMINDER_REPORT_SLACK_CHANNEL is not set",
                       extra={"zone": report.zone, "business_date": report.business_date})
        return None
    result = post_message_once(conn, slack, kind=REPORT_KIND, key=report.key, channel=channel, text=report.text)
    logger.info("reminder-day report", extra={"zone": report.zone, "business_date": report.business_date,
                                               "slack": result.outcome, "unusual": len(report.unusual)})
    return result


def stages_finished(store: ReminderStore, zone: Zone, business_date: date) -> dict[str, bool]:
    """Which stages of the zone's day completed (their last chunk finished)."""
    finished = {}
    for stage in Stage:
        state = store.stage(StageRun(zone, business_date, stage))
        finished[str(stage)] = bool(state is not None and state.completed)
    return finished


def report_day_end(conn: psycopg2.extensions.connection, body: Mapping[str, Any], settings: StageSettings, *,
                   store: ReminderStore, summary: Mapping[str, Any] | None = None,
                   slack: Callable[[], MessagePoster] | None = None) -> DayReport:
    """The day of ``body``'s zone and date ended (``summary``: the Summary state's; otherwise the workflow
    failed and ``body["error"]`` says why): build the report and post it once."""
    try:
        zone, business_date = Zone.parse(str(body["zone"])), date.fromisoformat(str(body["business_date"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"malformed end-of-day message: {exc}") from exc
    failure = None
    if summary is None:
        raw_error = body.get("error")
        error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
        cause = f": {error['Cause']}" if error.get("Cause") else ""
        failure = str(error.get("Error") or "the workflow failed") + cause
        policy = load_policy(conn, business_date, contact_hours(settings.contact_hours))
        summary = zone_summary(store, zone, business_date, policy.plan(zone, business_date))
    emit_day_metrics(summary)
    report = build_report(summary, finished=stages_finished(store, zone, business_date), failure=failure,
                          threshold=settings.alert_success_rate)
    channel = settings.report_channel
    poster = (slack or (lambda: default_slack(settings.slack_api_url)))() if channel else None
    post_day_report(conn, poster, report, channel)
    return report


def emit_day_metrics(summary: Mapping[str, Any]) -> None:
    """The day's final counts per zone, stage and channel, and per stage alone (the success-rate alarms)."""
    for stage in Stage:
        row = (summary.get("stages") or {}).get(str(stage)) or {}
        counts = metrics.renamed({k: int(row.get(k) or 0) for k in metrics.SUMMARY_COUNTS}, metrics.SUMMARY_COUNTS)
        metrics.emit(metrics.run_dimensions(str(summary["zone"]), str(stage), str(stage.channel)), counts)
        metrics.emit({"stage": str(stage)}, counts)


def default_slack(api_url: str) -> MessagePoster:
    from chalicelib.stuck_disbursements.slack import SlackFiles, slack_client

    return SlackFiles(slack_client(api_url))
