"""How a stage's task token is answered: success once every chunk of the owning attempt has finished,
failure at once when a chunk can no longer finish (so the Step Functions retry starts without
waiting for the heartbeat)."""

from __future__ import annotations

from typing import Any

from chalicelib.logs import get_logger
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.stages import StageRun, wait_timestamp
from chalicelib.reminders.store import ReminderStore, StageState

logger = get_logger("reminders")

CHUNK_FAILED = "ChunkFailed"


def stage_output(state: StageState) -> dict[str, Any]:
    """The stage task's result: the owning attempt's counters and when the next state may start."""
    return {**state.run.ids(), **state.counters(), "next_at": wait_timestamp(state.run.window_end)}


def complete_if_done(store: ReminderStore, tasks: TaskCallbacks, state: StageState | None) -> bool:
    """Answer the stage's task once its last chunk has finished; True for exactly one caller."""
    if state is None or not store.claim_completion(state):
        return False
    if not state.task_token or not tasks.succeed(state.task_token, stage_output(state)):
        logger.warning("stage finished but its task is no longer waiting", extra=state.run.ids())
    logger.info("stage complete", extra={**state.run.ids(), **state.counters()})
    return True


def fail_stage(store: ReminderStore, tasks: TaskCallbacks, run: StageRun, cause: str) -> bool:
    """Fail the stage's task now (``SendTaskFailure``), once per attempt, if ``run`` still owns the stage
    and it is not done."""
    state = store.claim_failure(run)
    if state is None or not state.task_token:
        logger.info("stage not failed: another attempt owns it, it is done or already failed", extra=run.ids())
        return False
    failed = tasks.fail(state.task_token, CHUNK_FAILED, cause)
    logger.error("stage task failed", extra={**run.ids(), "cause": cause[:500], "task_was_waiting": failed})
    return failed
