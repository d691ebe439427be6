"""The stage worker killed at every step of ``run_stage``, then its message delivered again.

Between the crash and the redelivery, the chunks already on the queue run and three borrowers
answer (so selecting again would give another set). Whatever step the worker died at, once the
redelivered message and every chunk have run:

- per attempt selected = placed + place_failed + unknown + not_placed + skipped (the stage summary);
- the payments called are exactly the attempt's sealed selection, each called once;
- the stage is complete and its task got the stored answer, whose counts are the summary's.

Real PostgreSQL (the sealed selection), the in-memory store (the same rules as DynamoDB's), the
real Dispatcher with a scripted voice client; every store call, every enqueued chunk, every
commit and every task call is a step the worker can die before or after.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg2.extensions
import pytest

from chalicelib.contact_policy import ContactPolicy, FixedClock
from chalicelib.reminders import stage_selection
from chalicelib.reminders.contact import MemoryContactRecords
from chalicelib.reminders.dispatch import Dispatcher
from chalicelib.reminders.messages import Chunk, StageMessage
from chalicelib.reminders.providers import Accepted
from chalicelib.reminders.stage_worker import run_stage, selection_key
from chalicelib.reminders.stages import Stage, StageRun, slot_utc
from chalicelib.reminders.store.memory import MemoryReminderStore
from chalicelib.reminders.summary import stage_summary
from chalicelib.zones import Zone
from tests.factories import make_loan, make_partner, stage_settings

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)
RUN = StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_2)
IN_THE_SLOT = FixedClock(slot_utc(RUN.zone, RUN.business_date, RUN.stage) + timedelta(minutes=1))  # 10:01 WIB
PAYMENTS = 7
CHUNK = 3


class WorkerKilled(BaseException):
    """The stage function died (not an Exception: nothing in the code under test may catch it)."""


class Crasher:
    """Counts steps; raises WorkerKilled at step ``at`` (None: never, just count)."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.steps: list[str] = []

    def step(self, name: str) -> None:
        self.steps.append(name)
        if self.at is not None and len(self.steps) == self.at:
            raise WorkerKilled(name)


class Crashing:
    """Every method call of ``inner`` is two steps: before it and after it."""

    def __init__(self, inner: Any, crasher: Crasher, name: str) -> None:
        self._inner, self._crasher, self._name = inner, crasher, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value) or attr in ("cursor",):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._crasher.step(f"before {self._name}.{attr}")
            result = value(*args, **kwargs)
            self._crasher.step(f"after {self._name}.{attr}")
            return result

        return call


class Queue:
    def __init__(self, crasher: Crasher | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.crasher = crasher

    def send(self, bodies: Any) -> int:
        n = 0
        for body in bodies:
            if self.crasher is not None:
                self.crasher.step("enqueue a chunk")
            self.bodies.append(body)
            n += 1
        return n


class Tasks:
    def __init__(self) -> None:
        self.answers: list[tuple[str, dict[str, Any]]] = []

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        self.answers.append((token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        raise AssertionError(f"no chunk fails here: {cause}")

    def heartbeat(self, token: str) -> bool:
        return True


class Voice:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def call(self, to: str, text: str, event_url: str, *, language: str = "id-ID", gate: Any = None) -> Accepted:
        if gate is not None:
            gate()
        self.calls.append(to)
        return Accepted(f"call-{to}", 1)


@pytest.fixture
def due(conn: psycopg2.extensions.connection) -> dict[str, int]:
    """phone (international) -> payment id, for seven borrowers every robocall failed so far."""
    make_partner(conn, 1, "Lendana P2P")
    phones = {}
    for i in range(PAYMENTS):
        loan = make_loan(conn, postcode="10110", phone=f"08130077{i:04d}", due_dates=[DUE],
                         loan_amount=3_000_000 + i * 1_000)
        phones[f"628130077{i:04d}"] = loan.payment_ids[0]
    conn.commit()
    return phones


def _reset(conn: psycopg2.extensions.connection, answered_before: bool) -> None:
    with conn.cursor() as cur:
        cur.execute("DELETE FROM reminder_stage_selection")
        cur.execute("UPDATE payment SET is_success_robocall = %s", (answered_before,))
    conn.commit()


def _answer_three(conn: psycopg2.extensions.connection) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE payment SET is_success_robocall = TRUE WHERE payment_id IN "
                    "(SELECT payment_id FROM payment ORDER BY payment_id LIMIT 3)")
    conn.commit()


def _dispatch(queue: Queue, store: MemoryReminderStore, voice: Voice, tasks: Tasks) -> None:
    dispatcher = Dispatcher(None, store=store, voice=voice, tasks=tasks,  # type: ignore[arg-type]
                            clock=IN_THE_SLOT, policy=ContactPolicy(), records=MemoryContactRecords(),
                            reference_key="unit-test-callback-reference-key-0123456789")
    while queue.bodies:
        dispatcher.run(Chunk.parse(queue.bodies.pop(0)))


def _day(conn: psycopg2.extensions.connection, crash_at: int | None,
         answered_before: bool) -> tuple[Crasher, MemoryReminderStore, Voice, Tasks, bool]:
    _reset(conn, answered_before)
    store, voice, tasks, crasher = MemoryReminderStore(), Voice(), Tasks(), Crasher(crash_at)
    queue = Queue(crasher)
    msg = StageMessage(RUN, "token-0")
    killed = False
    try:
        run_stage(Crashing(conn, crasher, "postgres"), msg, stage_settings(), store=Crashing(store, crasher, "store"),  # type: ignore[arg-type]
                  tasks=Crashing(tasks, crasher, "tasks"), queue=queue, chunk_size=CHUNK,  # type: ignore[arg-type]
                  clock=IN_THE_SLOT, policy=ContactPolicy())
    except WorkerKilled:
        killed = True
    conn.rollback()  # the session dies with the worker
    _dispatch(queue, store, voice, tasks)     # the chunks that made it onto the queue run
    _answer_three(conn)                       # three borrowers answered meanwhile
    queue.crasher = None
    run_stage(conn, msg, stage_settings(), store=store, tasks=tasks, queue=queue,  # the message comes back
              chunk_size=CHUNK,
              clock=IN_THE_SLOT, policy=ContactPolicy())
    _dispatch(queue, store, voice, tasks)
    return crasher, store, voice, tasks, killed


@pytest.mark.parametrize("answered_before", [False, True], ids=["seven selected", "nothing left to call"])
def test_the_stage_adds_up_whatever_step_the_worker_died_at(conn: psycopg2.extensions.connection,
                                                            due: dict[str, int], answered_before: bool) -> None:
    clean, *_ = _day(conn, None, answered_before)
    steps = clean.steps
    assert any("seal_stage" in s for s in steps) and len(steps) > 10
    if answered_before:  # an empty stage: the worker itself completes and answers the task
        assert "before tasks.succeed" in steps and "before store.record_answered" in steps
        selected_now = {0}
    else:
        assert steps.index("after store.seal_stage") < steps.index("enqueue a chunk"), \
            "the stage record is sealed before any chunk is enqueued"
        # sealed before the crash: the 7 selected then; sealed after it: the 4 still unanswered
        selected_now = {PAYMENTS, PAYMENTS - 3}
    for at in range(1, len(steps) + 1):
        crasher, store, voice, tasks, killed = _day(conn, at, answered_before)
        where = f"killed at step {at} ({crasher.steps[at - 1]})"
        assert killed, where
        summary = stage_summary(store, RUN)
        parts = (summary["placed"] + summary["place_failed"] + summary["unknown"] + summary["not_placed"]
                 + summary["skipped"])
        assert summary["selected"] == parts, f"{where}: {summary}"
        sealed = stage_selection.selected_ids(conn, selection_key(store.stage(RUN)))
        called = [due[number] for number in voice.calls]
        assert sorted(called) == sorted(sealed), f"{where}: called {sorted(called)}, sealed {sorted(sealed)}"
        assert len(set(called)) == len(called), f"{where}: someone called twice"
        assert summary["selected"] in selected_now, f"{where}: {summary}"
        state = store.stage(RUN)
        assert state.completed and state.answer is not None, where
        assert tasks.answers and tasks.answers[-1][1]["selected"] == summary["selected"], f"{where}: {tasks.answers}"
        assert {output["placed"] for _token, output in tasks.answers} == {summary["placed"]}, where


def test_the_stage_functions_role_seals_reads_and_purges_its_selections(conn: psycopg2.extensions.connection,
                                                                       pg_url: str) -> None:
    """As deployed: the stage function logs in as ``julo_reminders`` (the grant map); it seals a day's
    selection, reads its chunks back and purges the selections older than the retention (their chunks go by
    the cascade), and may not touch the chunks otherwise."""
    from localdev.aws.template_provisioning import with_user

    make_partner(conn, 1, "Lendana P2P")
    for i in range(3):
        make_loan(conn, postcode="10110", phone=f"08129900{i:04d}", due_dates=[DUE])
    conn.commit()
    old_day = BUSINESS_DATE - timedelta(days=stage_selection.SELECTION_RETENTION_DAYS + 1)
    old = StageRun(Zone.WIB, old_day, Stage.ROBOCALL_1)
    today = StageRun(Zone.WIB, BUSINESS_DATE, Stage.ROBOCALL_1)
    role = psycopg2.connect(with_user(pg_url, "julo_reminders"))
    try:
        stale = stage_selection.seal(role, old, "old-selection", capacity=100, chunk_size=2, due_dates=[DUE])
        assert stale.chunks == 2
        sealed = stage_selection.seal(role, today, "today-selection", capacity=100, chunk_size=2)  # purges
        bodies = list(stage_selection.chunk_bodies(role, today, "today-selection"))
        assert sealed.counts["selected"] == 3 and len(bodies) == 2
        assert len(stage_selection.selected_ids(role, "today-selection")) == 3
        with role.cursor() as cur:
            cur.execute("SELECT count(*) FROM reminder_stage_chunk WHERE selection_id = 'old-selection'")
            assert cur.fetchone() == (0,), "the old selection's chunks went with it"
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DELETE FROM reminder_stage_chunk")
        role.rollback()
    finally:
        role.close()
