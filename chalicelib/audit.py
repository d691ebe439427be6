"""The audit log of staff reads: which staff key read which route with which parameters, when.

Written for every authorised staff request (CRM, push-notification catalogue, analytics) before
the read runs, and committed on its own, so a read that fails afterwards is still on record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import psycopg2.extensions

from chalicelib import db

MAX_VALUE_CHARS = 256  # a parameter value is kept up to this length
NUL, REPLACEMENT = "\x00", "\ufffd"  # jsonb cannot hold U+0000: it is kept as U+FFFD
INSERT_STAFF_READ = """
INSERT INTO staff_read_audit (api_key_id, route, parameters) VALUES (%s, %s, %s::jsonb)
"""


def record_staff_read(conn: psycopg2.extensions.connection, api_key_id: int, route: str,
                      parameters: Mapping[str, str]) -> None:
    """Append one audit row and commit it (any parameter text is accepted: values are cut and
    NUL, which PostgreSQL text cannot hold, is replaced)."""
    kept = {name: value[:MAX_VALUE_CHARS].replace(NUL, REPLACEMENT) for name, value in sorted(parameters.items())}
    with db.transaction(conn) as cur:
        cur.execute(INSERT_STAFF_READ, (api_key_id, route, json.dumps(kept)))
