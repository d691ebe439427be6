"""The disbursement event message: its JSON Schema (event.schema.json) and parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from chalicelib.statuses import DisbursementStatus

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")


class InvalidEvent(ValueError):
    """The message is not a valid disbursement event; retrying it will not help."""


@dataclass(frozen=True)
class DisbursementEvent:
    event_id: str
    disbursement_id: int
    status: DisbursementStatus
    occurred_at: datetime
    external_id: int | None = None
    reason: str | None = None


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_event(body: str | bytes) -> DisbursementEvent:
    """Parse and validate one SQS message body; raises InvalidEvent with every problem found."""
    try:
        raw: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than the parser goes: no event is shaped like that
        raise InvalidEvent("body is JSON nested too deep to be an event") from exc
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '(message)'}: {e.message}" for e in errors)
        raise InvalidEvent(f"invalid disbursement event: {details}")
    try:
        occurred_at = datetime.fromisoformat(raw["occurred_at"])
    except ValueError as exc:
        raise InvalidEvent(f"occurred_at: {exc}") from exc
    return DisbursementEvent(
        event_id=raw["event_id"],
        disbursement_id=raw["disbursement_id"],
        status=DisbursementStatus(raw["status"]),
        occurred_at=occurred_at,
        external_id=raw.get("external_id"),
        reason=raw.get("reason"),
    )
