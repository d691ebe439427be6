"""Lambda event fixtures, loaded by name: ``load_event("sqs_disbursement_events")``.

Each ``<name>.json`` here is an event exactly as AWS hands it to a handler:

- ``sqs_<queue>``: an SQS batch (``Records``) for the function that consumes ``<queue>``;
- ``eventbridge_scheduled``: an EventBridge scheduled event (``time`` is the firing instant);
- ``schedule_input_<...>``: a schedule with a constant input (EventBridge then sends only it);
- ``apigateway_<route>``: an API Gateway REST (proxy) event, as Chalice receives it.

Tests change what they need on the returned copy (``with_bodies`` replaces SQS bodies).
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.stem for p in EVENTS.glob("*.json"))


@cache
def _read(name: str) -> dict[str, Any]:
    path = EVENTS / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no event fixture {name!r}; have: {', '.join(names())}")
    event: dict[str, Any] = json.loads(path.read_text())
    return event


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of the fixture ``tests/events/<name>.json`` (safe to modify)."""
    return copy.deepcopy(_read(name))


def with_bodies(event: dict[str, Any], bodies: list[str | dict[str, Any]]) -> dict[str, Any]:
    """The SQS ``event`` with one record per body (the first record is the template of the rest)."""
    template = event["Records"][0]
    records = []
    for n, body in enumerate(bodies, start=1):
        text = body if isinstance(body, str) else json.dumps(body)
        record = copy.deepcopy(template)
        record["messageId"] = f"{template['messageId'][:-12]}{n:012d}"
        record["receiptHandle"] = f"AQEB{n:08d}=="
        record["body"] = text
        record["md5OfBody"] = hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SQS's checksum, not security)
        records.append(record)
    return {**event, "Records": records}


def sqs_bodies(name: str) -> list[Any]:
    """The parsed JSON bodies of an SQS fixture (bodies that are not JSON come back as text)."""
    out: list[Any] = []
    for record in _read(name)["Records"]:
        try:
            out.append(json.loads(record["body"]))
        except json.JSONDecodeError:
            out.append(record["body"])
    return out
