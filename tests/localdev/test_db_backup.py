"""make db-dump / make db-restore: a custom-format dump restored, in the background, into another database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

from localdev.datagen import lending as demo_data
from localdev.servers import db_backup


def _counts(url: str) -> dict[str, int]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            tables = [t for (t,) in cur.fetchall()]
            counts = {}
            for t in tables:
                cur.execute(f'SELECT count(*) FROM "{t}"')
                counts[t] = cur.fetchone()[0]
        return counts
    finally:
        conn.close()


@pytest.fixture
def restored_url(pg_url):
    parts = urlparse(pg_url)
    name = parts.path.lstrip("/") + "_restored"
    url = urlunparse(parts._replace(path=f"/{name}"))
    yield url
    admin = psycopg2.connect(urlunparse(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_dump_then_background_restore_reproduces_every_table(conn, pg_url, restored_url, tmp_path):
    loaded = demo_data.load(conn, 120, seed=5, business_date=date(2026, 11, 20))
    assert loaded["payment"] > 0
    source = _counts(pg_url)

    archive = db_backup.dump(pg_url, tmp_path / "backups", now=datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC))
    assert archive.name == "julo-20261123T010203Z.dump"
    assert archive.read_bytes()[:5] == b"PGDMP"

    job = db_backup.restore(archive, restored_url, tmp_path / "logs", now=datetime(2026, 11, 23, 1, 5, tzinfo=UTC))
    assert job.log.name == "restore-20261123T010500Z.log"
    assert int(job.log.with_suffix(".pid").read_text()) == job.pid
    assert db_backup.wait(job.log, timeout=120) == 0
    log = job.log.read_text()
    assert "processing item" in log or "creating TABLE" in log  # --verbose progress
    restored = _counts(restored_url)
    assert restored == source
    assert restored["payment"] == loaded["payment"]

    # --clean --if-exists: restoring again over the same database replaces, never doubles
    again = db_backup.restore(archive, restored_url, tmp_path / "logs", now=datetime(2026, 11, 23, 1, 6, tzinfo=UTC))
    assert db_backup.wait(again.log, timeout=120) == 0
    assert _counts(restored_url) == source


def test_restore_refuses_a_missing_or_wrong_file_before_touching_the_database(tmp_path, capsys):
    with pytest.raises(db_backup.BackupError, match=r"make db-restore FILE=backups/julo-"):
        db_backup.check_archive("")
    with pytest.raises(db_backup.BackupError, match="no such backup file"):
        db_backup.check_archive(tmp_path / "nope.dump")
    plain = tmp_path / "plain.sql"
    plain.write_text("CREATE TABLE x (id int);\n")
    with pytest.raises(db_backup.BackupError, match="not a pg_dump custom-format archive"):
        db_backup.check_archive(plain)
    assert db_backup.main(["restore", "--file", ""]) == 2
    assert "no backup given" in capsys.readouterr().err


def test_a_failed_restore_is_reported_with_its_exit_code(pg_url, restored_url, tmp_path):
    broken = tmp_path / "broken.dump"
    broken.write_bytes(b"PGDMP" + b"\x00" * 64)
    job = db_backup.restore(broken, restored_url, tmp_path / "logs")
    assert db_backup.wait(job.log, timeout=60) != 0
    assert db_backup.main(["status", str(job.log)]) == 1


def test_passwords_travel_in_the_environment_not_on_the_command_line():
    url, env = db_backup.split_password("postgresql://app:s3cr%40t@db.example:5432/julo?sslmode=require")
    assert url == "postgresql://app@db.example:5432/julo?sslmode=require"
    assert env == {"PGPASSWORD": "s3cr@t"}
    assert db_backup.split_password("postgresql://postgres@127.0.0.1:55432/julo") == (
        "postgresql://postgres@127.0.0.1:55432/julo", {})
