"""The long-running loops of the compose services: SQS workers, scheduler, heartbeats
(GET /health: tests/functional/test_api_health.py)."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import settings
from infra.manifest import FunctionSpec, Manifest, QueueSpec
from localdev.aws.bootstrap import bootstrap
from localdev.loops import cron, heartbeat, scheduler, workers
from tests import runtime_probe_handlers

# unique names: against a shared LocalStack, queues outlive the test run
RUN = uuid.uuid4().hex[:8]
QUEUE, DLQ = f"loop-events-{RUN}", f"loop-events-{RUN}-dlq"
SQS_MANIFEST = Manifest(
    queues=(QueueSpec(QUEUE, dlq=DLQ, max_receive_count=2, visibility_timeout=30),),
    tables=(), state_machines=(),
    functions=(FunctionSpec("loop-consumer", "tests.runtime_probe_handlers.handler",
                            {"sqs": QUEUE, "batch_size": 10}, settings="AnalyticsSettings"),),
)


def test_workers_process_good_messages_once_and_dead_letter_the_poison_one(aws, tmp_path):
    runtime_probe_handlers.PROCESSED.clear()
    urls = bootstrap(SQS_MANIFEST).queue_urls
    sqs = settings.aws_clients().client("sqs")
    bodies = [{"n": 1}, {"poison": True}, {"n": 2}]
    sqs.send_message_batch(QueueUrl=urls[QUEUE],
                           Entries=[{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies)])
    beat = tmp_path / "async.heartbeat"
    totals = workers.run(SQS_MANIFEST, heartbeat_path=beat, max_rounds=6, sleep=lambda _s: None)
    assert sorted(runtime_probe_handlers.PROCESSED) == [1, 2]
    assert totals.deliveries["loop-consumer"].succeeded == 2
    dead = sqs.receive_message(QueueUrl=urls[DLQ], MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in dead] == [{"poison": True}]
    assert heartbeat.age_seconds(beat) is not None and totals.rounds == 6


def test_workers_survive_a_missing_queue_and_keep_beating(aws, tmp_path):
    ghost_queue = f"never-created-{RUN}"  # declared, never created
    missing = Manifest(queues=(QueueSpec(ghost_queue),), tables=(), state_machines=(), functions=(
        FunctionSpec("ghost", "tests.runtime_probe_handlers.handler", {"sqs": ghost_queue},
                     settings="AnalyticsSettings"),))
    beat = tmp_path / "async.heartbeat"
    naps: list[float] = []
    totals = workers.run(missing, heartbeat_path=beat, max_rounds=3, sleep=naps.append, idle_sleep=0.5)
    assert totals.errors == 3 and totals.rounds == 3
    assert naps == [0.5, 0.5, 0.5]
    assert heartbeat.age_seconds(beat) is not None


def _scheduled_manifest() -> Manifest:
    return Manifest(queues=(), tables=(), state_machines=(), functions=(
        FunctionSpec("zone-start", "tests.runtime_probe_handlers.handler", triggers=(
            {"schedule": "cron(0 1 * * ? *)", "input": {"zone": "WIB"}},
            {"schedule": "cron(0 0 * * ? *)", "input": {"zone": "WITA"}},
            {"schedule": "cron(0 23 * * ? *)", "input": {"zone": "WIT"}},
        )),
        FunctionSpec("daily-report", "tests.runtime_probe_handlers.handler", {"schedule": "cron(0 2 * * ? *)"}),
        FunctionSpec("consumer", "tests.runtime_probe_handlers.handler", {"sqs": "q"}),
    ))


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_scheduler_fires_each_trigger_once_at_its_utc_time_with_its_own_input(tmp_path):
    clock = FakeClock(datetime(2026, 11, 21, 22, 30, tzinfo=UTC))
    calls: list[tuple[str, datetime, dict]] = []

    def fire(function: FunctionSpec, at: datetime) -> None:
        from localdev.lambda_runtime.events import scheduled_event

        calls.append((function.name, at, scheduled_event(function.name, function.trigger.get("input"), at)))

    # 4 hours of ticks of at most 15 minutes: 22:30 -> 02:30 UTC
    fired = scheduler.run(_scheduled_manifest(), heartbeat_path=tmp_path / "s.hb", clock=clock, sleep=clock.sleep,
                          tick=900, max_ticks=16, fire=fire)
    day = datetime(2026, 11, 22, tzinfo=UTC)
    assert [(name, at) for name, at, _ in calls] == [
        ("zone-start", day - timedelta(hours=1)),
        ("zone-start", day),
        ("zone-start", day + timedelta(hours=1)),
        ("daily-report", day + timedelta(hours=2)),
    ]
    assert [event.get("zone") for _, _, event in calls[:3]] == ["WIT", "WITA", "WIB"]
    assert calls[3][2]["detail-type"] == "Scheduled Event" and calls[3][2]["time"] == "2026-11-22T02:00:00Z"
    assert len(fired) == 4


def test_scheduler_sleeps_exactly_until_the_next_fire_time(tmp_path):
    clock = FakeClock(datetime(2026, 11, 22, 0, 59, 50, tzinfo=UTC))
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.sleep(seconds)

    fired = scheduler.run(_scheduled_manifest(), heartbeat_path=tmp_path / "s.hb", clock=clock, sleep=sleep,
                          tick=15, max_ticks=1, fire=lambda f, at: None)
    assert naps == [10.0]
    assert fired == [(datetime(2026, 11, 22, 1, tzinfo=UTC), "zone-start")]


def test_the_scheduler_fires_through_the_lambda_runtime_with_the_triggers_input(tmp_path):
    runtime_probe_handlers.SCHEDULED.clear()
    manifest = Manifest(queues=(), tables=(), state_machines=(), functions=(
        FunctionSpec("probe-zone-start", "tests.runtime_probe_handlers.scheduled",
                     {"schedule": "cron(0 1 * * ? *)", "input": {"zone": "WIB"}}, settings="AnalyticsSettings"),))
    clock = FakeClock(datetime(2026, 11, 22, 0, 59, 50, tzinfo=UTC))
    fired = scheduler.run(manifest, heartbeat_path=tmp_path / "s.hb", clock=clock, sleep=clock.sleep, tick=15,
                          max_ticks=1)
    assert fired == [(datetime(2026, 11, 22, 1, tzinfo=UTC), "probe-zone-start")]
    assert runtime_probe_handlers.SCHEDULED == [("probe-zone-start", {"zone": "WIB"})]


def test_a_failing_job_does_not_stop_the_others(tmp_path):
    clock = FakeClock(datetime(2026, 11, 22, 0, 30, tzinfo=UTC))
    seen: list[str] = []

    def fire(function: FunctionSpec, at: datetime) -> None:
        seen.append(function.name)
        if function.name == "zone-start":
            raise RuntimeError("provider down")

    scheduler.run(_scheduled_manifest(), heartbeat_path=tmp_path / "s.hb", clock=clock, sleep=clock.sleep,
                  tick=3600 * 2, max_ticks=2, fire=fire)  # wakes at 01:00, then at 02:00
    assert seen == ["zone-start", "daily-report"]


def test_scheduler_refuses_an_unsupported_schedule_naming_the_function():
    bad = Manifest(queues=(), tables=(), state_machines=(), functions=(
        FunctionSpec("weekday-job", "tests.runtime_probe_handlers.handler", {"schedule": "cron(0 1 ? * MON-FRI *)"}),))
    with pytest.raises(cron.UnsupportedCron, match="weekday-job"):
        scheduler.schedules(bad)


def test_heartbeat_check_fails_when_missing_or_stale_and_passes_when_fresh(tmp_path, capsys):
    beat = tmp_path / "hb"
    assert heartbeat.main([str(beat)]) == 1
    heartbeat.touch(beat)
    assert heartbeat.main([str(beat), "--max-age", "60"]) == 0
    old = time.time() - 600
    os.utime(beat, (old, old))
    assert heartbeat.main([str(beat), "--max-age", "60"]) == 1
    assert "last heartbeat" in capsys.readouterr().err
