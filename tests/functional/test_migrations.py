import pytest

from chalicelib import db


def _schema_snapshot(conn):
    with conn.cursor() as cur:
        cur.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'public' ORDER BY 1, 2"""
        )
        columns = cur.fetchall()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
        indexes = cur.fetchall()
        cur.execute("SELECT prefix, zone, region FROM postcode_zone ORDER BY 1")
        zones = cur.fetchall()
        cur.execute("SELECT name, checksum FROM schema_migrations ORDER BY 1")
        applied = cur.fetchall()
    conn.commit()
    return columns, indexes, zones, applied


def test_migrate_twice_changes_nothing(conn):
    before = _schema_snapshot(conn)
    assert db.migrate(conn) == []
    assert db.migrate(conn) == []
    assert _schema_snapshot(conn) == before


def test_every_migration_is_recorded(conn):
    names = [m.name for m in db.load_migrations()]
    assert db.status(conn) == [(n, True) for n in names]


def test_money_columns_are_bigint(conn):
    money = {
        ("loan", "loan_amount"), ("payment", "due_amount"), ("payment", "paid_amount"),
        ("disbursement", "disburse_amount"), ("repayment_transaction", "lender_received_principal"),
        ("repayment_transaction", "julo_fee_received"),
    }
    with conn.cursor() as cur:
        cur.execute(
            """SELECT table_name, column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'public'"""
        )
        types = {(t, c): d for t, c, d in cur.fetchall()}
    assert {types[m] for m in money} == {"bigint"}


def test_edited_migration_is_refused(conn, tmp_path, monkeypatch):
    first = db.load_migrations()[0]
    edited = tmp_path / first.name
    edited.write_text(first.sql + "\n-- edited\n")
    monkeypatch.setattr(db, "MIGRATIONS_DIR", tmp_path)
    monkeypatch.setattr(db, "load_migrations", lambda directory=None: [db.Migration(edited.name, edited.read_text())])
    with pytest.raises(RuntimeError, match="edited"):
        db.migrate(conn)


def test_reference_data_synced_from_python(conn):
    from chalicelib.products import PRODUCT_LINES
    from chalicelib.zones import POSTCODE_PREFIXES

    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM postcode_zone")
        assert cur.fetchone()[0] == len(POSTCODE_PREFIXES)
        cur.execute("SELECT product_line_code, product_family FROM product_line ORDER BY 1")
        assert cur.fetchall() == sorted((p.code, p.family.value) for p in PRODUCT_LINES)
