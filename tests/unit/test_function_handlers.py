"""The Lambda handlers of functions/, called directly with the event fixtures of tests/events.

No server: the database is either unreachable (an outage) or replaced by a stand-in lease, and
the domain call behind a scheduled handler is replaced by a recorder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.reminders.scheduling import StartResult
from chalicelib.zones import Zone
from functions import disbursement_events, reminder_schedule, stuck_disbursement_report
from localdev.lambda_runtime.runtime import LambdaContext
from tests.events import load_event, with_bodies

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"


class RecordedVisibility:
    """Stands in for ChangeMessageVisibility: receipt handle -> seconds until the next try."""

    def __init__(self) -> None:
        self.hidden: dict[str, int] = {}

    def hide(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        assert queue_arn.endswith(":disbursement-events")
        self.hidden[receipt_handle] = seconds


class StandInLease:
    """A connection lifetime whose lease hands out a placeholder (the domain call is faked)."""

    def __init__(self) -> None:
        self.leases = 0

    @contextmanager
    def lease(self) -> Iterator[Any]:
        self.leases += 1
        yield SimpleNamespace(name="stand-in connection")


@pytest.fixture
def visibility(monkeypatch: pytest.MonkeyPatch) -> RecordedVisibility:
    recorded = RecordedVisibility()
    monkeypatch.setattr(disbursement_events.handler, "visibility", recorded)
    return recorded


def _failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


def test_a_database_outage_loses_no_disbursement_event(
    monkeypatch: pytest.MonkeyPatch, visibility: RecordedVisibility,
) -> None:
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)
    event = load_event("sqs_disbursement_events")
    response = disbursement_events.handler(event, LambdaContext("julo-functions"))
    # nothing is acknowledged: the good record comes back later (backoff by its receive count);
    # the malformed one is poison whatever the database does, so it comes back at once
    assert _failed_ids(response) == sorted(r["messageId"] for r in event["Records"])
    first, second = event["Records"]
    assert visibility.hidden == {first["receiptHandle"]: 30, second["receiptHandle"]: 0}


def test_malformed_disbursement_events_go_to_the_dlq_without_waiting(
    monkeypatch: pytest.MonkeyPatch, visibility: RecordedVisibility,
) -> None:
    monkeypatch.setattr(disbursement_events.handler, "lifetime", StandInLease())
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)  # the function's settings require one (never connected)
    bodies: list[str | dict[str, Any]] = [
        "{not json",
        {"event_id": "evt-2", "disbursement_id": 501, "status": "DONE", "occurred_at": "2026-11-24T03:15:00Z"},
        {"event_id": "evt-3", "disbursement_id": 501, "status": "COMPLETED", "occurred_at": "2026-11-24 10:15"},
    ]
    event = with_bodies(load_event("sqs_disbursement_events"), bodies)
    response = disbursement_events.handler(event, LambdaContext("julo-functions"))
    assert _failed_ids(response) == sorted(r["messageId"] for r in event["Records"])
    assert set(visibility.hidden.values()) == {0}  # visible at once: maxReceiveCount tries in seconds


def test_the_stuck_report_runs_for_the_wib_date_the_schedule_fired_on(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[date] = []

    def run_report(conn: Any, report_date: date, out_dir: Any, slack: Any) -> Any:
        runs.append(report_date)
        return SimpleNamespace(report_date=report_date, rows=3, path=out_dir / "pending.xlsx", slack_file_id="F1",
                               slack="posted")

    monkeypatch.setattr(stuck_disbursement_report, "run_report", run_report)
    monkeypatch.setattr(stuck_disbursement_report, "slack_client", lambda _url: None)
    monkeypatch.setattr(stuck_disbursement_report.handler, "lifetime", StandInLease())
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")  # the cold start checks the report's settings
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    result = stuck_disbursement_report.handler(load_event("eventbridge_scheduled"), LambdaContext("julo-functions"))
    assert runs == [date(2026, 11, 24)]  # fired 02:00Z = 09:00 WIB on the 24th
    assert result["report_date"] == "2026-11-24"
    assert result["rows"] == 3 and result["slack"] == "posted"


def test_a_replayed_zone_schedule_starts_that_zones_day(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, date]] = []

    def start_day(zone: Zone, business_date: date) -> StartResult:
        started.append((zone.name, business_date))
        name = f"t3-{zone.name}-{business_date}"
        return StartResult(name, True, f"arn:aws:states:ap-southeast-3:123456789012:execution:t3-reminders:{name}")

    monkeypatch.setattr(reminder_schedule, "start_day", start_day)
    event = {**load_event("schedule_input_reminder_wita"), "business_date": "2026-11-20"}
    result = reminder_schedule.handler(event, LambdaContext("julo-functions"))
    assert started == [("WITA", date(2026, 11, 20))]
    assert json.loads(json.dumps(result))["execution_name"] == "t3-WITA-2026-11-20"
    assert result["started"] is True
