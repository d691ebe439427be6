"""The ``scheduler`` container: EventBridge's schedules for the functions of infra/functions.yaml.

    python -m localdev.loops.scheduler [--heartbeat PATH]   # run forever
    python -m localdev.loops.scheduler --check              # validate every cron, print next fire times

Each scheduled trigger fires its function at its UTC cron time through the Lambda runtime, in
process (``LambdaRuntime.in_process``), with the trigger's constant input as EventBridge sends it.
Like EventBridge, missed times while the scheduler was down are not replayed. Only the
``cron(M H * * ? *)`` subset is supported (localdev/loops/cron.py); anything else stops start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.logs import get_logger
from infra.manifest import FunctionSpec, Manifest, load_manifest
from localdev.lambda_runtime.events import scheduled_event
from localdev.lambda_runtime.runtime import LambdaRuntime
from localdev.loops import cron, heartbeat

logger = get_logger("local-scheduler")
DEFAULT_HEARTBEAT = Path("/tmp/julo-scheduler.heartbeat")  # noqa: S108 - container-local liveness file


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One schedule trigger: ``function`` carries only this trigger, so its input is the one fired."""

    function: FunctionSpec
    cron: cron.DailyCron


def schedules(manifest: Manifest) -> list[Schedule]:
    out = []
    for function in manifest.functions:
        for trigger in function.triggers:
            if "schedule" not in trigger:
                continue
            try:
                parsed = cron.parse(trigger["schedule"])
            except cron.UnsupportedCron as exc:
                raise cron.UnsupportedCron(f"function {function.name}: {exc}") from exc
            single = dataclasses.replace(function, trigger=trigger, triggers=(trigger,))
            out.append(Schedule(single, parsed))
    return out


def due(plan: list[Schedule], start: datetime, end: datetime) -> list[tuple[datetime, Schedule]]:
    """Every (fire time, schedule) in (start, end], earliest first."""
    fires = [(at, s) for s in plan for at in s.cron.fires_between(start, end)]
    return sorted(fires, key=lambda pair: (pair[0], pair[1].function.name))


def invoker(manifest: Manifest | None = None) -> Callable[[FunctionSpec, datetime], Any]:
    """Fire one schedule trigger (``Schedule.function`` carries only it) through the runtime, in process."""
    runtime = LambdaRuntime.in_process(manifest)

    def fire(function: FunctionSpec, at: datetime) -> Any:
        return runtime.call(function.name, scheduled_event(function.name, function.trigger.get("input"), at))

    return fire


def run(
    manifest: Manifest | None = None,
    *,
    heartbeat_path: Path = DEFAULT_HEARTBEAT,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    tick: float = 15.0,
    max_ticks: int | None = None,
    fire: Callable[[FunctionSpec, datetime], Any] | None = None,
) -> list[tuple[datetime, str]]:
    """Fire schedules as their times pass (``fire``: default, through the runtime); returns what was
    fired (time, function name)."""
    manifest = manifest or load_manifest()
    plan = schedules(manifest)
    fire = fire or invoker(manifest)
    fired: list[tuple[datetime, str]] = []
    last = clock()
    heartbeat.touch(heartbeat_path)
    logger.info("scheduler started", extra={"schedules": [(s.function.name, s.cron.expression) for s in plan]})
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        upcoming = min((s.cron.next_after(last) for s in plan), default=None)
        wait = tick if upcoming is None else min(tick, max(0.0, (upcoming - last).total_seconds()))
        sleep(wait)
        now = clock()
        for at, s in due(plan, last, now):
            try:
                fire(s.function, at)
                logger.info("fired", extra={"function": s.function.name, "at": at.isoformat()})
            except Exception as exc:  # one failing job must not stop the others
                logger.error("schedule failed", extra={"function": s.function.name, "at": at.isoformat(),
                                                       "error": repr(exc)})
            fired.append((at, s.function.name))
        last = now
        heartbeat.touch(heartbeat_path)
        ticks += 1
    return fired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.loops.scheduler")
    parser.add_argument("--heartbeat", type=Path, default=DEFAULT_HEARTBEAT)
    parser.add_argument("--check", action="store_true", help="validate the schedules and print next fire times")
    args = parser.parse_args(argv)
    try:
        plan = schedules(load_manifest())
    except cron.UnsupportedCron as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2
    if args.check:
        now = datetime.now(UTC)
        for s in plan:
            print(f"{s.function.name}\t{s.cron.expression}\tnext {s.cron.next_after(now):%Y-%m-%dT%H:%M:%SZ}")
        return 0
    run(heartbeat_path=args.heartbeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
