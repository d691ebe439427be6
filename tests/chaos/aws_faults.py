"""AWS faults for the reminder chaos scenarios, injected where the SDK hands its answer to our code.

Each fault is what a caller sees *after* the SDK's own retries gave up (botocore retries throttling
itself; what reaches the code is the error that is left):

- ``DynamoWriteFaults``: a share of DynamoDB writes (PutItem, UpdateItem, DeleteItem, batch and
  transactional writes) refused with ``ProvisionedThroughputExceededException`` (nothing written),
  drawn from a seeded generator; ``fail_next`` refuses the next write that matches a predicate
  (e.g. the stage's completion) with any error code, once.
- ``StepFunctionsFaults``: the next ``n`` calls of one Step Functions action (``send_task_success``)
  refused with ``ThrottlingException``.

The DynamoDB faults answer in botocore's ``before-call`` event of every client of the process
(``localdev/aws/client_hooks.py``, installed by tests/conftest.py before any client exists; the one
patch is botocore's ``Session.create_client``, which the local Lambda runtime's IAM guard uses too):
the operation is answered with the error instead of being sent, so botocore raises it as DynamoDB's
own and pynamodb wraps it as it wraps DynamoDB's; nothing of pynamodb is replaced. The Step Functions
faults reach the reminder functions through their handlers' seam: the stage and dispatch handlers are
given AWS clients whose Step Functions client refuses (``handler.aws``, what they hand to
``TaskCallbacks``). The code under test, its retries included, runs unchanged.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import settings
from functions import reminder_dispatch, reminder_stage
from localdev.aws import client_hooks

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
        client_hooks.install()  # a no-op after conftest's: clients made before it would not be reached
        monkeypatch.setitem(client_hooks.HANDLERS, ("before-call", "chaos-dynamo-writes"), self._before_call)

    def _before_call(self, model: Any, params: dict[str, Any], **_kwargs: Any) -> Any:
        if model.service_model.endpoint_prefix != "dynamodb" or model.name not in DYNAMO_WRITES:
            return None
        body = params.get("body") or b"{}"
        refused = self._draw(model.name, json.loads(body))
        if refused is None:
            return None
        code, status = refused
        return client_hooks.error_answer(code, f"chaos: {code}", status)

    def fail_next(self, match: Callable[[str, dict[str, Any]], bool], code: str = "InternalServerError",
                  status: int = 500) -> None:
        """Refuse the next write ``match`` accepts with ``code`` (once)."""
        with self._lock:
            self._once.append((match, code, status))

    def _draw(self, operation: str, kwargs: dict[str, Any]) -> tuple[str, int] | None:
        """(error code, HTTP status) when this write is refused."""
        with self._lock:
            self.writes += 1
            for i, (match, code, status) in enumerate(self._once):
                if match(operation, kwargs):
                    del self._once[i]
                    self.injected[code] += 1
                    return code, status
            if self.rate and self.rng.random() < self.rate:
                self.injected[THROTTLED] += 1
                return THROTTLED, 400
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
