"""The day's summary for one zone: per stage, what its owning attempt did.

Counted per attempt (the attempt that owns the stage record, i.e. the one that completed it):

    selected = placed + place_failed + unknown + not_placed + skipped

- ``selected``: payments the attempt's selection returned; ``not_placed``: those over capacity;
- ``placed``: the provider accepted it, or a signed callback proved it was placed;
- ``place_failed``: nothing was placed (refused, or retries exhausted on answers that say so);
- ``unknown``: maybe placed, never resolved (the answer was lost and no callback came, or the
  worker stopped between the provider's accept and the ledger write);
- ``skipped``: the contact policy refused the send (``skipped_by_reason``: how many per reason code,
  ``chalicelib.contact_policy.Reason``): nothing was sent;
- ``succeeded`` / ``failed``: outcomes of the placed ones (``failed`` also counts ``place_failed``);
- ``no_whatsapp`` (WhatsApp stage): borrowers skipped because they have no WhatsApp (not selected).

The ledger entries are those the attempt claimed or adopted (``Entry.attempt``); selected and
not placed come from the stage record; everything else from the stage's ledger partition.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import psycopg2.extensions

from chalicelib.contact_policy import ContactHours, ContactPolicy, DayPlan
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.contact import load_policy
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.reminders.store import EntryStatus, Outcome, ReminderStore, counter_for, skip_reason
from chalicelib.zones import Zone

SUMMARY_KEYS = ("selected", "placed", "succeeded", "failed", "not_placed", "place_failed", "unknown", "skipped",
                "no_whatsapp")


def stage_summary(store: ReminderStore, run: StageRun) -> dict[str, Any]:
    state = store.stage(run)
    if state is None:
        return {k: 0 for k in SUMMARY_KEYS} | {"attempt": 0, "skipped_by_reason": {}}
    counters = state.counters()
    row: dict[str, Any] = {k: 0 for k in SUMMARY_KEYS} | {"attempt": state.run.attempt}
    by_reason: Counter[str] = Counter()
    row.update(selected=counters["selected"], not_placed=counters["not_placed"], no_whatsapp=counters["no_whatsapp"])
    for entry in store.entries(run):
        if entry.attempt != state.run.attempt:
            continue
        row[counter_for(entry)] += 1
        if entry.status == EntryStatus.SKIPPED:
            by_reason[skip_reason(entry)] += 1
        if entry.outcome == Outcome.SUCCEEDED:
            row["succeeded"] += 1
        elif entry.outcome == Outcome.FAILED:
            row["failed"] += 1
    row["failed"] += row["place_failed"]
    row["skipped_by_reason"] = dict(sorted(by_reason.items()))
    return row


def zone_summary(store: ReminderStore, zone: Zone, business_date: date,
                 contact_day: DayPlan | None = None) -> dict[str, Any]:
    """The zone's day: per stage its summary, the zone fallbacks, and (given the policy's plan of the day)
    ``contact_day``: whether the day was a contact day, why not, and which due dates it covered."""
    stages = {str(stage): stage_summary(store, StageRun(zone, business_date, stage)) for stage in Stage}
    first = store.stage(StageRun(zone, business_date, Stage.ROBOCALL_1))
    summary = {"zone": zone.name, "business_date": business_date.isoformat(), "stages": stages,
               "zone_fallback": first.counters()["zone_fallback"] if first else 0}
    if contact_day is not None:
        summary["contact_day"] = contact_day.as_dict()
    return summary


def run_summary(body: dict[str, Any], *, store: ReminderStore, tasks: TaskCallbacks,
                conn: psycopg2.extensions.connection | None = None, hours: ContactHours | None = None,
                policy: ContactPolicy | None = None) -> dict[str, Any]:
    """The workflow's last state: report the zone's summary as the task result."""
    try:
        zone, business_date = Zone.parse(body["zone"]), date.fromisoformat(body["business_date"])
        token = str(body["task_token"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"malformed summary message: {exc}") from exc
    if policy is None and conn is not None:
        policy = load_policy(conn, business_date, hours)
    day = policy.plan(zone, business_date) if policy is not None else None
    summary = zone_summary(store, zone, business_date, day)
    tasks.succeed(token, summary)
    return summary
