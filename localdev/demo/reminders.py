"""Demo step: the T-3 reminder day for all three zones, through the real workflow.

Fires the three 08:00-local schedules for the business date, runs the state machine in moto
with fake voice/WhatsApp providers and the Chalice app taking their signed callbacks, then
writes ``calls.jsonl`` (one object per request the providers received — SMS rows with the exact
``text`` sent — with ``sent_local``: the
simulated local time of the request in the borrower's zone) and ``summary.json`` (``contact_day``:
whether the business date is a contact day, why not, which due dates it covers; per zone and stage:
selected, placed, succeeded, failed, not placed, skipped by reason; plus zone fallbacks) into the
demo's output directory and prints the same as a table.

Local settings: ``DEMO_CALLS_PER_SECOND`` (default 400: the fakes answer at once) is the pace
the dispatch workers keep; ``DEMO_PLANNED_CALLS_PER_SECOND`` (default 0.1) is the provider
rate the capacity plan assumes, so the capacity cut-off (highest amount due first, the rest
reported as not placed) is exercised on the demo book.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import psycopg2.extensions

from chalicelib.contact_policy import ReplayClock
from chalicelib.reminders import references
from chalicelib.reminders.contact import load_policy
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.sms_text import sms_template
from chalicelib.reminders.stages import Stage, StageRun, scheduled_local
from chalicelib.reminders.store import EntryStatus
from chalicelib.reminders.store.dynamo import DynamoReminderStore
from chalicelib.reminders.summary import SUMMARY_KEYS, zone_summary
from chalicelib.zones import Zone, zone_or_fallback
from localdev.fakes import ProviderRecord
from localdev.reminder_day import COLLECTIONS_CHANNEL, LocalReminderStack, run_day

if TYPE_CHECKING:
    from localdev.demo.context import DemoContext

CALL_KEYS = ("channel", "payment_id", "loan_id", "stage", "zone", "postcode", "product", "template", "due_date",
             "scheduled_local", "sent_local", "outcome", "parameters", "text")
SUCCEEDED_CALL_SQL = "SELECT payment_id FROM payment WHERE payment_id = ANY(%s) AND is_success_robocall"
PAYMENT_FACTS_SQL = """
SELECT p.payment_id, p.loan_id, p.due_date, a.address_kodepos, pl.product_family
FROM payment p
JOIN loan l ON l.loan_id = p.loan_id
JOIN application a ON a.application_id = l.application_id
LEFT JOIN product_line pl ON pl.product_line_code = a.product_line_code
WHERE p.payment_id = ANY(%s)
"""


def _ref_and_template(rec: ProviderRecord) -> tuple[CallbackRef | None, str | None]:
    try:
        if rec.channel == "robocall":
            query = parse_qs(urlparse(rec.body["event_url"][0]).query)
            return references.unverified(query["ref"][0]), query.get("template", [None])[0]
        if rec.channel == "sms":
            return references.unverified(rec.body["client-ref"]), None
        return references.unverified(rec.body["biz_opaque_callback_data"]), rec.body["template"]["name"]
    except (KeyError, IndexError, TypeError, ValueError):
        return None, None


def _parameters(rec: ProviderRecord) -> list[str] | None:
    """WhatsApp rows: the template body variables exactly as the provider received them."""
    if rec.channel != "whatsapp":
        return None
    try:
        return [str(p["text"]) for c in rec.body["template"]["components"] if c.get("type") == "body"
                for p in c["parameters"]]
    except (KeyError, TypeError):
        return None


def sent_local(clock: ReplayClock | None, ref: CallbackRef | None, rec: ProviderRecord) -> str | None:
    """When the provider received the request, on the replayed day's clock, in the stage's zone."""
    anchor = clock.scene(ref.run.ledger_key) if clock is not None and ref is not None else None
    if anchor is None or ref is None:
        return None
    return anchor.simulated(rec.received_at).astimezone(ref.run.zone.tzinfo).isoformat(timespec="seconds")


def call_rows(conn: psycopg2.extensions.connection, records: Iterable[ProviderRecord],
              clock: ReplayClock | None = None) -> list[dict[str, Any]]:
    """calls.jsonl rows: the provider's view of each request, joined with the payment's facts."""
    parsed = [(rec, *_ref_and_template(rec)) for rec in sorted(records, key=lambda r: r.received_at)]
    ids = sorted({ref.payment_id for _rec, ref, _tpl in parsed if ref})
    with conn.cursor() as cur:
        cur.execute(PAYMENT_FACTS_SQL, (ids,))
        facts = {row[0]: row for row in cur.fetchall()}
    conn.rollback()
    rows = []
    for rec, ref, template in parsed:
        fact = facts.get(ref.payment_id) if ref else None
        zone = zone_or_fallback(fact[3])[0] if fact else None
        rows.append({
            "channel": rec.channel,
            "payment_id": ref.payment_id if ref else None,
            "loan_id": fact[1] if fact else None,
            "stage": str(ref.stage) if ref else None,
            "zone": zone.name if zone else None,
            "postcode": fact[3] if fact else None,
            "product": fact[4] if fact else None,
            "template": template,
            "due_date": fact[2].isoformat() if fact else None,
            "scheduled_local": scheduled_local(zone, ref.business_date, ref.stage) if ref and zone else None,
            "sent_local": sent_local(clock, ref, rec),
            "outcome": rec.outcome,
            "parameters": _parameters(rec),
            "text": str(rec.body.get("text")) if rec.channel == "sms" else None,
        })
        if rec.channel == "sms":
            rows[-1]["template"] = sms_template(fact[4] if fact else None).name
    return rows


def day_summary(business_date: date, executions: dict[str, dict[str, Any]] | None = None,
                conn: psycopg2.extensions.connection | None = None) -> dict[str, Any]:
    """Per zone, the summary its workflow reported (its Summary state's output, computed once the
    day's outcomes were in); counted from the ledger for a zone whose workflow did not succeed. With a
    connection, ``contact_day``: the contact policy's plan of the day (the calendar is national)."""
    ledger = DynamoReminderStore()
    policy = load_policy(conn, business_date) if conn is not None else None
    zones = {}
    for z in Zone:
        described = (executions or {}).get(z.name) or {}
        if described.get("status") == "SUCCEEDED" and described.get("output"):
            zones[z.name] = json.loads(described["output"])
        else:
            zones[z.name] = zone_summary(ledger, z, business_date,
                                         policy.plan(z, business_date) if policy is not None else None)
    out: dict[str, Any] = {"business_date": business_date.isoformat()}
    if policy is not None:
        out["contact_day"] = policy.plan(Zone.WIB, business_date).as_dict()
    out["zones"] = zones
    return out


def print_table(summary: dict[str, Any]) -> None:
    day = summary.get("contact_day")
    if day is not None and not day["allowed"]:
        print(f"{summary['business_date']} is not a contact day ({day['reason']}): nobody is contacted; its "
              "reminders went out on the contact day before it")
    elif day is not None:
        print(f"contact day; covers payments due {', '.join(day['covers_due_dates'])}")
    print(f"{'zone':<5} {'stage':<11} " + " ".join(f"{k:>10}" for k in SUMMARY_KEYS))
    for zone_name, zs in summary["zones"].items():
        for stage, counts in zs["stages"].items():
            print(f"{zone_name:<5} {stage:<11} " + " ".join(f"{counts.get(k, 0):>10,}" for k in SUMMARY_KEYS))
            if counts.get("skipped_by_reason"):
                print(f"{'':<5} {'':<11} skipped: " + ", ".join(f"{r} {n:,}" for r, n in
                                                               counts["skipped_by_reason"].items()))
        print(f"{zone_name:<5} zone fallback: {zs['zone_fallback']:,} borrowers")


def step_t3_reminders(ctx: DemoContext) -> None:
    ctx.aws_ready()
    calls_per_second = float(os.environ.get("DEMO_CALLS_PER_SECOND", "400"))
    planned = os.environ.get("DEMO_PLANNED_CALLS_PER_SECOND", "0.1")
    print(f"\nT-3 reminder day {ctx.business_date}: real state machine in moto, fake providers at "
          f"{calls_per_second:g} calls/s, capacity planned at {planned} calls/s "
          f"(highest amount due first; the rest is reported as not placed)")
    with LocalReminderStack(seed=ctx.seed, calls_per_second=calls_per_second, strict=True,
                            messages_per_second=calls_per_second,
                            extra_env={"VOICE_PLANNED_CALLS_PER_SECOND": planned}) as stack:
        with ctx.progress("provider requests", lambda: (len(stack.voice.records) + len(stack.whatsapp.records)
                                                        + len(stack.sms.records)), unit="req"):
            result = run_day(ctx.business_date, stack)
        records = list(stack.voice.records) + list(stack.whatsapp.records) + list(stack.sms.records)
        iam = stack.runtime.summary()
        rows = call_rows(ctx.conn, records, stack.clock)
        posts = write_slack_posts(stack, ctx.out_dir / "slack")
    with open(ctx.out_dir / "calls.jsonl", "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    summary = day_summary(ctx.business_date, result.executions, ctx.conn)
    summary["executions"] = {z: {"name": d["name"], "status": d["status"]} for z, d in result.executions.items()}
    (ctx.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    print(f"{len(rows):,} provider requests; simulated day took {result.wall_seconds:.1f}s wall time")
    check = fallback_check(ctx.conn, ctx.business_date, records, summary)
    summary["fallback_check"] = check
    (ctx.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"failed every call: {check['failed_all_calls']:,} borrowers: WhatsApp {check['whatsapp']:,}, "
          f"SMS {check['sms']:,}, WhatsApp failed then SMS {check['whatsapp_failed_then_sms']:,}, skipped with a "
          f"reason {check['skipped_with_reason']:,}; contacted twice on one channel {check['twice']:,}; "
          f"without a contact or a reason: {check['without_contact_or_reason']:,}")
    print(f"Slack reminder-day reports: {len(posts)} posted to {COLLECTIONS_CHANNEL} -> {ctx.out_dir / 'slack'}/")
    print(iam)


def write_slack_posts(stack: LocalReminderStack, folder: Path) -> list[Path]:
    """Each message the collections channel received, as a text file."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for message in stack.slack.recorded.messages:
        first = message.text.splitlines()[0].strip("*").replace(" ", "-").lower() if message.text else "message"
        path = folder / f"{first}.txt"
        path.write_text(message.text + "\n")
        written.append(path)
    return written


def fallback_check(conn: psycopg2.extensions.connection, business_date: date, records: Iterable[ProviderRecord],
                   summary: dict[str, Any]) -> dict[str, int]:
    """Everybody who failed all three calls got a WhatsApp message or an SMS (an SMS after a WhatsApp
    message only when that one failed), or was skipped with a reason: the contact policy's (ledger
    ``skipped``), a refusal where nothing was sent (``failed``), or capacity (``not_placed``). Counted from
    what the providers placed and the ledger; ``twice`` counts a channel placed twice for one payment."""
    ledger = DynamoReminderStore()
    called3: set[int] = set()
    placed: dict[str, list[int]] = {"whatsapp": [], "sms": []}
    for rec in records:
        ref, _tpl = _ref_and_template(rec)
        if ref is None:
            continue
        if rec.channel == "robocall" and ref.stage is Stage.ROBOCALL_3:
            called3.add(ref.payment_id)
        if rec.channel in placed and rec.placed:
            placed[rec.channel].append(ref.payment_id)
    reasoned: set[int] = set()
    for zone in Zone:
        for stage in (Stage.WHATSAPP, Stage.SMS):
            for entry in ledger.entries(StageRun(zone, business_date, stage)):
                if entry.status in (EntryStatus.SKIPPED, EntryStatus.FAILED):
                    reasoned.add(entry.payment_id)
    with conn.cursor() as cur:
        cur.execute(SUCCEEDED_CALL_SQL, (sorted(called3),))
        answered = {r[0] for r in cur.fetchall()}
    conn.rollback()
    failed_all = called3 - answered
    whatsapp, sms = set(placed["whatsapp"]), set(placed["sms"])
    reached = whatsapp | sms
    over_capacity = sum(int(zs["stages"].get(str(st), {}).get("not_placed", 0))
                        for zs in summary["zones"].values() for st in (Stage.WHATSAPP, Stage.SMS))
    unexplained = failed_all - reached - reasoned
    return {"failed_all_calls": len(failed_all), "whatsapp": len(failed_all & whatsapp - sms),
            "sms": len(failed_all & sms - whatsapp), "whatsapp_failed_then_sms": len(failed_all & whatsapp & sms),
            "skipped_with_reason": len((failed_all - reached) & reasoned) + min(over_capacity, len(unexplained)),
            "twice": sum(len(v) - len(set(v)) for v in placed.values()),
            "without_contact_or_reason": max(0, len(unexplained) - over_capacity)}
