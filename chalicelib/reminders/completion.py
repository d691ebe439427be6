"""How a stage's task token is answered: success once every chunk of the owning attempt has finished,
failure at once when a chunk can no longer finish (so the Step Functions retry starts without
waiting for the heartbeat).

The answer cannot be lost:

- the caller that finishes the last chunk marks the stage complete *and stores the answer* in one
  conditional write (``claim_completion``), then sends it (``SendTaskSuccess``, retried on
  throttling) and notes that Step Functions took it (``record_answered``);
- when the send (or the completion write itself) fails, the caller's message comes back; a chunk of
  that stage delivered again finds its chunk counted and calls ``answer_if_finished``, which
  completes the stage if nobody did, or sends the stored answer again until it is acknowledged; a
  stage message delivered again (``StartOutcome.COMPLETED``) does the same;
- dispatch keeps heart-beating the task until the answer is acknowledged, not until it is stored.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.logs import get_logger
from chalicelib.reminders.adapters import TaskCallbacks
from chalicelib.reminders.stages import DEFAULT_TIMETABLE, StageRun, Timetable, wait_timestamp
from chalicelib.reminders.store import ReminderStore, StageState, StoreUnavailable

logger = get_logger("reminders")

CHUNK_FAILED = "ChunkFailed"


def stage_output(state: StageState, timetable: Timetable = DEFAULT_TIMETABLE) -> dict[str, Any]:
    """The stage task's result: the owning attempt's counters and when the next state may start."""
    return {**state.run.ids(), **state.counters(), "next_at": wait_timestamp(state.run.window_end_in(timetable))}


def complete_if_done(store: ReminderStore, tasks: TaskCallbacks, state: StageState | None,
                     timetable: Timetable = DEFAULT_TIMETABLE) -> bool:
    """Answer the stage's task once its last chunk has finished; True for exactly one caller.

    Raises (``StoreUnavailable``, a refused ``SendTaskSuccess``) when the answer did not get through:
    the caller's message must come back, and its next delivery answers (``answer_if_finished``).
    """
    if state is None or not state.all_chunks_done:
        return False
    output = stage_output(state, timetable)
    if not store.claim_completion(state, output):
        return False
    logger.info("stage complete", extra={**state.run.ids(), **state.counters()})
    send_answer(store, tasks, replace(state, completed=True, answer=output), timetable)
    return True


def send_answer(store: ReminderStore, tasks: TaskCallbacks, state: StageState,
                timetable: Timetable = DEFAULT_TIMETABLE) -> None:
    """Send a completed stage's stored answer to its task and note that it was taken."""
    if not state.task_token:
        return
    answer = dict(state.answer) if state.answer is not None else stage_output(state, timetable)
    if not tasks.succeed(state.task_token, answer):
        logger.warning("stage finished but its task is no longer waiting", extra=state.run.ids())
    try:
        store.record_answered(state.run)
    except StoreUnavailable:  # the answer went through; a later delivery sends it again and hears "closed"
        logger.warning("could not note that the stage's answer was taken", extra=state.run.ids())


def answer_if_finished(store: ReminderStore, tasks: TaskCallbacks, run: StageRun,
                       timetable: Timetable = DEFAULT_TIMETABLE) -> bool:
    """For a message delivered again: complete the stage if its chunks are done and nobody completed it,
    or send its stored answer again if Step Functions has not taken it. True if an answer was sent."""
    state = store.stage(run)
    if state is None or state.run.attempt != run.attempt:
        return False
    if not state.completed:
        return complete_if_done(store, tasks, state, timetable)
    if state.answered:
        return False
    logger.warning("stage complete but its answer was not taken: sending it again", extra=run.ids())
    send_answer(store, tasks, state, timetable)
    return True


def fail_stage(store: ReminderStore, tasks: TaskCallbacks, run: StageRun, cause: str) -> bool:
    """Fail the stage's task now (``SendTaskFailure``), once per attempt, if ``run`` still owns the stage
    and it is not done. A failure that cannot be sent gives the right to fail back (and raises)."""
    state = store.claim_failure(run)
    if state is None or not state.task_token:
        logger.info("stage not failed: another attempt owns it, it is done or already failed", extra=run.ids())
        return False
    try:
        failed = tasks.fail(state.task_token, CHUNK_FAILED, cause)
    except Exception:
        store.release_failure(run)
        raise
    logger.error("stage task failed", extra={**run.ids(), "cause": cause[:500], "task_was_waiting": failed})
    return failed
