"""The BI read model: role analytics_reader reads the analytics_bi views and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse, urlunparse

import psycopg2
import psycopg2.errors
import pytest

from chalicelib import db
from chalicelib.analytics.etl import run_etl
from tests.analytics_orders import WIB, add_line

VIEWS = {"rfm_scores", "rfm_segments", "rfm_thresholds", "cohort_retention", "monthly_gmv"}
# personal data: the borrower's identity and contacts, bank details, and buyers' shipping names
PII_WORDS = ("name", "email", "phone", "address", "kodepos", "ktp", "birth", "account")


def as_reader(pg_url: str) -> psycopg2.extensions.connection:
    parts = urlparse(pg_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return psycopg2.connect(urlunparse(parts._replace(netloc=f"analytics_reader@{host}")))


@pytest.fixture
def reader(conn, pg_url):
    add_line(conn, order_id="O1", user_id="u1", gmv=10_000, at=datetime(2026, 3, 3, 10, tzinfo=WIB),
             address="Rumah Budi")
    conn.commit()
    run_etl(conn, datetime(2026, 3, 31, 18, tzinfo=UTC))
    connection = as_reader(pg_url)
    yield connection
    connection.close()


def test_the_role_reads_the_views(reader):
    with reader.cursor() as cur:
        cur.execute("SELECT segment, users, gmv_rupiah, gmv_share FROM analytics_bi.rfm_segments")
        assert cur.fetchall() == [("New customers", 1, 10_000, 1)]
        cur.execute("SELECT month_of_order, buyers, orders, gmv_rupiah FROM analytics_bi.monthly_gmv")
        assert cur.fetchall() == [("2026-03", 1, 1, 10_000)]
        for view in VIEWS:
            cur.execute(f"SELECT * FROM analytics_bi.{view}")


@pytest.mark.parametrize("query", [
    "SELECT * FROM application",
    "SELECT * FROM payment",
    "SELECT fullname FROM application",
    "SELECT address_shipping_name FROM final_user_analysis",
    "SELECT address_shipping_name FROM order_marketplace",
    "SELECT * FROM flatten_order_marketplace",
    "SELECT * FROM rfm_score",
    "SELECT * FROM partner_api_key",
])
def test_the_role_cannot_read_tables(reader, query):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
        cur.execute(query)
    reader.rollback()


def test_the_role_cannot_write(reader):
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction), reader.cursor() as cur:
        cur.execute("CREATE TABLE analytics_bi.mine (x INT)")
    reader.rollback()


def test_only_the_views_are_readable_and_none_shows_personal_data(conn):
    with conn.cursor() as cur:
        cur.execute("""
            SELECT n.nspname, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
              AND (has_table_privilege('analytics_reader', c.oid, 'SELECT')
                   OR has_any_column_privilege('analytics_reader', c.oid, 'SELECT'))""")
        assert set(cur.fetchall()) == {("analytics_bi", v) for v in VIEWS}
        cur.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")
        pii = {(t, c) for t, c in cur.fetchall()
               if t == "application" or any(w in c for w in PII_WORDS)}
        assert ("application", "fullname") in pii and ("final_user_analysis", "address_shipping_name") in pii
        for table, column in pii:
            cur.execute("SELECT has_column_privilege('analytics_reader', %s, %s, 'SELECT')",
                        (f"public.{table}", column))
            assert cur.fetchone()[0] is False, (table, column)
        cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'analytics_bi'")
        exposed = cur.fetchall()
    assert {t for t, _ in exposed} == VIEWS
    assert [c for _, c in exposed if any(w in c for w in PII_WORDS) and c != "shop_name"] == []


def test_the_migration_runs_again_on_a_server_that_has_the_role(conn):
    # the role is cluster-wide: every database's migration (tests run many at once) meets it
    migration = next(m for m in db.load_migrations() if m.name.startswith("0401"))
    with conn.cursor() as cur:
        cur.execute(migration.sql)
        cur.execute("SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'analytics_reader'")
        assert cur.fetchone() == (True, False, False)
    conn.rollback()
