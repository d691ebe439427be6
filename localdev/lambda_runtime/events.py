"""What Lambda hands a function locally: its context and the events its triggers build.

One account id for everything local (moto's default account, where the local resources live),
one context object (Powertools' ``LambdaContext`` with its attributes set), the SQS record and
the EventBridge Scheduled Event in the shapes AWS sends. Used by both execution modes of the
local runtime (``localdev/lambda_runtime/runtime.py``) and inside each container
(``localdev/lambda_runtime/container.py``), so it imports nothing heavy.
"""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext as PowertoolsLambdaContext

LOCAL_ACCOUNT = "123456789012"  # moto's default account: the local resources' ARNs name it
DEFAULT_REGION = "ap-southeast-3"


def local_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class LambdaContext(PowertoolsLambdaContext):
    """Lambda's context object for one invocation (the attributes Powertools' typing declares)."""

    def __init__(self, function_name: str, timeout_s: int = 60, memory_limit_in_mb: int = 512) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:{local_region()}:{LOCAL_ACCOUNT}:function:{function_name}"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = "local"
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # Powertools: a static stub
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the event Lambda's SQS event source mapping builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            k: {
                "stringValue": v.get("StringValue"),
                "binaryValue": v.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v["DataType"],
            }
            for k, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": local_region(),
    }


def scheduled_event(function_name: str, constant_input: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """What EventBridge sends a scheduled function at ``at``: the rule's constant input, if it has one."""
    if at.tzinfo is None:
        raise ValueError("schedule time must be timezone-aware")
    if constant_input is not None:
        return dict(constant_input)
    region = local_region()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT}:rule/{function_name}"],
        "detail": {},
    }


@dataclass
class Delivery:
    """What one SQS delivery (or a drain's total) moved."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0


def add_delivery(total: Delivery, d: Delivery) -> int:
    total.received += d.received
    total.succeeded += d.succeeded
    total.failed += d.failed
    return d.received


def load_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)
