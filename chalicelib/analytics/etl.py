"""The daily ETL: source order lines -> aggregated_monthly, final_user_analysis -> RFM, cohorts.

    python -m chalicelib.analytics.etl [--full] [--batch-time 2026-11-22T17:00:00Z]

*Incremental* (the daily run): the source tables' statement triggers record every
(customer key, month) group that an insert, update or delete touched, old and new values
(``analytics_changed_group``). A run takes those groups, recomputes them in
``aggregated_monthly`` and their customer keys in ``final_user_analysis`` from the source,
and forgets them, in one transaction. Late cancellations and returns are updates of the
flags, so they refresh their group like any other change; recomputing a group from its
source lines (never adding deltas) is what makes the result identical to a full rebuild.
*Full*: truncate and rebuild everything (first run, or on demand).
An incremental run reads its source lines once (``sql/lines.sql``: temporary etl_lines and
etl_orders) for both tables; a full build reads the source on parallel workers straight into
each month's line totals and the orders (``sql/full_lines.sql``) and folds the customer-key
table's line totals from the months (``sql/customer_line_totals.sql``). Either way the run keeps
``analytics_active_month`` (each user's active months and first month) and
``analytics_user_total`` (each user's RFM inputs) in step, then re-scores RFM for everybody
(quartiles and recency depend on the whole population and the date), updating ``rfm_score`` in
place, and recounts the cohort matrix from ``analytics_active_month``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

import psycopg2.extensions

from chalicelib import db
from chalicelib.analytics import cohort, filters, rfm
from chalicelib.analytics.batch import batch_date
from chalicelib.logs import get_logger

logger = get_logger("analytics-etl")

SQL_DIR = Path(__file__).with_name("sql")


def _sql(name: str) -> Template:
    return Template((SQL_DIR / f"{name}.sql").read_text())


# Serialises ETL runs (two schedules firing, a manual run during the daily one).
ETL_LOCK_KEY = 727_004_007
KEY_COLS = "marketplace, shop_id, shop_name, user_id, magpie_region_code"

# An incremental run reads every line of the changed customer keys (final_user_analysis needs
# them all; aggregated_monthly only the changed months'). The user_id array lets the planner fetch
# them through the source's user_id index instead of scanning it; the tuple test keeps the keys.
SCOPE_USERS = "f.user_id = ANY (ARRAY (SELECT DISTINCT user_id FROM etl_scope_keys))"
CHANGED_KEYS_LINES = (f"{SCOPE_USERS} AND (f.{KEY_COLS.replace(', ', ', f.')}) "
                      f"IN (SELECT {KEY_COLS} FROM etl_scope_keys)")
MONTH_GROUP = "customer_key, month_of_order"
ALL_SOURCE_LINES = f"({_sql('source_lines').substitute(scope='TRUE')}) l"
READ_LINES = {
    "incremental": _sql("lines").substitute(source_lines=_sql("source_lines").substitute(scope=CHANGED_KEYS_LINES),
                                            orders=_sql("orders").substitute(lines="etl_lines")),
    "full": _sql("full_lines").substitute(
        monthly_lines=_sql("line_totals").substitute(group_cols=MONTH_GROUP, lines=ALL_SOURCE_LINES, scope="TRUE"),
        orders=_sql("orders").substitute(lines=ALL_SOURCE_LINES)),
}
# A full build reads every source line (twice: sql/full_lines.sql), computing each one's customer
# key (md5) and WIB month: PostgreSQL's default costs never split such a scan over parallel workers
# (shipping 1M rows to the leader is priced above the work saved), yet one process spends 5.4 s of
# CPU on it at 1M lines and, with two workers, the leader 3.1 s. Only for those reads: the
# temporary tables the rest reads are never scanned in parallel.
PARALLEL_READ = "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0.01"
SERIAL_AGAIN = "SET LOCAL parallel_setup_cost TO DEFAULT; SET LOCAL parallel_tuple_cost TO DEFAULT"
# A full build's orders are grouped twice (per order, then per group) and read in group order: sorted
# on the workers and merged, their partial groups are finished in one pass and etl_orders is written
# in group order; hashing them (the planner's pick) finished 580k groups in the leader's hash table,
# and final_user_analysis's fold per order hashed them again and then sorted them by customer key
# (EXPLAIN ANALYZE at 1M lines, load 4: that insert 6.8 s -> 4.1 s). Only for the full build's
# reads and inserts.
SORTED_GROUPS = "SET LOCAL enable_hashagg = off"
HASHED_GROUPS_AGAIN = "SET LOCAL enable_hashagg TO DEFAULT"
CHANGED_MONTHS = ('(customer_key, month_of_order) IN '
                  '(SELECT customer_key COLLATE "C", month_of_order COLLATE "C" FROM etl_scope)')
# final_user_analysis counts each order once even when its lines fall in two months
ORDERS_PER_KEY = """(
    SELECT customer_key, order_id, bool_or(valid) AS valid, bool_or(cancelled) AS cancelled,
           bool_or(returned) AS returned, max(order_ts) AS order_ts, max(fee) AS fee,
           min(address_shipping_name COLLATE "C") AS address_shipping_name
    FROM etl_orders
    GROUP BY customer_key, order_id
) o"""

AGGREGATE_TEMPLATE = _sql("aggregate")
MONTHLY = {"target": "aggregated_monthly", "group_cols": MONTH_GROUP, "month_select": "l.month_of_order,",
           "orders": "etl_orders"}
FINAL = {"target": "final_user_analysis", "group_cols": "customer_key", "month_select": "",
         "orders": ORDERS_PER_KEY, "scope": "TRUE"}
LINE_TOTALS = _sql("line_totals")
INSERT_MONTHLY = {
    # the months were written in group order: sorting them finds them sorted, and a merge join with the
    # orders' totals (also in group order) then needs no sort of the joined rows
    "full": AGGREGATE_TEMPLATE.substitute(
        MONTHLY, scope="TRUE", line_totals=f"SELECT * FROM etl_monthly_lines ORDER BY {MONTH_GROUP}"),
    "incremental": AGGREGATE_TEMPLATE.substitute(
        MONTHLY, scope=CHANGED_MONTHS,
        line_totals=LINE_TOTALS.substitute(group_cols=MONTH_GROUP, lines="etl_lines", scope=CHANGED_MONTHS)),
}
INSERT_FINAL = {
    "full": AGGREGATE_TEMPLATE.substitute(FINAL, line_totals=_sql("customer_line_totals").substitute()),
    "incremental": AGGREGATE_TEMPLATE.substitute(
        FINAL, line_totals=LINE_TOTALS.substitute(group_cols="customer_key", lines="etl_lines", scope="TRUE")),
}

TRUNCATE_OUTPUTS = ("TRUNCATE aggregated_monthly, final_user_analysis, analytics_active_month, analytics_user_total, "
                    "analytics_changed_group")
TAKE_CHANGED_GROUPS = f"""
CREATE TEMP TABLE etl_scope ON COMMIT DROP AS
WITH taken AS (DELETE FROM analytics_changed_group RETURNING *)
SELECT DISTINCT analytics_customer_key({KEY_COLS}) AS customer_key, {KEY_COLS}, month_of_order FROM taken;
CREATE TEMP TABLE etl_scope_keys ON COMMIT DROP AS SELECT DISTINCT customer_key, {KEY_COLS} FROM etl_scope;
ANALYZE etl_scope;
ANALYZE etl_scope_keys;
"""
DELETE_MONTHLY_IN_SCOPE = """
DELETE FROM aggregated_monthly a USING etl_scope s
WHERE a.customer_key = s.customer_key AND a.month_of_order = s.month_of_order
"""
# analytics_active_month (migration 0413): the (user, month) pairs with a valid order, each with
# the user's first such month. A full run takes them from aggregated_monthly; an incremental one
# replaces the changed users' pairs from their source lines (through the source's user_id index:
# aggregated_monthly has none), which is what their groups in aggregated_monthly now say.
ACTIVE_MONTHS = """
INSERT INTO analytics_active_month (user_id, month_of_order, cohort_month)
SELECT user_id, month_of_order, min(month_of_order) OVER (PARTITION BY user_id COLLATE "C")
FROM (${pairs}) pairs
"""
# (bytewise, and run with hash aggregation off: one sort gives the distinct pairs in the window's
# partition order, where hashing them and then sorting for the window took twice that, 1M lines)
FILL_ACTIVE_MONTHS = Template(ACTIVE_MONTHS).substitute(
    pairs='SELECT DISTINCT user_id COLLATE "C" AS user_id, month_of_order COLLATE "C" AS month_of_order '
          'FROM aggregated_monthly WHERE total_order > 0')
REFRESH_ACTIVE_MONTHS = ("DELETE FROM analytics_active_month WHERE user_id IN (SELECT user_id FROM etl_scope);\n"
                         + Template(ACTIVE_MONTHS).substitute(pairs="""
    SELECT DISTINCT f.user_id, analytics_month(f.create_timestamp) AS month_of_order
    FROM flatten_order_marketplace f
    WHERE f.user_id = ANY (ARRAY (SELECT DISTINCT user_id FROM etl_scope))
      AND f.cancelled_flag = 'N' AND f.returned_flag = 'N'"""))
DELETE_FINAL_IN_SCOPE = "DELETE FROM final_user_analysis u USING etl_scope_keys s WHERE u.customer_key = s.customer_key"
# analytics_user_total (migration 0414): each scored user's RFM inputs over all their customer keys,
# what RFM scores (rfm.py). A full run fills it from final_user_analysis; an incremental one
# rewrites the changed users' rows (a user's totals change only when one of their groups did).
USER_TOTALS = Template("""
INSERT INTO analytics_user_total (user_id, last_order_date, frequency, monetary)
SELECT user_id, max((last_order_timestamp AT TIME ZONE 'Asia/Jakarta')::date),
       sum(total_order)::INTEGER, sum(total_gmv_amount)::BIGINT
FROM final_user_analysis
WHERE total_order > 0 ${scope}
GROUP BY user_id
""")
FILL_USER_TOTALS = USER_TOTALS.substitute(scope="")
REFRESH_USER_TOTALS = ("DELETE FROM analytics_user_total WHERE user_id IN (SELECT user_id FROM etl_scope);\n"
                       + USER_TOTALS.substitute(scope="AND user_id IN (SELECT user_id FROM etl_scope)"))
# After a full rebuild the planner must know the tables are no longer empty. Only the columns
# queries filter, group or join on (ETL, API, BI views): the others' statistics (the sku_list
# arrays' most common elements, timestamps, names) were half of the time and no plan uses them;
# autovacuum's next ANALYZE refreshes them.
ANALYZED_COLUMNS = "customer_key, marketplace, shop_id, user_id, magpie_region_code, total_order"
ANALYZE_OUTPUTS = f"""
ANALYZE aggregated_monthly ({ANALYZED_COLUMNS}, month_of_order);
ANALYZE final_user_analysis ({ANALYZED_COLUMNS});
ANALYZE analytics_user_total
"""
COUNT_SCOPE = "SELECT count(*) FROM etl_scope"
CLEAR_DERIVED = "DELETE FROM rfm_threshold; DELETE FROM cohort_retention"  # rfm_score: updated in place
COUNT_SCORED = "SELECT count(*) FROM rfm_score"
RECORD_RUN = """
INSERT INTO analytics_etl_run (etl_batch_time, mode, groups_refreshed, users_scored, started_at, finished_at)
VALUES (%s, %s, %s, %s, %s, clock_timestamp())
"""
HAS_RUN = "SELECT EXISTS (SELECT 1 FROM analytics_etl_run)"


@dataclass(frozen=True)
class EtlResult:
    mode: str  # 'full' | 'incremental'
    etl_batch_time: datetime
    groups_refreshed: int  # (customer key, month) groups recomputed; all of them for a full run
    users_scored: int
    seconds: float
    derived_seconds: float  # of which: rebuilding RFM and cohorts (recency moves for everyone daily)


def run_etl(conn: psycopg2.extensions.connection, etl_batch_time: datetime, *, full: bool = False) -> EtlResult:
    """Refresh the analytics tables in one transaction. The first run is always full."""
    if etl_batch_time.tzinfo is None:
        raise ValueError("etl_batch_time must be timezone-aware")
    started = time.perf_counter()
    with db.transaction(conn) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (ETL_LOCK_KEY,))
        cur.execute("SELECT clock_timestamp()")
        started_at = db.one(cur)[0]
        cur.execute("SET LOCAL work_mem = '256MB'")
        cur.execute("SET LOCAL jit = off")  # compiling these plans costs more than it saves
        cur.execute(HAS_RUN)
        mode = "full" if full or not db.one(cur)[0] else "incremental"
        params = {"etl_batch_time": etl_batch_time}
        if mode == "full":
            cur.execute(TRUNCATE_OUTPUTS)
            cur.execute(SORTED_GROUPS)
            cur.execute(PARALLEL_READ)
            cur.execute(READ_LINES["full"])
            cur.execute(SERIAL_AGAIN)
            cur.execute(INSERT_MONTHLY["full"], params)
            groups = cur.rowcount
            cur.execute(INSERT_FINAL["full"], params)
            cur.execute(FILL_ACTIVE_MONTHS)
            cur.execute(HASHED_GROUPS_AGAIN)
            cur.execute(FILL_USER_TOTALS)
            cur.execute(ANALYZE_OUTPUTS)
        else:
            # A few thousand lines and orders, looked up in tables the server holds in memory: an
            # index lookup costs about a sequential read (otherwise the planner hashed all of
            # order_marketplace, 600k rows at 1M lines, to join a few thousand orders).
            cur.execute("SET LOCAL random_page_cost = 1.1")
            cur.execute(TAKE_CHANGED_GROUPS)
            cur.execute(COUNT_SCOPE)
            groups = db.one(cur)[0]
            cur.execute(READ_LINES["incremental"])
            cur.execute(DELETE_MONTHLY_IN_SCOPE)
            cur.execute(INSERT_MONTHLY["incremental"], params)
            cur.execute(DELETE_FINAL_IN_SCOPE)
            cur.execute(INSERT_FINAL["incremental"], params)
            cur.execute(REFRESH_ACTIVE_MONTHS)
            cur.execute(REFRESH_USER_TOTALS)
        derived_started = time.perf_counter()
        users = rebuild_rfm_and_cohorts(cur, etl_batch_time, incremental=mode == "incremental")
        derived_seconds = time.perf_counter() - derived_started
        cur.execute(RECORD_RUN, (etl_batch_time, mode, groups, users, started_at))
    result = EtlResult(mode, etl_batch_time, groups, users, time.perf_counter() - started, derived_seconds)
    logger.info("analytics etl done", extra={"mode": mode, "etl_batch_time": etl_batch_time.isoformat(),
                                             "groups_refreshed": groups, "users_scored": users,
                                             "seconds": round(result.seconds, 3)})
    return result


def rebuild_rfm_and_cohorts(cur: psycopg2.extensions.cursor, etl_batch_time: datetime, *,
                            incremental: bool = False) -> int:
    """Recompute rfm_score, rfm_threshold, cohort_retention and the filter values; returns the
    users scored. ``incremental``: after an incremental refresh (its etl_scope names the users
    whose groups changed)."""
    cur.execute(CLEAR_DERIVED)
    everybody = filters.Filters()
    rfm.score_population(cur, batch_date(etl_batch_time), etl_batch_time, everybody, stored=True,
                         incremental=incremental)
    cur.execute(cohort.STORE_COHORTS, everybody.params())
    filters.rebuild_known_values(cur)
    cur.execute(COUNT_SCORED)
    return db.one(cur)[0]


def parse_batch_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"batch time needs a zone offset or Z: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.analytics.etl")
    parser.add_argument("--full", action="store_true", help="rebuild everything instead of the changed groups")
    parser.add_argument("--batch-time", type=parse_batch_time, default=None,
                        help="ISO time with offset (default: now)")
    args = parser.parse_args(argv)
    conn = db.connect()
    try:
        result = run_etl(conn, args.batch_time or datetime.now(UTC), full=args.full)
    finally:
        conn.close()
    print(f"{result.mode} ETL as of {batch_date(result.etl_batch_time)}: {result.groups_refreshed:,} groups, "
          f"{result.users_scored:,} users scored in {result.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
