"""AWS faults for the reminder chaos scenarios, injected where the SDK hands its answer to our code.

Each fault is what a caller sees *after* the SDK's own retries gave up (botocore retries throttling
itself; what reaches the code is the error that is left):

- ``DynamoWriteFaults``: a share of DynamoDB writes (PutItem, UpdateItem, DeleteItem, batch and
  transactional writes) refused with ``ProvisionedThroughputExceededException`` (nothing written),
  drawn from a seeded generator; ``fail_next`` refuses the next write that matches a predicate
  (e.g. the stage's completion) with any error code, once.
- ``StepFunctionsFaults``: the next ``n`` calls of one Step Functions action (``send_task_success``)
  refused with ``ThrottlingException``.

The DynamoDB faults sit under pynamodb (its botocore call: the store's models take an endpoint, not a
client). The Step Functions faults reach the reminder functions through their handlers' seam: the
stage and dispatch handlers are given AWS clients whose Step Functions client refuses (``handler.aws``,
what they hand to ``TaskCallbacks``); no module global is replaced. The code under test, its retries
included, runs unchanged.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection
from pynamodb.exceptions import VerboseClientError

from chalicelib import settings
from functions import reminder_dispatch, reminder_stage

DYNAMO_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
THROTTLED = "ProvisionedThroughputExceededException"


def _client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"chaos: {code}"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def sets_attribute(name: str) -> Callable[[str, dict[str, Any]], bool]:
    """A predicate: an UpdateItem whose expression sets attribute ``name`` (pynamodb names them #0, #1…)."""

    def match(operation: str, kwargs: dict[str, Any]) -> bool:
        names = kwargs.get("ExpressionAttributeNames") or {}
        return operation == "UpdateItem" and name in names.values() and "SET" in str(kwargs.get("UpdateExpression"))

    return match


class DynamoWriteFaults:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, rate: float = 0.0, seed: int = 7) -> None:
        self.rate = rate
        self.rng = random.Random(f"dynamo-writes|{seed}")
        self.injected: Counter[str] = Counter()
        self.writes = 0
        self._once: list[tuple[Callable[[str, dict[str, Any]], bool], str, int]] = []
        self._lock = threading.Lock()
        real = Connection._make_api_call

        def make_api_call(conn: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
            error = self._draw(operation_name, operation_kwargs)
            if error is None:
                return real(conn, operation_name, operation_kwargs)
            # what pynamodb's own _make_api_call raises for the SDK's ClientError
            raise VerboseClientError(error.response, operation_name,
                                     {"request_id": "chaos", "table_name": operation_kwargs.get("TableName", "")})

        monkeypatch.setattr(Connection, "_make_api_call", make_api_call)

    def fail_next(self, match: Callable[[str, dict[str, Any]], bool], code: str = "InternalServerError",
                  status: int = 500) -> None:
        """Refuse the next write ``match`` accepts with ``code`` (once)."""
        with self._lock:
            self._once.append((match, code, status))

    def _draw(self, operation: str, kwargs: dict[str, Any]) -> ClientError | None:
        if operation not in DYNAMO_WRITES:
            return None
        with self._lock:
            self.writes += 1
            for i, (match, code, status) in enumerate(self._once):
                if match(operation, kwargs):
                    del self._once[i]
                    self.injected[code] += 1
                    return _client_error(code, operation, status)
            if self.rate and self.rng.random() < self.rate:
                self.injected[THROTTLED] += 1
                return _client_error(THROTTLED, operation)
        return None


class StepFunctionsFaults:
    """The reminder handlers' Step Functions client, whose next ``n`` calls of an action are throttled."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._pending: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.clients = settings.aws_clients().wrapped(
            lambda service, inner: _SfnProxy(inner, self) if service == "stepfunctions" else inner)
        for handler in (reminder_stage.handler, reminder_dispatch.handler):  # the in-process containers
            monkeypatch.setattr(handler, "aws", self.clients)  # their seam, given back after the test

    def throttle(self, action: str, n: int = 1) -> None:
        with self._lock:
            self._pending[action] += n

    def _take(self, action: str) -> bool:
        with self._lock:
            self.calls[action] += 1
            if self._pending[action] > 0:
                self._pending[action] -= 1
                self.injected[action] += 1
                return True
        return False


class _SfnProxy:
    def __init__(self, client: Any, faults: StepFunctionsFaults) -> None:
        self._client = client
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not name.startswith("send_task_"):
            return attr

        def call(**kwargs: Any) -> Any:
            if self._faults._take(name):
                operation = "".join(p.capitalize() for p in name.split("_"))
                raise _client_error("ThrottlingException", operation)
            return attr(**kwargs)

        return call
