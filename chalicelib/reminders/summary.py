"""The day's summary for one zone: per stage, selected / placed / succeeded / failed / not placed.

Selected and not placed come from the stage record (written by the stage worker); placed,
succeeded and failed from the stage's ledger partition, at the end of the workflow, after the
outcome callbacks:
``failed`` counts calls the provider refused after retries plus calls whose outcome was a
failure (busy, no answer, answering machine, failed).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.ledger import Ledger, stage_counts
from chalicelib.reminders.stages import Stage
from chalicelib.zones import Zone

SUMMARY_KEYS = ("selected", "placed", "succeeded", "failed", "not_placed")


def zone_summary(ledger: Ledger, zone: Zone, business_date: date) -> dict[str, Any]:
    stages: dict[str, dict[str, int]] = {}
    fallback = 0
    for stage in Stage:
        c = stage_counts(ledger.stage(zone, business_date, stage))
        r = ledger.stage_results(zone, business_date, stage)
        stages[str(stage)] = {
            "selected": c["selected"],
            "placed": r["placed"],
            "succeeded": r["succeeded"],
            "failed": r["failed"] + r["place_failed"],
            "not_placed": c["not_placed"],
        }
        if stage is Stage.ROBOCALL_1:
            fallback = c["zone_fallback"]
    return {"zone": zone.name, "business_date": business_date.isoformat(), "stages": stages,
            "zone_fallback": fallback}


def run_summary(body: dict[str, Any], *, ledger: Ledger | None = None,
                tasks: TaskCallbacks | None = None) -> dict[str, Any]:
    """The workflow's last state: report the zone's summary as the task result."""
    try:
        zone, business_date = Zone.parse(body["zone"]), date.fromisoformat(body["business_date"])
        token = str(body["task_token"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"malformed summary message: {exc}") from exc
    summary = zone_summary(ledger or Ledger(), zone, business_date)
    (tasks or TaskCallbacks()).succeed(token, summary)
    return summary
