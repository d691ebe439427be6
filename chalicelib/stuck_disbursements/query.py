"""Stream the stuck disbursements with a server-side cursor (never all rows in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extensions

from chalicelib.db import column_names

STUCK_SQL = Path(__file__).with_name("stuck.sql").read_text()
FETCH_SIZE = 2_000


def iter_stuck(conn: psycopg2.extensions.connection, as_of: date) -> Iterator[dict[str, Any]]:
    """Rows as dicts keyed by column name, oldest first. Runs in its own transaction."""
    try:
        with conn.cursor(name="stuck_disbursements") as cur:
            cur.itersize = FETCH_SIZE
            cur.execute(STUCK_SQL, {"as_of": as_of})
            names: list[str] | None = None
            for row in cur:
                if names is None:
                    names = column_names(cur)
                yield dict(zip(names, row, strict=True))
    finally:
        conn.commit()
