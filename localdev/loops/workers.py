"""The SQS workers of the ``async`` container: Lambda's SQS integration, as a long-running loop.

    python -m localdev.loops.workers [--heartbeat PATH] [--idle-sleep SECONDS]

Every round delivers one batch to every SQS-triggered function of infra/functions.yaml
(``LambdaRuntime.deliver`` in process: same event shape, partial batch responses, DLQ after
maxReceiveCount) and touches the heartbeat file the container healthcheck reads. A broker
that is briefly unreachable is logged and retried; the loop never dies on one bad round.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.logs import get_logger
from infra.manifest import Manifest
from localdev.lambda_runtime.events import Delivery, add_delivery
from localdev.lambda_runtime.runtime import LambdaRuntime
from localdev.loops import heartbeat

logger = get_logger("local-workers")
DEFAULT_HEARTBEAT = Path("/tmp/julo-async.heartbeat")  # noqa: S108 - container-local liveness file


@dataclass
class WorkerTotals:
    rounds: int = 0
    errors: int = 0
    deliveries: dict[str, Delivery] = field(default_factory=dict)


def sqs_functions(runtime: LambdaRuntime) -> list[str]:
    return sorted(name for name, f in runtime.functions.items() if f.sqs_queue)


def run_round(runtime: LambdaRuntime, functions: list[str], totals: WorkerTotals) -> int:
    """One batch per function; returns how many messages were received."""
    moved = 0
    for name in functions:
        try:
            d = runtime.deliver(name)
        except Exception as exc:  # broker down, queue not created yet: log, keep the loop alive
            totals.errors += 1
            logger.warning("delivery failed", extra={"function": name, "error": repr(exc)})
            continue
        moved += add_delivery(totals.deliveries.setdefault(name, Delivery()), d)
        if d.received:
            logger.info("delivered", extra={"function": name, "received": d.received, "failed": d.failed})
    return moved


def run(
    manifest: Manifest | None = None,
    *,
    heartbeat_path: Path = DEFAULT_HEARTBEAT,
    idle_sleep: float = 1.0,
    max_rounds: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkerTotals:
    """Deliver forever (or ``max_rounds`` rounds); sleep ``idle_sleep`` after a round that moved nothing."""
    runtime = LambdaRuntime.in_process(manifest)
    functions = sqs_functions(runtime)
    totals = WorkerTotals()
    logger.info("workers started", extra={"functions": functions})
    while max_rounds is None or totals.rounds < max_rounds:
        moved = run_round(runtime, functions, totals)
        totals.rounds += 1
        heartbeat.touch(heartbeat_path)
        if moved == 0:
            sleep(idle_sleep)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.loops.workers")
    parser.add_argument("--heartbeat", type=Path, default=DEFAULT_HEARTBEAT)
    parser.add_argument("--idle-sleep", type=float, default=1.0)
    args = parser.parse_args(argv)
    run(heartbeat_path=args.heartbeat, idle_sleep=args.idle_sleep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
