"""Filters an analyst applies to RFM, cohorts and the dashboard: marketplace, shop, region, months.

Marketplace, shop (``shop_id``) and region (``magpie_region_code``) must be values the analytics
tables hold (``analytics_filter_value``, rebuilt by every ETL run); ``month_from`` / ``month_to``
are WIB months ``YYYY-MM``, both inclusive. Anything else is an ``UnknownFilterValue``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import psycopg2.extensions

from chalicelib import db
from chalicelib.errors import InvalidInput

DIMENSIONS = ("marketplace", "shop", "region")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

KNOWN_VALUE = "SELECT EXISTS (SELECT 1 FROM analytics_filter_value WHERE dimension = %s AND value = %s)"
ALL_VALUES = "SELECT dimension, value, label FROM analytics_filter_value ORDER BY dimension, label, value"
REBUILD_VALUES = """
DELETE FROM analytics_filter_value;
INSERT INTO analytics_filter_value (dimension, value, label)
WITH present AS (  -- one pass over the table; a few hundred combinations
    SELECT marketplace, shop_id, min(shop_name) AS shop_name, magpie_region_code
    FROM final_user_analysis
    GROUP BY marketplace, shop_id, magpie_region_code
)
SELECT 'marketplace', marketplace, marketplace FROM present GROUP BY marketplace
UNION ALL
SELECT 'shop', shop_id, min(shop_name) || ' (' || min(marketplace) || ')' FROM present GROUP BY shop_id
UNION ALL
SELECT 'region', magpie_region_code, magpie_region_code FROM present GROUP BY magpie_region_code;
"""


class UnknownFilterValue(InvalidInput):
    """A filter value the analytics data does not hold, or a malformed month."""


@dataclass(frozen=True)
class Filters:
    marketplace: str | None = None
    shop: str | None = None
    region: str | None = None
    month_from: str | None = None  # YYYY-MM (WIB), inclusive
    month_to: str | None = None

    @property
    def active(self) -> bool:
        return any(asdict(self).values())

    def params(self) -> dict[str, str | None]:
        """The SQL parameters of ``sql/rfm.sql`` and ``sql/cohort.sql``."""
        return asdict(self)

    def query(self) -> dict[str, str]:
        """The same filters as API query parameters (``from`` / ``to`` for the months)."""
        names = {"month_from": "from", "month_to": "to"}
        return {names.get(k, k): v for k, v in asdict(self).items() if v}


def parse_month(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not MONTH.match(value):
        raise UnknownFilterValue(f"{name} must be a month YYYY-MM")
    return value


def checked(conn: psycopg2.extensions.connection, *, marketplace: str | None = None, shop: str | None = None,
            region: str | None = None, month_from: str | None = None, month_to: str | None = None) -> Filters:
    """Filters whose every value is known; raises ``UnknownFilterValue`` naming the first that is not."""
    filters = Filters(marketplace, shop, region, parse_month("from", month_from), parse_month("to", month_to))
    if filters.month_from and filters.month_to and filters.month_from > filters.month_to:
        raise UnknownFilterValue("from must not be after to")
    with conn.cursor() as cur:
        for dimension in DIMENSIONS:
            value = getattr(filters, dimension)
            if value is None:
                continue
            if not value.isprintable():  # NUL and control characters cannot be stored values
                raise UnknownFilterValue(f"unknown {dimension}: not in the analytics data")
            cur.execute(KNOWN_VALUE, (dimension, value))
            if not db.one(cur)[0]:
                raise UnknownFilterValue(f"unknown {dimension} {value!r}: not in the analytics data")
    return filters


def known_values(conn: psycopg2.extensions.connection) -> dict[str, list[tuple[str, str]]]:
    """(value, label) per dimension, for the dashboard's filter form."""
    out: dict[str, list[tuple[str, str]]] = {d: [] for d in DIMENSIONS}
    with conn.cursor() as cur:
        cur.execute(ALL_VALUES)
        for dimension, value, label in cur.fetchall():
            out[dimension].append((value, label))
    return out


def rebuild_known_values(cur: psycopg2.extensions.cursor) -> None:
    cur.execute(REBUILD_VALUES)
