"""The ETL batch an analytics read is "as of"."""

from __future__ import annotations

from datetime import date, datetime

import psycopg2.extensions

from chalicelib.zones import Zone

LATEST_RUN = "SELECT etl_batch_time FROM analytics_etl_run ORDER BY etl_run_id DESC LIMIT 1"


def batch_date(etl_batch_time: datetime) -> date:
    """The business date (WIB) a batch is "as of": RFM recency counts days up to it."""
    return etl_batch_time.astimezone(Zone.WIB.tzinfo).date()


def latest_batch_time(conn: psycopg2.extensions.connection) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute(LATEST_RUN)
        row = cur.fetchone()
    return row[0] if row else None


def latest_as_of(conn: psycopg2.extensions.connection) -> date | None:
    """The batch date of the latest ETL run (None before the first one)."""
    batch_time = latest_batch_time(conn)
    return batch_date(batch_time) if batch_time else None
