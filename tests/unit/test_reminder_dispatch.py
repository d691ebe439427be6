"""Dispatch rules against the in-memory store and scripted providers: no second send when an answer
may have been lost, a stale chunk calls nobody, a chunk that cannot finish fails its task at once,
chunks sized to the function's timeout at the measured pacing."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.contact_policy import ContactPolicy, FixedClock
from chalicelib.reminders.completion import fail_stage
from chalicelib.reminders.contact import MemoryContactRecords
from chalicelib.reminders.dispatch import ChunkDeferred, Dispatcher, dispatch_message
from chalicelib.reminders.messages import Chunk, chunk_body
from chalicelib.reminders.outcomes import CallbackRef, bound_entry
from chalicelib.reminders.providers import Accepted, OutcomeUnknown, ProviderGaveUp
from chalicelib.reminders.stage_worker import CHUNK_TIME_SHARE, MAX_CHUNK, MIN_CHUNK, chunk_size_for
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store import EntryStatus, Pacing, StoreUnavailable
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.zones import Zone

RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_1)
IN_THE_SLOT = FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage) + timedelta(minutes=1))  # 08:01 WIB
REFERENCE_KEY = "unit-test-callback-reference-key-0123456789"


class Tasks:
    def __init__(self) -> None:
        self.succeeded: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        self.succeeded.append(token)
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.failed.append((token, error))
        return True

    def heartbeat(self, token: str) -> bool:
        return True


class Voice:
    """Answers per number from a script: an id, or an exception to raise."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.calls: list[str] = []

    def chunk(self, expected: int) -> AbstractContextManager[None]:
        return nullcontext()

    def call(self, to: str, text: str, event_url: str, *, language: str = "id-ID", gate: Any = None) -> Accepted:
        if gate is not None:
            gate()
        self.calls.append(to)
        answer = self.script.get(to, f"call-{to}")
        if isinstance(answer, Exception):
            raise answer
        return Accepted(answer, 1)


def _payment(pid: int) -> dict[str, Any]:
    return {"payment_id": pid, "loan_id": pid, "phone": f"0812{pid:04d}", "name": "Siti", "amount": 1_000_000,
            "due_date": "2026-11-23", "product": "JULO", "postcode": "10110"}


def _chunk(run: StageRun, pids: list[int], chunk_id: str = "0-1") -> dict[str, Any]:
    import json

    rows = json.dumps([[p[k] for k in ("payment_id", "loan_id", "phone", "name", "amount", "due_date", "product",
                                       "postcode")] + [p["payment_id"]] for p in map(_payment, pids)])
    return chunk_body(run, chunk_id, rows)


def _setup(script: dict[str, Any], chunks: int = 1) -> tuple[MemoryReminderStore, Voice, Tasks, Dispatcher]:
    store, voice, tasks = MemoryReminderStore(), Voice(script), Tasks()
    store.start_stage(RUN, "token-0")
    store.seal_stage(RUN, chunks, {"selected": 3, "enqueued": 3})
    return store, voice, tasks, Dispatcher(None, store=store, voice=voice, tasks=tasks,  # type: ignore[arg-type]
                                           clock=IN_THE_SLOT, policy=ContactPolicy(),
                                           records=MemoryContactRecords(), reference_key=REFERENCE_KEY)


def test_a_lost_answer_is_uncertain_and_a_redelivered_chunk_never_sends_it_again() -> None:
    store, voice, tasks, dispatcher = _setup({"628120002": OutcomeUnknown("answer lost", attempts=1),
                                              "628120003": ProviderGaveUp("gave up", attempts=4)})
    chunk = Chunk.parse(_chunk(RUN, [1, 2, 3]))
    assert dispatcher.run(chunk) == {"placed": 1, "place_failed": 1, "unknown": 1, "skipped": 0, "deferred": 0}
    assert store.get(RUN, 2).status == EntryStatus.UNCERTAIN
    assert tasks.succeeded == ["token-0"]
    dispatcher.run(chunk)  # redelivered
    assert sorted(voice.calls) == ["628120001", "628120002", "628120003"]
    # the provider's signed callback for the uncertain one binds it
    assert bound_entry(store, CallbackRef(2, RUN), "call-lost").status == EntryStatus.PLACED


def test_a_crash_between_accept_and_ledger_write_leaves_attempting_and_nobody_is_called_again() -> None:
    store, voice, _tasks, dispatcher = _setup({})
    real_settle = store.settle

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("worker killed")

    store.settle = crash  # type: ignore[method-assign]
    chunk = Chunk.parse(_chunk(RUN, [1]))
    with pytest.raises(SystemExit):
        dispatcher.run(chunk)
    store.settle = real_settle  # type: ignore[method-assign]
    assert dispatcher.run(chunk)["unknown"] == 1  # redelivered: counted unknown, not sent again
    assert voice.calls == ["628120001"]
    assert bound_entry(store, CallbackRef(1, RUN), "call-628120001").provider_id == "call-628120001"


def test_a_chunk_of_an_older_attempt_calls_nobody() -> None:
    store, voice, tasks, dispatcher = _setup({})
    store.start_stage(RUN.with_attempt(1), "token-1")
    assert dispatcher.run(Chunk.parse(_chunk(RUN, [1, 2]))) == {"placed": 0, "place_failed": 0, "unknown": 0,
                                                                "skipped": 0, "deferred": 0}
    assert voice.calls == [] and tasks.succeeded == []


def test_a_chunk_failing_on_its_last_receive_fails_its_task_at_once() -> None:
    store, _voice, tasks, dispatcher = _setup({})
    body = _chunk(RUN, [1])

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("dynamodb down")

    store.claim = down  # type: ignore[method-assign]
    for receive in (1, 2):
        with pytest.raises(RuntimeError):
            dispatch_message(dispatcher, body, receive_count=receive, max_receives=3)
    assert tasks.failed == []
    with pytest.raises(RuntimeError):
        dispatch_message(dispatcher, body, receive_count=3, max_receives=3)
    assert tasks.failed == [("token-0", "ChunkFailed")]


def test_a_poison_chunk_fails_its_task_on_the_first_receive() -> None:
    _store, voice, tasks, dispatcher = _setup({})
    body = {**_chunk(RUN, [1]), "rows_gz": "bm90IGd6aXA="}
    with pytest.raises(ValueError, match="unreadable"):
        dispatch_message(dispatcher, body, receive_count=1, max_receives=3)
    assert tasks.failed == [("token-0", "ChunkFailed")] and voice.calls == []


def test_dispatch_records_the_pacing_it_measured_with_its_own_timeout() -> None:
    store, _voice, _tasks, dispatcher = _setup({})
    dispatcher.run(Chunk.parse(_chunk(RUN, list(range(1, 21)))), remaining_seconds=300)
    pacing = store.pacing(RUN.stage.channel)
    assert pacing is not None and pacing.timeout_seconds == 300 and pacing.per_second > 0


@given(st.floats(min_value=0.01, max_value=10_000), st.sampled_from([300.0, 900.0]))
def test_a_chunk_fits_in_the_dispatch_timeout_at_the_measured_pacing(per_second: float, timeout: float) -> None:
    size = chunk_size_for(Pacing(per_second, timeout))
    assert MIN_CHUNK <= size <= MAX_CHUNK
    assert size == MIN_CHUNK or size / per_second <= timeout * CHUNK_TIME_SHARE


def test_dispatch_timeouts_match_the_deployed_functions() -> None:
    from pathlib import Path

    import yaml

    from chalicelib.reminders.messages import DISPATCH_QUEUES
    from chalicelib.reminders.stage_worker import DISPATCH_TIMEOUT_SECONDS

    manifest = yaml.safe_load((Path(__file__).parents[2] / "infra" / "functions.yaml").read_text())
    timeouts = {f["trigger"]["sqs"]: f["timeout"] for f in manifest["functions"]
                if isinstance(f.get("trigger"), dict) and "sqs" in f["trigger"]}
    assert {ch: timeouts[q] for ch, q in DISPATCH_QUEUES.items()} == DISPATCH_TIMEOUT_SECONDS


# --- issue 22: a refused write costs one payment's step; the task's answer is never lost ---------------------


class FlakyStore(MemoryReminderStore):
    """The in-memory store whose named operations raise StoreUnavailable for the given payments / times."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_claims: set[int] = set()
        self.refuse_settles: set[int] = set()
        self.refuse_completions = 0

    def claim(self, run: StageRun, payment_id: int) -> Any:
        if payment_id in self.refuse_claims:
            raise StoreUnavailable("claim: ProvisionedThroughputExceededException")
        return super().claim(run, payment_id)

    def settle(self, run: StageRun, payment_id: int, status: str, **kwargs: Any) -> Any:
        if payment_id in self.refuse_settles:
            raise StoreUnavailable("settle: ProvisionedThroughputExceededException")
        return super().settle(run, payment_id, status, **kwargs)

    def claim_completion(self, state: Any, answer: Any = None) -> bool:
        if self.refuse_completions:
            self.refuse_completions -= 1
            raise StoreUnavailable("claim_completion: InternalServerError")
        return super().claim_completion(state, answer)


class RefusingTasks(Tasks):
    """Step Functions refusing the first ``refusals`` SendTaskSuccess calls (past the client's retries)."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.heartbeats = 0

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError("ThrottlingException")
        return super().succeed(token, output)

    def heartbeat(self, token: str) -> bool:
        self.heartbeats += 1
        return True


def _flaky(tasks: Tasks | None = None) -> tuple[FlakyStore, Voice, Tasks, Dispatcher]:
    store, voice, tasks = FlakyStore(), Voice({}), tasks or Tasks()
    store.start_stage(RUN, "token-0")
    store.seal_stage(RUN, 1, {"selected": 3, "enqueued": 3})
    return store, voice, tasks, Dispatcher(None, store=store, voice=voice, tasks=tasks,  # type: ignore[arg-type]
                                           clock=IN_THE_SLOT, policy=ContactPolicy(),
                                           records=MemoryContactRecords(), reference_key=REFERENCE_KEY)


def test_a_refused_claim_defers_that_payment_only_and_the_redelivery_continues_where_it_stopped() -> None:
    store, voice, tasks, dispatcher = _flaky()
    store.refuse_claims = {2}
    chunk = Chunk.parse(_chunk(RUN, [1, 2, 3]))
    with pytest.raises(ChunkDeferred):
        dispatcher.run(chunk)
    assert sorted(voice.calls) == ["628120001", "628120003"], "the rest of the chunk was placed"
    assert store.get(RUN, 2) is None and store.stage(RUN).done_chunks == frozenset()
    store.refuse_claims = set()
    assert dispatcher.run(chunk) == {"placed": 3, "place_failed": 0, "unknown": 0, "skipped": 0, "deferred": 0}
    assert sorted(voice.calls) == ["628120001", "628120002", "628120003"], "nobody called twice"
    assert tasks.succeeded == ["token-0"]


def test_a_refused_settle_after_the_send_counts_unknown_until_the_callback_binds_it() -> None:
    store, voice, tasks, dispatcher = _flaky()
    store.refuse_settles = {1}
    counts = dispatcher.run(Chunk.parse(_chunk(RUN, [1, 2, 3])))
    assert counts == {"placed": 2, "place_failed": 0, "unknown": 1, "skipped": 0, "deferred": 0}
    assert voice.calls.count("628120001") == 1 and tasks.succeeded == ["token-0"]
    assert bound_entry(store, CallbackRef(1, RUN), "call-628120001").status == EntryStatus.PLACED


def test_a_failed_completion_write_is_completed_by_the_chunks_redelivery() -> None:
    store, voice, tasks, dispatcher = _flaky()
    store.refuse_completions = 1
    chunk = Chunk.parse(_chunk(RUN, [1, 2, 3]))
    with pytest.raises(StoreUnavailable):
        dispatcher.run(chunk)
    assert tasks.succeeded == [] and not store.stage(RUN).completed
    dispatcher.run(chunk)                      # the message comes back: counted already, so it completes
    assert tasks.succeeded == ["token-0"] and store.stage(RUN).answered
    dispatcher.run(chunk)                      # once more: the answer was taken, nothing is sent again
    assert tasks.succeeded == ["token-0"] and len(voice.calls) == 3


def test_a_refused_answer_is_stored_and_sent_again_by_the_next_delivery_and_heartbeats_go_on_until_then() -> None:
    tasks = RefusingTasks(refusals=2)
    store, _voice, _tasks, dispatcher = _flaky(tasks)
    chunk = Chunk.parse(_chunk(RUN, [1, 2, 3]))
    with pytest.raises(RuntimeError, match="Throttling"):
        dispatcher.run(chunk)
    state = store.stage(RUN)
    assert state.completed and not state.answered and state.answer["placed"] == 3
    with pytest.raises(RuntimeError, match="Throttling"):
        dispatcher.run(chunk)                  # still refused: still not lost
    beats = tasks.heartbeats
    dispatcher.run(chunk)
    assert tasks.heartbeats == beats + 1, "the completed but unanswered stage is still heart-beaten"
    assert tasks.succeeded == ["token-0"] and store.stage(RUN).answered
    dispatcher.run(chunk)
    assert tasks.heartbeats == beats + 1, "no heartbeat once the answer was taken"


def test_a_chunk_counted_before_never_fails_its_stage_on_its_last_receive() -> None:
    tasks = RefusingTasks(refusals=10)
    store, _voice, _tasks, dispatcher = _flaky(tasks)
    body = _chunk(RUN, [1])
    for receive in (1, 2, 3):
        with pytest.raises(RuntimeError):
            dispatch_message(dispatcher, body, receive_count=receive, max_receives=3)
    assert tasks.failed == [], "the stage's calls were all placed: its task is answered, not failed"
    assert store.stage(RUN).completed and not store.stage(RUN).failed


def test_a_failure_that_cannot_be_sent_gives_the_right_to_fail_back() -> None:
    store = MemoryReminderStore()
    store.start_stage(RUN, "token-0")

    class DownTasks(Tasks):
        def fail(self, token: str, error: str, cause: str) -> bool:
            raise RuntimeError("ThrottlingException")

    with pytest.raises(RuntimeError):
        fail_stage(store, DownTasks(), RUN, "chunk lost")  # type: ignore[arg-type]
    assert not store.stage(RUN).failed
    tasks = Tasks()
    assert fail_stage(store, tasks, RUN, "chunk lost") and tasks.failed == [("token-0", "ChunkFailed")]  # type: ignore[arg-type]


def test_task_calls_are_tried_again_on_throttling_and_a_closed_task_is_not_an_error() -> None:
    import boto3
    from botocore.exceptions import ClientError

    from chalicelib.reminders.adapters import TaskCallbacks

    sfn = boto3.session.Session().client("stepfunctions", region_name="ap-southeast-3", aws_access_key_id="x",
                                         aws_secret_access_key="x")  # never called: its methods are replaced
    refusals = [ClientError({"Error": {"Code": "ThrottlingException"}}, "SendTaskSuccess")] * 2
    sent: list[str] = []

    def send_task_success(**kwargs: Any) -> None:
        if refusals:
            raise refusals.pop()
        sent.append(kwargs["taskToken"])

    sfn.send_task_success = send_task_success
    tasks = TaskCallbacks(attempts=3, backoff_base=0.001, sfn=sfn)
    assert tasks.succeed("token-0", {"placed": 1}) and sent == ["token-0"]
    refusals.extend([ClientError({"Error": {"Code": "ThrottlingException"}}, "SendTaskSuccess")] * 3)
    with pytest.raises(ClientError):
        tasks.succeed("token-0", {"placed": 1})           # past its tries: raised, the message comes back
    refusals.clear()

    def closed(**kwargs: Any) -> None:
        raise sfn.exceptions.TaskTimedOut({"Error": {"Code": "TaskTimedOut"}}, "SendTaskSuccess")

    sfn.send_task_success = closed
    assert tasks.succeed("token-0", {"placed": 1}) is False


def test_credentials_refused_twice_leave_the_payments_for_later_and_mark_nobody_failed() -> None:
    from chalicelib.reminders.providers import CredentialsRefused

    store, voice, tasks = MemoryReminderStore(), Voice({"628120002": CredentialsRefused("401 twice", attempts=2,
                                                                                         code=401)}), Tasks()
    store.start_stage(RUN, "token-0")
    store.seal_stage(RUN, 1, {"selected": 3, "enqueued": 3})
    dispatcher = Dispatcher(None, store=store, voice=voice, tasks=tasks,  # type: ignore[arg-type]
                            clock=IN_THE_SLOT, policy=ContactPolicy(), records=MemoryContactRecords(),
                            reference_key=REFERENCE_KEY)
    dispatcher.concurrency = 1  # in order: 1 placed, 2 refused, 3 not tried
    chunk = Chunk.parse(_chunk(RUN, [1, 2, 3]))
    with pytest.raises(ChunkDeferred, match="ProviderCredentialsRefused"):
        dispatcher.run(chunk)
    assert voice.calls == ["628120001", "628120002"], "nobody tried after the refusal"
    assert store.get(RUN, 2) is None and store.get(RUN, 3) is None, "no payment marked failed: released"
    voice.script.clear()                        # the configuration is fixed; the chunk comes back
    assert dispatcher.run(chunk) == {"placed": 3, "place_failed": 0, "unknown": 0, "skipped": 0, "deferred": 0}
    assert voice.calls == ["628120001", "628120002", "628120002", "628120003"]
    assert tasks.succeeded == ["token-0"]


class Sms:
    """The SMS client's interface, answering per number from a script: an id, or an exception to raise."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.sent: list[str] = []

    def send(self, to: str, text: str, client_ref: str, callback_url: str | None = None, *,
             gate: Any = None) -> Accepted:
        if gate is not None:
            gate()
        self.sent.append(to)
        answer = self.script.get(to, f"sms-{to}")
        if isinstance(answer, Exception):
            raise answer
        return Accepted(answer, 1)


def test_an_sms_refused_for_our_credentials_is_released_alarmed_and_sent_once_they_are_fixed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMS channel follows the same rule as calls and WhatsApp: status 4 / 401 after the re-read is
    a configuration error (the alarm's metric, per channel), never the borrower's failure."""
    from chalicelib.reminders import dispatch, metrics
    from chalicelib.reminders.providers import CredentialsRefused

    emitted: list[tuple[dict[str, str], dict[str, int]]] = []
    monkeypatch.setattr(dispatch.templates, "with_whatsapp_details", lambda conn, payments: payments)  # no database
    monkeypatch.setattr(dispatch.metrics, "emit", lambda dims, values, *a, **k: emitted.append((dims, values)))
    run = StageRun(Zone.WIB, date(2026, 11, 20), Stage.SMS)
    store, tasks = MemoryReminderStore(), Tasks()
    sms = Sms({"628120002": CredentialsRefused("status 4 Invalid Credentials, again after the re-read",
                                               attempts=2, code=4)})
    store.start_stage(run, "token-sms")
    store.seal_stage(run, 1, {"selected": 3, "enqueued": 3})
    in_the_slot = FixedClock(slot_utc(run.zone, run.business_date, run.stage) + timedelta(minutes=1))
    dispatcher = Dispatcher(None, store=store, sms=sms, tasks=tasks,  # type: ignore[arg-type]
                            clock=in_the_slot, policy=ContactPolicy(), records=MemoryContactRecords(),
                            reference_key=REFERENCE_KEY)
    dispatcher.concurrency = 1
    chunk = Chunk.parse(_chunk(run, [1, 2, 3]))
    with pytest.raises(ChunkDeferred, match="ProviderCredentialsRefused"):
        dispatcher.run(chunk)
    assert sms.sent == ["628120001", "628120002"], "nobody tried after the refusal"
    assert store.get(run, 2) is None and store.get(run, 3) is None, "no payment marked failed: released"
    assert ({"channel": "sms"}, {metrics.CREDENTIALS_REFUSED: 1}) in emitted
    sms.script.clear()                          # the secret is fixed; the chunk comes back
    assert dispatcher.run(chunk) == {"placed": 3, "place_failed": 0, "unknown": 0, "skipped": 0, "deferred": 0}
    assert sms.sent == ["628120001", "628120002", "628120002", "628120003"]
    assert tasks.succeeded == ["token-sms"]
