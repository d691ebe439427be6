"""A request rate per partner, held across every API container.

Each partner has one bucket row in PostgreSQL (``partner_rate_limit``, GCRA, migration 0212): the
API containers share it because they share the database, so 4 containers do not let a partner
through at 4x its rate. A partner's keys share the bucket (two live keys during a rotation do
not double the rate). Staff keys and provider callbacks never take from it.

    limit = RateLimit.of(settings)       # the API's settings (PARTNER_RATE_LIMIT_*)
    wait = take(conn, partner_id, limit)   # 0.0: admitted; else seconds until one would be
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2.extensions

from chalicelib.db import one
from chalicelib.settings import ApiSettings

# Losing the last few bucket writes in a database crash only forgives a few requests: the bucket's
# commit does not wait for the WAL flush (the request's read does not depend on it).
TAKE = "SELECT partner_rate_take(%s, %s, %s), set_config('synchronous_commit', 'off', true)"


@dataclass(frozen=True)
class RateLimit:
    per_second: float  # 0: no per-partner limit
    burst: int

    @classmethod
    def of(cls, settings: ApiSettings) -> RateLimit:
        """``PARTNER_RATE_LIMIT_PER_SECOND`` and ``PARTNER_RATE_LIMIT_BURST`` (at least 1)."""
        return cls(settings.partner_rate_per_second, max(1, settings.partner_rate_burst))

    @property
    def enabled(self) -> bool:
        return self.per_second > 0


def take(conn: psycopg2.extensions.connection, partner_id: int, limit: RateLimit) -> float:
    """Take one request from the partner's bucket (not committed: the caller commits at once, which
    releases the partner's row). Returns 0.0 when admitted, else the seconds to wait."""
    if not limit.enabled:
        return 0.0
    with conn.cursor() as cur:
        cur.execute(TAKE, (partner_id, limit.per_second, limit.burst))
        wait, _ = one(cur)
    return float(wait)
