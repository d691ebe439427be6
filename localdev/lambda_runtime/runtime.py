"""What AWS Lambda would do, for the functions of ``dist/template.json``, on this machine.

One runtime object, ``LambdaRuntime``, made from the template only (``localdev/aws/template_artifact.py``,
resolved by ``localdev/aws/template_resolution.py``), with two execution modes:

- ``CONTAINERS`` (the demo, the IAM and limits tests): ``with LambdaRuntime(values) as runtime``
  creates the template's resources (``localdev/aws/template_provisioning.py``) and runs each function
  in its own containers (``localdev/lambda_runtime/containers.py``) with exactly its template environment
  and its role's credentials, moto enforcing IAM; Timeout, MemorySize and reserved concurrency kept.
- ``IN_PROCESS`` (tests that inject faults inside a handler): the same function specs, resolved
  against resources provisioned before (``localdev/aws/bootstrap.py``); handlers run in this process.

Either way:

- ``deliver(name)``: receive a batch from the function's queue, invoke the handler with the exact
  SQS event shape Lambda builds, delete the messages the handler did not report in
  ``batchItemFailures`` (partial batch responses), and leave the failed ones for redelivery (in
  process: made visible again at once, so a local run needs no waiting; in containers: after the
  queue's visibility timeout, as in Lambda). moto and LocalStack move a message to the DLQ once
  its receive count passes maxReceiveCount.
- ``drain(...)``: keep delivering until every chosen SQS-triggered queue is empty (containers:
  up to each function's concurrency in parallel).
- ``fire_schedule(name, at)``: invoke a scheduled function with its configured input
  (EventBridge's constant input), or with a Scheduled Event when it has none.

A manifest of its own (the local loops of ``localdev/loops/``, tests, benches) runs through the same
object: ``LambdaRuntime(template=manifest_template(manifest), mode=IN_PROCESS)``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import resources, settings
from localdev.aws.template_artifact import load_template, manifest_template, packaged_template
from localdev.aws.template_provisioning import Provisioner, admin
from localdev.aws.template_resolution import LocalFunction, Resolver, local_functions, static_resolver
from localdev.lambda_runtime.containers import ColdStartFailed, Containers, Invocation
from localdev.lambda_runtime.events import (
    LOCAL_ACCOUNT,
    Delivery,
    LambdaContext,
    add_delivery,
    load_handler,
    sqs_record,
)
from localdev.lambda_runtime.events import scheduled_event as _scheduled_event
from localdev.servers.ports import free_port

if TYPE_CHECKING:
    from infra.manifest import Manifest

CONTAINERS, IN_PROCESS = "containers", "in_process"
# seconds between polls of an empty queue: doubling up to 2 s (a drain's work is on its queues when it starts;
# an idle poller, e.g. of another channel's queue, asked moto 2.5 times a second: a third of the demo's requests)
IDLE_POLL_MIN, IDLE_POLL_MAX = 0.05, 2.0
ACCOUNT = LOCAL_ACCOUNT

__all__ = ["CONTAINERS", "IN_PROCESS", "Delivery", "LambdaContext", "LambdaRuntime", "load_handler", "sqs_record"]


class LambdaRuntime:
    """The template's functions, run as Lambda would: in containers, or in this process."""

    def __init__(self, values: dict[str, str] | None = None, *, template: str | Path | dict[str, Any] | None = None,
                 mode: str = CONTAINERS, api_port: int | None = None, placeholders: bool = False) -> None:
        if mode not in (CONTAINERS, IN_PROCESS):
            raise ValueError(f"mode must be {CONTAINERS!r} or {IN_PROCESS!r}, not {mode!r}")
        declared = settings.declared_names()
        # local values: the declared settings of this process's environment, then the caller's
        self.values = {k: v for k, v in os.environ.items() if k in declared and v} | dict(values or {})
        self.mode = mode
        self.placeholders = placeholders
        # the packaged template, another template file, or a template already read (a manifest's own)
        self.template = template if isinstance(template, dict) else load_template(packaged_template(template))
        self.region = settings.aws_region()
        self.api_port = api_port
        self.functions: dict[str, LocalFunction] = {}
        self.resolver: Resolver | None = None
        self.containers: Containers | None = None
        self._queue_urls: dict[str, str] = {}
        self._lock = threading.Lock()
        if mode == IN_PROCESS:  # the resources exist already: resolve the template with their names
            self.resolver = static_resolver(self.template, self.values, self.region)
            self.functions = local_functions(self.template, self.resolver)

    @classmethod
    def in_process(cls, manifest: Manifest | None = None) -> LambdaRuntime:
        """A manifest's functions (default: infra/functions.yaml) in this process, against the resources
        ``bootstrap(manifest)`` created (the local loops, tests and benches with a manifest of their own)."""
        return cls(template=manifest_template(manifest), mode=IN_PROCESS)

    # --- the template's resources ------------------------------------------------------------------

    def provision(self) -> LambdaRuntime:
        """Create the template's resources; in containers, each function then runs with its role's key."""
        provisioner = Provisioner(self.template, self.values, self.region, placeholders=self.placeholders)
        self.resolver = provisioner.run()
        self.functions = provisioner.functions
        if self.mode == CONTAINERS:
            self.containers = Containers(self.functions, provisioner.credentials, self.values, self.region)
        return self

    def _containers(self) -> Containers:
        if self.containers is None:
            raise RuntimeError("the containers run once the template is provisioned (with LambdaRuntime(...))")
        return self.containers

    # --- invocations ---------------------------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        """One invocation; its result, or the error it ended with."""
        if self.mode == CONTAINERS:
            return self._containers().invoke(name, event)
        fn = self.functions[name]
        try:
            result = load_handler(fn.handler)(event, LambdaContext(fn.name, fn.timeout, fn.memory))
        except Exception as exc:
            return Invocation(error=f"{type(exc).__name__}: {exc}", exception=exc)
        return Invocation(result=result)

    def call(self, name: str, event: dict[str, Any]) -> Any:
        """The invocation's result; its error raised (in process: the handler's own exception)."""
        inv = self.invoke(name, event)
        if inv.exception is not None:
            raise inv.exception
        if inv.error is not None:
            raise RuntimeError(f"{name}: {inv.error}")
        return inv.result

    def fire_schedule(self, name: str, at: datetime, extra: dict[str, Any] | None = None) -> Any:
        """Invoke a scheduled function as EventBridge would at instant ``at``.

        ``extra`` is merged into the event (the demo passes the simulated business date).
        """
        fn = self.functions[name]
        event = _scheduled_event(fn.name, fn.schedules[0]["input"] if fn.schedules else None, at)
        return self.call(name, {**event, **(extra or {})})

    # --- SQS delivery, as Lambda's event source mapping --------------------------------------------

    def _sqs(self) -> Any:
        # containers: the local admin (the functions' own keys are theirs); in process: this process's
        return admin("sqs") if self.mode == CONTAINERS else settings.aws_clients().client("sqs")

    def queue_url(self, queue: str) -> str:
        if self.mode == IN_PROCESS:
            return resources.queue_url(queue)
        url = self._queue_urls.get(queue)
        if url is None:
            url = self._queue_urls[queue] = admin("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
        return url

    def queue_depth(self, queue: str) -> int:
        attrs = self._sqs().get_queue_attributes(
            QueueUrl=self.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def deliver(self, name: str, wait_seconds: int = 0) -> Delivery:
        """One invocation's worth of messages from the function's queue.

        ``wait_seconds``: long polling, as Lambda's poller does (moto answers as soon as a message
        arrives, so a caller waiting for the next message neither spins nor misses it).
        """
        fn = self.functions[name]
        if not fn.sqs_queue:
            raise ValueError(f"{name} has no SQS trigger")
        sqs = self._sqs()
        url = self.queue_url(fn.sqs_queue)
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(fn.batch_size, 10),
                                       WaitTimeSeconds=wait_seconds,
                                       MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                                       ).get("Messages", [])
        if not messages:
            return Delivery()
        arn = f"arn:aws:sqs:{self.region}:{LOCAL_ACCOUNT}:{fn.sqs_queue}"
        try:
            inv = self.invoke(name, {"Records": [sqs_record(m, arn) for m in messages]})
        except ColdStartFailed:
            self._visible_again(url, messages)  # back at once: the next poll tries a new cold start
            raise
        if inv.timed_out:  # left invisible: back after the visibility timeout
            return Delivery(received=len(messages), succeeded=0, failed=len(messages))
        if inv.error is not None:
            failed = {m["MessageId"] for m in messages}  # the whole batch comes back, as in Lambda
        else:
            failed = {f["itemIdentifier"] for f in (inv.result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        if self.mode == IN_PROCESS:
            self._visible_again(url, [m for m in messages if m["MessageId"] in failed])
        return Delivery(received=len(messages), succeeded=len(done), failed=len(failed))

    def _visible_again(self, url: str, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            self._sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    def _sqs_functions(self, names: Iterable[str] | None) -> list[LocalFunction]:
        chosen = None if names is None else set(names)
        return [f for f in self.functions.values() if f.sqs_queue and (chosen is None or f.name in chosen)]

    def drain(self, names: Iterable[str] | None = None, *, idle: Callable[[], bool] | None = None,
              timeout: float = 600.0) -> dict[str, Delivery]:
        """Deliver until the chosen functions' queues are empty (and ``idle()``, if given, is True:
        e.g. "no provider callbacks outstanding"). Containers: up to each function's concurrency
        in parallel; in process: one invocation at a time."""
        chosen = self._sqs_functions(names)
        totals = {f.name: Delivery() for f in chosen}

        def done() -> bool:  # the local check first: moto is asked only once no callback is outstanding
            return (idle is None or idle()) and all(self.queue_depth(f.sqs_queue or "") == 0 for f in chosen)

        if self.mode == IN_PROCESS:
            _drain_in_turn(chosen, totals, self.deliver, done, timeout)
        elif not done():  # nothing to deliver, nothing outstanding: no pollers to start
            _drain_in_parallel(chosen, totals, self.deliver, done, timeout, self._lock)
            self._containers().raise_if_denied()
        return totals

    # --- the API and the IAM record (containers) -----------------------------------------------------

    def start_api(self, port: int | None = None) -> str:
        port = port or self.api_port or free_port()
        self._containers().start_api(port)
        return f"http://127.0.0.1:{port}"

    @property
    def calls(self) -> dict[str, list[dict[str, Any]]]:
        return self._containers().calls

    @property
    def denied(self) -> list[str]:
        return self._containers().denied

    @property
    def timeouts(self) -> list[str]:
        return self._containers().timeouts

    @property
    def cold_starts(self) -> dict[str, int]:
        return self._containers().cold_starts

    def environment(self, fn: LocalFunction) -> dict[str, str]:
        return self._containers().environment(fn)

    def local_overrides(self, fn: LocalFunction) -> dict[str, str]:
        return self._containers().local_overrides(fn)

    def summary(self) -> str:
        return self._containers().summary() if self.containers else "IAM: not enforced (in-process run)"

    # --- lifetime ------------------------------------------------------------------------------------

    def close(self) -> None:
        if self.containers is not None:
            self.containers.close()

    def __enter__(self) -> LambdaRuntime:
        if self.mode == CONTAINERS:
            self.provision()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain_in_turn(chosen: list[LocalFunction], totals: dict[str, Delivery], deliver: Callable[[str], Delivery],
                   done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        moved = 0
        for f in chosen:
            moved += add_delivery(totals[f.name], deliver(f.name))
        if moved == 0 and done():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"queues still not empty after {timeout:.0f}s: {[f.name for f in chosen]}")
        if moved == 0:
            time.sleep(0.05)


@dataclass
class _Pollers:
    """What the pollers saw, so that moto is asked for the queues' depth only once they all look idle (asking
    every 50 ms while batches ran was a sixth of the demo orchestrator's CPU, and as much again in moto)."""

    polling: list[bool]  # inside a receive (and the invocation it starts)
    found_empty: list[bool]  # its last receive got nothing
    lock: threading.Lock

    def quiet(self) -> bool:
        with self.lock:
            return not any(self.polling) and all(self.found_empty)


def _poller(name: str, slot: int, total: Delivery, deliver: Callable[[str], Delivery], stop: threading.Event,
            errors: list[BaseException], seen: _Pollers) -> None:
    """One of a function's concurrent pollers (Lambda's event source mapping)."""
    pause = IDLE_POLL_MIN
    while not stop.is_set():
        with seen.lock:
            seen.polling[slot] = True
        try:
            d = deliver(name)
        except BaseException as exc:  # denied, cold start failed: stop the day
            errors.append(exc)
            stop.set()
            return
        with seen.lock:
            seen.polling[slot], seen.found_empty[slot] = False, d.received == 0
            add_delivery(total, d)
        # an empty queue is polled less and less often (each poll is a request moto serves)
        pause = IDLE_POLL_MIN if d.received else min(pause * 2, IDLE_POLL_MAX)
        if not d.received:
            stop.wait(pause)


def _drain_in_parallel(chosen: list[LocalFunction], totals: dict[str, Delivery], deliver: Callable[[str], Delivery],
                       done: Callable[[], bool], timeout: float, lock: threading.Lock) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()
    deadline = time.monotonic() + timeout
    slots = [f for f in chosen for _ in range(f.concurrency)]
    seen = _Pollers([False] * len(slots), [False] * len(slots), lock)
    threads = [threading.Thread(target=_poller, args=(f.name, slot, totals[f.name], deliver, stop, errors, seen),
                                daemon=True) for slot, f in enumerate(slots)]
    for t in threads:
        t.start()
    try:
        while not stop.is_set():
            # moto has the last word (a message sent by one function to another's queue, one invisible
            # after a timed-out invocation); twice: a message in flight between two workers' polls
            if seen.quiet() and done() and done():
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues still not empty after {timeout:.0f}s: {[f.name for f in chosen]}")
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
