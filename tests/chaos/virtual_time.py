"""Chaos harness: deliver a function's real (moto) SQS queue the way Lambda does, on a virtual clock.

    world = VirtualLambda("disbursement-events", "email-outbox", containers=2)
    world.db_outage(start=0, end=600)          # virtual seconds
    world.ses_outage(start=0, end=600)
    world.every(3600, "email-outbox-sweeper")  # a scheduled function on the same clock
    world.run()                                # until the queue is empty and nothing is pending

What is real: the moto queue and its DLQ (``maxReceiveCount`` from infra/functions.yaml, moto
counts receives and dead-letters exactly as SQS), PostgreSQL, the handler and everything under
it, SES in moto. What is virtual: time. A failed message comes back when Lambda would bring it
back: after the visibility the handler set with ChangeMessageVisibility, else after the queue's
visibility timeout. Nothing sleeps: the clock jumps to the next message that becomes visible,
so a 10-minute (or 10-hour) outage takes seconds.

Faults:
- database outage: at its start every server session of the test database is terminated (what
  a restart does to clients) and new connections are refused until its end;
- database restart: the sessions are terminated, new connections work at once;
- SES outage: ``SendRawEmail`` answers 503 ``ServiceUnavailable`` (botocore ``ClientError``).

Each function gets ``containers`` execution environments (2 for concurrent delivery), each
running its own fresh copy of the handler module; they receive in parallel. The faults and the
clock reach a container through its handler's seams, as a deployed container's configuration
does: its own connection lifetime, whose ``connect`` is the harness's (refused during an outage),
and AWS clients the harness wraps (SES refusing, ChangeMessageVisibility recorded on the virtual
clock). No module global is replaced.
"""

from __future__ import annotations

import heapq
import importlib.util
import itertools
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import psycopg2
from botocore.exceptions import ClientError

from chalicelib import db, resources, settings
from chalicelib.edge.connection import FUNCTIONS_PING_AFTER_IDLE_S, ConnectionLifetime
from infra.manifest import ROOT, FunctionSpec, load_manifest
from localdev.lambda_runtime.events import LambdaContext, scheduled_event, sqs_record

EPOCH = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # virtual second 0
RESTART_S = 0.3  # the shortest real PostgreSQL restart is longer (connections idle less are not pinged)
_copies = itertools.count()


@dataclass
class Window:
    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class Stats:
    deliveries: int = 0
    failures: int = 0
    succeeded: int = 0
    visibility_requests: list[int] = field(default_factory=list)
    ses_refused: int = 0


def fresh_handler(function: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    """A new copy of the handler's module: the state of one more Lambda execution environment."""
    module_name, _, attr = function.handler.rpartition(".")
    path = ROOT / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"_container_{next(_copies)}_{module_name}", path)
    assert spec and spec.loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, attr)


@dataclass
class _Queue:
    function: FunctionSpec
    url: str
    arn: str
    dlq_url: str | None
    visibility_s: int
    handlers: list[Callable[[dict[str, Any], Any], Any]]


class VirtualLambda:
    def __init__(self, *functions: str, containers: int = 1) -> None:
        self.manifest = load_manifest()
        self.sqs = settings.aws_clients().client("sqs")  # the harness's own; the containers get ``clients``
        self.clients = settings.aws_clients().wrapped(self._wrap)
        self.queues: list[_Queue] = []
        for name in functions:
            function = self.manifest.function(name)
            queue = next(q for q in self.manifest.queues if q.name == function.sqs_queue)
            url = resources.queue_url(queue.name)
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.queues.append(_Queue(function, url, arn, resources.queue_url(queue.dlq) if queue.dlq else None,
                                      queue.visibility_timeout,
                                      [self._container(function) for _ in range(containers)]))
        self.url = self.queues[0].url
        self.now = 0.0
        self.stats = Stats()
        self._hidden: list[tuple[float, int, str, str]] = []  # (visible_at, tiebreak, queue url, receipt handle)
        self._tiebreak = itertools.count()
        self._requested: dict[str, int] = {}
        self._lock = threading.Lock()
        self._db_down: list[Window] = []
        self._restarts: list[float] = []
        self._ses_down: list[Window] = []
        self._schedules: list[tuple[float, FunctionSpec, Callable[[dict[str, Any], Any], Any], list[float]]] = []

    def _container(self, function: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
        """One more execution environment of ``function``: a fresh handler given the harness's seams."""
        handler: Any = fresh_handler(function)
        handler.lifetime = ConnectionLifetime("julo-functions", ping_after_idle_s=FUNCTIONS_PING_AFTER_IDLE_S,
                                              connect=self._connect)
        handler.aws = self.clients
        return handler

    # --- faults ---------------------------------------------------------------------------
    def db_outage(self, start: float, end: float) -> None:
        self._db_down.append(Window(start, end))
        self._restarts.append(start)

    def db_restart(self, at: float) -> None:
        self._restarts.append(at)

    def ses_outage(self, start: float, end: float) -> None:
        self._ses_down.append(Window(start, end))

    def every(self, period_s: float, function: str) -> None:
        """Fire a scheduled function every ``period_s`` virtual seconds (if the manifest has it)."""
        if any(f.name == function for f in self.manifest.functions):
            spec = self.manifest.function(function)
            self._schedules.append((period_s, spec, self._container(spec), [period_s]))

    # --- what the code under test sees ----------------------------------------------------
    def _connect(self, dsn: str | None = None, **kwargs: Any) -> psycopg2.extensions.connection:
        if any(self.now in w for w in self._db_down):
            raise psycopg2.OperationalError("connection refused (chaos: database outage)")
        return db.connect(dsn, **kwargs)

    def _wrap(self, service: str, client: Any) -> Any:
        if service == "sqs":
            return _SqsProxy(client, self)
        if service == "ses":
            return _SesProxy(client, self)
        return client

    def _terminate_sessions(self) -> None:
        admin = db.connect(settings.database_url())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        admin.close()
        time.sleep(RESTART_S)  # a restart keeps the server away at least this long (real time)

    # --- the clock ------------------------------------------------------------------------
    def at(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def _advance_to(self, t: float) -> None:
        for restart in sorted(r for r in self._restarts if r <= t):
            self.now = max(self.now, restart)
            self._terminate_sessions()
        self._restarts = [r for r in self._restarts if r > t]
        self.now = t
        for period, function, handler, next_fire in self._schedules:
            while next_fire[0] <= self.now:
                at = EPOCH + timedelta(seconds=next_fire[0])
                handler(scheduled_event(function.name, function.trigger.get("input"), at),
                        LambdaContext(function.name, function.timeout, function.memory))
                next_fire[0] += period
        while self._hidden and self._hidden[0][0] <= self.now:
            _, _, url, receipt = heapq.heappop(self._hidden)
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)

    def _deliver(self, job: tuple[_Queue, Callable[[dict[str, Any], Any], Any]]) -> int:
        queue, handler = job
        function = queue.function
        messages = self.sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=min(int(function.trigger.get("batch_size", 10)), 10),
            MessageSystemAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, queue.arn) for m in messages]}
        context = LambdaContext(function.name, function.timeout, function.memory)
        try:
            answer = handler(event, context) or {}
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}  # the whole batch comes back
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=queue.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        with self._lock:
            self.stats.deliveries += len(messages)
            self.stats.succeeded += len(done)
            self.stats.failures += len(failed)
            for m in messages:
                if m["MessageId"] in failed:
                    hide = self._requested.pop(m["ReceiptHandle"], queue.visibility_s)
                    heapq.heappush(self._hidden, (self.now + hide, next(self._tiebreak), queue.url,
                                                  m["ReceiptHandle"]))
        return len(messages)

    def run(self, max_rounds: int = 5_000) -> Stats:
        """Deliver until the queue is empty and no failed message is waiting to come back."""
        self._advance_to(self.now)
        jobs = [(q, h) for q in self.queues for h in q.handlers]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            for _ in range(max_rounds):
                moved = sum(pool.map(self._deliver, jobs))
                if moved:
                    self._advance_to(self.now + 1)
                elif self._hidden:
                    self._advance_to(max(self.now + 1, self._hidden[0][0]))
                elif all(self._queue_depth(q.url) == 0 for q in self.queues):
                    return self.stats
                else:
                    self._advance_to(self.now + 1)
        raise AssertionError(f"queue not drained after {max_rounds} rounds (virtual t={self.now:.0f}s)")

    def run_schedules_until(self, t: float) -> None:
        """Let virtual time pass (scheduled functions fire) with nothing on the queue."""
        self._advance_to(t)

    def _queue_depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[str]:
        """Every message dead-lettered by any of the functions' queues."""
        bodies: list[str] = []
        for queue in self.queues:
            while queue.dlq_url:
                got = self.sqs.receive_message(QueueUrl=queue.dlq_url, MaxNumberOfMessages=10,
                                               VisibilityTimeout=600).get("Messages", [])
                if not got:
                    break
                bodies += [m["Body"] for m in got]
        return bodies

    def send(self, bodies: list[str]) -> None:
        for i in range(0, len(bodies), 10):
            self.sqs.send_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(k), "MessageBody": b} for k, b in enumerate(bodies[i:i + 10])])


class _SqsProxy:
    """SQS as the handler sees it; ChangeMessageVisibility is recorded on the virtual clock."""

    def __init__(self, client: Any, world: VirtualLambda) -> None:
        self._client = client
        self._world = world

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> dict:
        with self._world._lock:
            self._world._requested[ReceiptHandle] = VisibilityTimeout
            self._world.stats.visibility_requests.append(VisibilityTimeout)
        return {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _SesProxy:
    def __init__(self, client: Any, world: VirtualLambda) -> None:
        self._client = client
        self._world = world

    def send_raw_email(self, **kwargs: Any) -> dict:
        if any(self._world.now in w for w in self._world._ses_down):
            with self._world._lock:
                self._world.stats.ses_refused += 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "chaos: SES outage"},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "SendRawEmail")
        return self._client.send_raw_email(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
