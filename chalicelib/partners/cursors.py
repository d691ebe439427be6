"""Opaque keyset-pagination cursors: ``(cdate, application_id)`` of the last row, base64url JSON.

A cursor only says where to continue; the partner still comes from the API key, so a cursor
from another partner's page (or a hand-made one) can only position inside the caller's rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from chalicelib.http.errors import BadRequest


@dataclass(frozen=True)
class Position:
    cdate: datetime
    application_id: int


def encode(position: Position) -> str:
    raw = json.dumps({"c": position.cdate.isoformat(), "i": position.application_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        cdate = datetime.fromisoformat(data["c"])
        application_id = data["i"]
        if cdate.tzinfo is None or type(application_id) is not int or not 0 <= application_id < 2**63:
            raise ValueError("bad cursor fields")
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
        raise BadRequest("cursor is not a cursor returned by this API", code="invalid_cursor") from exc
    return Position(cdate, application_id)
