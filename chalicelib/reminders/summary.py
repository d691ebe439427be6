"""The day's summary for one zone: per stage, what its owning attempt did.

Counted per attempt (the attempt that owns the stage record, i.e. the one that completed it):

    selected = placed + place_failed + unknown + not_placed

- ``selected``: payments the attempt's selection returned; ``not_placed``: those over capacity;
- ``placed``: the provider accepted it, or a signed callback proved it was placed;
- ``place_failed``: nothing was placed (refused, or retries exhausted on answers that say so);
- ``unknown``: maybe placed, never resolved (the answer was lost and no callback came, or the
  worker stopped between the provider's accept and the ledger write);
- ``succeeded`` / ``failed``: outcomes of the placed ones (``failed`` also counts ``place_failed``);
- ``no_whatsapp`` (WhatsApp stage): borrowers skipped because they have no WhatsApp (not selected).

The ledger entries are those the attempt claimed or adopted (``Entry.attempt``); selected and
not placed come from the stage record; everything else from the stage's ledger partition.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.ledger import DynamoReminderStore
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import OUTCOME_FAILED, SUCCEEDED, ReminderStore, counter_for
from chalicelib.zones import Zone

SUMMARY_KEYS = ("selected", "placed", "succeeded", "failed", "not_placed", "place_failed", "unknown", "no_whatsapp")


def stage_summary(store: ReminderStore, run: StageRun) -> dict[str, int]:
    state = store.stage(run)
    if state is None:
        return {k: 0 for k in SUMMARY_KEYS} | {"attempt": 0}
    counters = state.counters()
    row = {k: 0 for k in SUMMARY_KEYS} | {"attempt": state.run.attempt}
    row.update(selected=counters["selected"], not_placed=counters["not_placed"], no_whatsapp=counters["no_whatsapp"])
    for entry in store.entries(run):
        if entry.attempt != state.run.attempt:
            continue
        row[counter_for(entry)] += 1
        if entry.outcome == SUCCEEDED:
            row["succeeded"] += 1
        elif entry.outcome == OUTCOME_FAILED:
            row["failed"] += 1
    row["failed"] += row["place_failed"]
    return row


def zone_summary(store: ReminderStore, zone: Zone, business_date: date) -> dict[str, Any]:
    stages = {str(stage): stage_summary(store, StageRun(zone, business_date, stage)) for stage in Stage}
    first = store.stage(StageRun(zone, business_date, Stage.ROBOCALL_1))
    return {"zone": zone.name, "business_date": business_date.isoformat(), "stages": stages,
            "zone_fallback": first.counters()["zone_fallback"] if first else 0}


def run_summary(body: dict[str, Any], *, store: ReminderStore | None = None,
                tasks: TaskCallbacks | None = None) -> dict[str, Any]:
    """The workflow's last state: report the zone's summary as the task result."""
    try:
        zone, business_date = Zone.parse(body["zone"]), date.fromisoformat(body["business_date"])
        token = str(body["task_token"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"malformed summary message: {exc}") from exc
    summary = zone_summary(store or DynamoReminderStore(), zone, business_date)
    (tasks or TaskCallbacks()).succeed(token, summary)
    return summary
