"""Keyset paging shared by every list (partner report, staff CRM): opaque cursors and pages.

A cursor is the ``(cdate, application_id)`` of the last row, as base64url JSON. It only says
where to continue; who may see which rows comes from the API key, so a cursor from another
partner's page (or a hand-made one) can only position inside the caller's rows. A cursor is
checked for size before it is decoded (``bounds.MAX_CURSOR_CHARS``) and must be one flat
object with a timezone-aware date inside the date bounds and an id that fits ``bigint``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2.extensions
import psycopg2.extras

from chalicelib.bounds import MAX_CURSOR_CHARS, date_in_bounds
from chalicelib.errors import InvalidInput

CURSOR_ERROR = "cursor is not a cursor returned by this API"


@dataclass(frozen=True)
class Position:
    cdate: datetime
    application_id: int


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode(position: Position) -> str:
    raw = json.dumps({"c": position.cdate.isoformat(), "i": position.application_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> Position:
    """The position in ``cursor``; ``InvalidInput`` (code ``invalid_cursor``) for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidInput(CURSOR_ERROR, code="invalid_cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or set(data) != {"c", "i"} or not isinstance(data["c"], str):
            raise ValueError("not a cursor object")
        cdate = datetime.fromisoformat(data["c"])
        application_id = data["i"]
        if (cdate.tzinfo is None or not date_in_bounds(cdate.date())
                or type(application_id) is not int or not 0 <= application_id < 2**63):
            raise ValueError("bad cursor fields")
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise InvalidInput(CURSOR_ERROR, code="invalid_cursor") from exc
    return Position(cdate, application_id)


def fetch_page(conn: psycopg2.extensions.connection, sql: str, params: Mapping[str, Any], limit: int,
               shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Page:
    """Run a keyset query (``%(limit)s`` gets ``limit + 1``: the extra row says there is a next page)
    whose rows carry ``cdate`` and ``application_id``; rows come out through ``shape``."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, {**params, "limit": limit + 1})
        records = cur.fetchall()
    more = len(records) > limit
    records = records[:limit]
    next_cursor = None
    if more:
        last = records[-1]
        next_cursor = encode(Position(last["cdate"], last["application_id"]))
    return Page([shape(r) for r in records], next_cursor)
