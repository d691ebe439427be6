"""Schedules (one per zone at 08:00 local), one execution per zone and day, and the ASL itself."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib import settings
from chalicelib.edge import clock
from chalicelib.reminders.scheduling import STATE_MACHINE, execution_name
from chalicelib.reminders.stages import Stage, scheduled_local, slot_utc, wait_timestamp, window_end_utc
from chalicelib.zones import Zone, utc_cron_for_local
from infra.manifest import load_manifest
from localdev.aws.bootstrap import bootstrap
from localdev.lambda_runtime.runtime import IN_PROCESS, LambdaRuntime

WAIT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_one_schedule_per_zone_at_eight_local():
    manifest = load_manifest()
    for zone in Zone:
        spec = manifest.function(f"reminder-schedule-{zone.name.lower()}")
        assert spec.schedule == utc_cron_for_local(zone, time(8, 0))
        assert spec.trigger["input"] == {"zone": zone.name}
    assert manifest.function("reminder-schedule-wit").schedule == "cron(0 23 * * ? *)"  # the day before, UTC


def test_wit_schedule_fires_the_evening_before_in_utc_for_the_local_day():
    fired = {"time": "2026-11-19T23:00:00Z"}  # 08:00 WIT on the 20th
    assert clock.business_date(fired, Zone.WIT) == date(2026, 11, 20)
    assert clock.business_date(fired, Zone.WIB) == date(2026, 11, 20)  # 06:00 WIB


def test_a_second_start_for_the_same_zone_and_day_is_refused_and_reported(aws):
    bootstrap()
    runtime = LambdaRuntime(mode=IN_PROCESS)  # the template's function, run in this process
    at = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    first = runtime.fire_schedule("reminder-schedule-wita", at, {"business_date": "2026-11-20"})
    second = runtime.fire_schedule("reminder-schedule-wita", at, {"business_date": "2026-11-20"})
    assert first["started"] is True and first["execution_name"] == "t3-WITA-2026-11-20"
    assert second["started"] is False and "already exists" in second["reason"]
    sfn = settings.aws_clients().client("stepfunctions")
    machine = next(m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == STATE_MACHINE)
    executions = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert [e["name"] for e in executions] == ["t3-WITA-2026-11-20"]
    described = sfn.describe_execution(executionArn=first["execution_arn"])
    assert json.loads(described["input"]) == {"zone": "WITA", "business_date": "2026-11-20"}


def test_the_asl_is_accepted_by_moto_and_has_the_designed_shape(aws):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    made = bootstrap()
    sfn = settings.aws_clients().client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=made.state_machine_arns[STATE_MACHINE])["definition"]
    AmazonStateLanguageParser.parse(definition)  # raises on an invalid definition
    stored = json.loads(definition)
    assert "${" not in definition  # every substitution resolved (the stage queue's URL)
    states = stored["States"]
    path, state = [], stored["StartAt"]
    while state:
        path.append(state)
        state = states[state].get("Next")
    assert path == ["Robocall1", "WaitUntilRetry1", "Robocall2", "WaitUntilRetry2", "Robocall3",
                    "WaitForOutcomes", "WhatsApp", "WaitForWhatsAppStatuses", "Sms", "Summary"]
    for name in ("Robocall1", "Robocall2", "Robocall3", "WhatsApp", "Sms"):
        task = states[name]
        assert task["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
        assert task["HeartbeatSeconds"] < task["TimeoutSeconds"]
        assert "States.HeartbeatTimeout" in task["Retry"][0]["ErrorEquals"]
        assert task["Parameters"]["MessageBody"]["task_token.$"] == "$$.Task.Token"
        assert task["Parameters"]["QueueUrl"] == made.queue_urls["reminder-stages"]
    assert all(states[w]["Type"] == "Wait" and "TimestampPath" in states[w]
               for w in ("WaitUntilRetry1", "WaitUntilRetry2", "WaitForOutcomes", "WaitForWhatsAppStatuses"))
    # a stage that fails for good ends the day through its report (Catch), never silently
    for name in ("Robocall1", "Robocall2", "Robocall3", "WhatsApp", "Sms", "Summary"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                          "Next": "ReportFailedDay"}]
    assert states["ReportFailedDay"]["Parameters"]["MessageBody"]["stage"] == "day_failed"
    assert states[states["ReportFailedDay"]["Next"]]["Type"] == "Fail"


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)), st.sampled_from(list(Zone)),
       st.sampled_from(list(Stage)))
def test_wait_timestamps_are_utc_seconds_and_slots_fall_at_local_hours(day, zone, stage):
    slot, end = slot_utc(zone, day, stage), window_end_utc(zone, day, stage)
    assert WAIT_RE.match(wait_timestamp(slot)) and WAIT_RE.match(wait_timestamp(end))
    assert datetime.strptime(wait_timestamp(slot), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == slot
    local = slot.astimezone(zone.tzinfo)
    assert local.date() == day
    assert local.hour == {Stage.ROBOCALL_1: 8, Stage.ROBOCALL_2: 10, Stage.ROBOCALL_3: 12, Stage.WHATSAPP: 13,
                          Stage.SMS: 15}[stage]
    assert scheduled_local(zone, day, stage) == local.isoformat()
    assert local.utcoffset() == timedelta(hours=zone.utc_offset_hours)
    assert end > slot  # a wave never runs into the next slot
    nxt = stage.next
    if nxt is not None:
        assert end == slot_utc(zone, day, nxt)


def test_execution_names_are_the_idempotency_key():
    assert execution_name(Zone.WIT, date(2026, 11, 20)) == "t3-WIT-2026-11-20"
