"""Small adapters over SQS and Step Functions for the reminder workflow (built on chalicelib.aws)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from chalicelib import resources, settings

SQS_BATCH = 10
SQS_BATCH_BYTES = 240_000  # SendMessageBatch: at most 256 KiB for all ten messages together


class ChunkQueue:
    """Sends dispatch chunks to a queue: up to ten messages per ``SendMessageBatch`` call, a few
    calls in flight while the caller keeps producing (at most ``workers`` × 2 batches held)."""

    def __init__(self, queue_name: str, workers: int = 4) -> None:
        self.url = resources.queue_url(queue_name)
        self.sqs = settings.aws_clients().client("sqs")
        self.workers = workers

    def send(self, bodies: Iterable[dict[str, Any]]) -> int:
        sent = 0
        in_flight: list[Future[int]] = []
        slots = threading.BoundedSemaphore(self.workers * 2)

        def submit(pool: ThreadPoolExecutor, batch: list[str]) -> None:
            slots.acquire()
            future = pool.submit(self._send_batch, batch)
            future.add_done_callback(lambda _f: slots.release())
            in_flight.append(future)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            batch: list[str] = []
            size = 0
            for body in bodies:
                text = json.dumps(body, separators=(",", ":"))
                if batch and (len(batch) == SQS_BATCH or size + len(text) > SQS_BATCH_BYTES):
                    submit(pool, batch)
                    batch, size = [], 0
                batch.append(text)
                size += len(text)
            if batch:
                submit(pool, batch)
            for future in in_flight:
                sent += future.result()  # re-raises a failed batch
        return sent

    def _send_batch(self, bodies: list[str]) -> int:
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        resp = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
        failed = resp.get("Failed") or []
        if failed:
            retry = [e for e in entries if e["Id"] in {f["Id"] for f in failed}]
            resp = self.sqs.send_message_batch(QueueUrl=self.url, Entries=retry)
            if resp.get("Failed"):
                raise RuntimeError(f"SQS refused {len(resp['Failed'])} dispatch chunks: {resp['Failed'][0]}")
        return len(entries)


def max_receive_count(queue_name: str) -> int | None:
    """The queue's redrive ``maxReceiveCount`` (None without a redrive policy); looked up once per queue."""
    return _max_receive_count(resources.queue_url(queue_name), settings.aws_endpoint_url())


@lru_cache(maxsize=16)
def _max_receive_count(queue_url: str, _endpoint: str | None) -> int | None:
    attrs = settings.aws_clients().client("sqs").get_queue_attributes(QueueUrl=queue_url,
                                                   AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attrs.get("RedrivePolicy")
    return int(json.loads(policy)["maxReceiveCount"]) if policy else None


# Step Functions answers a task's SendTask* calls within its account's API quota; past it (after the
# SDK's own retries) the call is refused with one of these and nothing happened: try again.
SFN_RETRY_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException",
                             "RequestLimitExceeded", "ServiceUnavailable", "InternalFailure", "InternalServerError"})
# 6 tries, 0.25 s to 4 s apart (~8 s in all): an answer is worth waiting for.
TASK_CALL_ATTEMPTS = 6


def _sfn_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in SFN_RETRY_CODES


class TaskCallbacks:
    """Step Functions callback-task API: report a stage's result or keep its token alive.

    Throttled and 5xx calls are tried again with backoff (``TASK_CALL_ATTEMPTS``); what is still
    refused after that is raised, so the caller's message comes back and the answer is sent again.
    """

    def __init__(self, attempts: int = TASK_CALL_ATTEMPTS, backoff_base: float = 0.25, *, sfn: Any = None) -> None:
        self.sfn = sfn if sfn is not None else settings.aws_clients().client("stepfunctions")
        self.attempts = attempts
        self.backoff_base = backoff_base

    def _call(self, action: Callable[..., Any], **kwargs: Any) -> bool:
        closed = (self.sfn.exceptions.TaskTimedOut, self.sfn.exceptions.TaskDoesNotExist,
                  self.sfn.exceptions.InvalidToken)
        try:
            for attempt in Retrying(retry=retry_if_exception(_sfn_retryable), stop=stop_after_attempt(self.attempts),
                                    wait=wait_exponential(multiplier=self.backoff_base, max=4.0), reraise=True):
                with attempt:
                    action(**kwargs)
        except closed:
            return False
        return True

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        """Report the result; False if the task is no longer waiting (timed out and retried, or closed)."""
        return self._call(self.sfn.send_task_success, taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        """Fail the task (its Retry policy decides what follows); False if it is no longer waiting."""
        return self._call(self.sfn.send_task_failure, taskToken=task_token, error=error[:256], cause=cause[:32_000])

    def heartbeat(self, task_token: str) -> bool:
        """Keep the stage alive; False if the task has already closed (timed out, retried, done)."""
        return self._call(self.sfn.send_task_heartbeat, taskToken=task_token)


class Executions:
    """Starts and inspects executions of one state machine."""

    def __init__(self, state_machine: str) -> None:
        self.sfn = settings.aws_clients().client("stepfunctions")
        self.arn = resources.state_machine_arn(state_machine)

    def execution_arn(self, name: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            return self.sfn.describe_execution(executionArn=self.execution_arn(name))
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def start(self, name: str, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        """(execution ARN, None) when started; (None, reason) when the name was already used."""
        try:
            resp = self.sfn.start_execution(stateMachineArn=self.arn, name=name, input=json.dumps(payload))
        except self.sfn.exceptions.ExecutionAlreadyExists as exc:
            return None, str(exc)
        return resp["executionArn"], None
