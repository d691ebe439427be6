"""Keys a funder can trust: expiry (401 key_expired), last use at most once a minute, who created and
revoked each key and when (an append-only trail), two live keys per partner during a rotation, the
CLI's listing, and a migration that keeps the keys issued before it valid."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from urllib.parse import urlparse, urlunparse

import psycopg2
import psycopg2.errors
import pytest

from chalicelib import db
from chalicelib.partners.keys import (
    TooManyLiveKeys,
    create_partner_key,
    create_staff_key,
    hash_key,
    list_keys,
    revoke_key,
    rotate_partner_key,
)
from tests.api_support import api_client, get
from tests.factories import make_partner


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chalicelib.partners", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def _key_row(conn, key: str) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT api_key_id, cdate, expires_at, last_used_at, revoked_at, now() AS db_now "
                    "FROM partner_api_key WHERE key_hash = %s", (hash_key(key),))
        names = [c.name for c in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
    conn.commit()
    return row


def _events(conn, key: str) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT e.action, e.actor FROM partner_api_key_event e JOIN partner_api_key k USING (api_key_id) "
                    "WHERE k.key_hash = %s ORDER BY e.event_id", (hash_key(key),))
        rows = cur.fetchall()
    conn.commit()
    return rows


@pytest.fixture
def partner(conn) -> int:
    make_partner(conn, 3, "Mitra Dana Sejahtera")
    conn.commit()
    return 3


def test_a_key_lives_a_year_by_default_and_the_setting_changes_it(conn, partner):
    year = create_partner_key(conn, partner, actor="alice")
    row = _key_row(conn, year)
    assert abs(row["expires_at"] - row["cdate"] - timedelta(days=365)) < timedelta(minutes=1)
    month = _cli("create-key", "--partner", str(partner), "--by", "alice", PARTNER_KEY_EXPIRY_DAYS="30")
    assert month.returncode == 0, month.stderr
    row = _key_row(conn, month.stdout.strip())
    assert abs(row["expires_at"] - row["cdate"] - timedelta(days=30)) < timedelta(minutes=1)
    revoke_key(conn, year[:11], actor="alice")
    week = _cli("create-key", "--partner", str(partner), "--expires-in-days", "7")
    row = _key_row(conn, week.stdout.strip())
    assert abs(row["expires_at"] - row["cdate"] - timedelta(days=7)) < timedelta(minutes=1)


def test_an_expired_key_is_a_401_key_expired(conn, partner):
    key = create_partner_key(conn, partner, actor="alice")
    staff = create_staff_key(conn, owner="Alice Staff", actor="alice")
    with api_client() as client:
        assert get(client, "/v1/partner/summary", key)[0] == 200
        with conn.cursor() as cur:
            cur.execute("UPDATE partner_api_key SET expires_at = now() - interval '1 second'")
        conn.commit()
        for path, k in (("/v1/partner/summary", key), ("/v1/partner/report", key), ("/v1/pn/blast-titles", staff)):
            status, body, headers = get(client, path, k)
            assert status == 401 and body["error"]["code"] == "key_expired", (path, body)
            assert "expired" in body["error"]["message"] and headers["cache-control"] == "no-store"
        # a wrong key is still the plain 401: the two are told apart
        status, body, _ = get(client, "/v1/partner/summary", key[:-4] + "AAAA")
        assert status == 401 and body["error"]["code"] == "unauthorized"


def test_last_use_is_recorded_at_most_once_a_minute(conn, partner):
    key = create_partner_key(conn, partner, actor="alice")
    assert _key_row(conn, key)["last_used_at"] is None
    with api_client() as client:
        get(client, "/v1/partner/summary", key)
        first = _key_row(conn, key)["last_used_at"]
        assert first is not None
        for _ in range(5):
            assert get(client, "/v1/partner/report?limit=1", key)[0] == 200
        assert _key_row(conn, key)["last_used_at"] == first  # no write per request
        with conn.cursor() as cur:  # a minute later
            cur.execute("UPDATE partner_api_key SET last_used_at = last_used_at - interval '61 seconds'")
        conn.commit()
        get(client, "/v1/partner/summary", key)
    row = _key_row(conn, key)
    assert row["last_used_at"] > first - timedelta(seconds=61)
    assert abs(row["last_used_at"] - row["db_now"]) < timedelta(minutes=1)


def test_the_trail_says_who_created_and_revoked_each_key_and_cannot_be_rewritten(conn, partner):
    created = _cli("create-key", "--partner", str(partner), "--by", "alice@lender.co.id")
    key = created.stdout.strip()
    revoked = _cli("revoke-key", key[:11], "--by", "bob@lender.co.id")
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert _events(conn, key) == [("created", "alice@lender.co.id"), ("revoked", "bob@lender.co.id")]
    [info] = [k for k in list_keys(conn, partner_id=partner, include_ended=True) if k.key_prefix == key[:11]]
    assert (info.state, info.created_by, info.revoked_by) == ("revoked", "alice@lender.co.id", "bob@lender.co.id")
    assert info.revoked_at is not None and info.revoked_at >= info.created_at
    for statement in ("UPDATE partner_api_key_event SET actor = 'mallory'", "DELETE FROM partner_api_key_event",
                      "UPDATE partner_api_key SET revoked_at = NULL",
                      f"UPDATE partner_api_key SET key_hash = '{hash_key('jk_other')}'"):
        with pytest.raises(psycopg2.Error), conn.cursor() as cur:
            cur.execute(statement)
        conn.rollback()
    assert _events(conn, key)[0] == ("created", "alice@lender.co.id")
    with api_client() as client:
        assert get(client, "/v1/partner/summary", key)[0] == 401


def test_a_partner_holds_two_live_keys_during_a_rotation(conn, partner):
    old = create_partner_key(conn, partner, actor="alice")
    rotated = _cli("rotate-key", "--partner", str(partner), "--grace-days", "3", "--by", "alice")
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    with api_client() as client:  # both work during the change-over
        assert get(client, "/v1/partner/summary", old)[0] == 200
        assert get(client, "/v1/partner/summary", new)[0] == 200
    old_row, new_row = _key_row(conn, old), _key_row(conn, new)
    assert old_row["expires_at"] <= old_row["db_now"] + timedelta(days=3, minutes=1)
    assert new_row["expires_at"] > new_row["db_now"] + timedelta(days=364)
    assert _events(conn, old)[-1] == ("expiry_changed", "alice")
    # a third live key is refused, by the CLI and by the database itself
    third = _cli("create-key", "--partner", str(partner))
    assert third.returncode == 2 and "already has 2 live keys" in third.stderr and old[:11] in third.stderr
    assert _cli("rotate-key", "--partner", str(partner)).returncode == 2
    with pytest.raises(psycopg2.errors.CheckViolation, match="2 live API keys"), conn.cursor() as cur:
        cur.execute("INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash) "
                    "VALUES (%s, 'partner', 'jk_x', 'h')", (partner,))
    conn.rollback()
    # the old key ends (revoked, or expired) and there is room again
    revoke_key(conn, old[:11], actor="alice")
    create_partner_key(conn, partner, actor="alice")
    with conn.cursor() as cur:
        cur.execute("UPDATE partner_api_key SET expires_at = now() - interval '1 second' WHERE key_hash = %s",
                    (hash_key(new),))
    conn.commit()
    create_partner_key(conn, partner, actor="alice")
    with pytest.raises(TooManyLiveKeys):
        rotate_partner_key(conn, partner, actor="alice", grace=timedelta(days=1))
    # staff keys are not partner-limited
    staff = [create_staff_key(conn, owner="Alice Staff", actor="alice") for _ in range(3)]
    assert len(set(staff)) == 3


def test_the_cli_lists_keys_with_their_lifecycle(conn, partner):
    make_partner(conn, 4, "Koperasi Modal Rakyat")
    conn.commit()
    live = create_partner_key(conn, partner, actor="alice")
    gone = create_partner_key(conn, 4, actor="carol")
    revoke_key(conn, gone[:11], actor="dave")
    with api_client() as client:
        get(client, "/v1/partner/summary", live)
    listing = _cli("list-keys")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["key", "scope", "partner", "state", "created", "created_by", "expires", "last_used",
                                "revoked", "revoked_by", "owner"]
    [row] = [line for line in lines if line.startswith(live[:11])]
    # key, scope, partner, state, created (date time), created_by, expires (date time), last used (date time),
    # revoked, revoked_by, owner (staff keys only)
    cells = row.split()
    assert cells[1:4] == ["partner", str(partner), "live"] and cells[6] == "alice" and cells[11:] == ["-", "-", "-"]
    stamps = [datetime.strptime(f"{cells[i]} {cells[i + 1]}", "%Y-%m-%d %H:%MZ") for i in (4, 7, 9)]
    assert stamps[1] - stamps[0] == timedelta(days=365) and stamps[0] <= stamps[2] < stamps[1]
    assert gone[:11] not in listing.stdout  # ended keys only with --all
    everything = _cli("list-keys", "--all", "--partner", "4").stdout
    [row] = [line for line in everything.splitlines() if line.startswith(gone[:11])]
    assert " revoked " in row and row.split()[-2:] == ["dave", "-"] and " carol " in row
    assert live not in listing.stdout + everything  # never the key itself


def _fresh_database(base_url: str, name: str) -> str:
    admin = psycopg2.connect(urlunparse(urlparse(base_url)._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return urlunparse(urlparse(base_url)._replace(path=f"/{name}"))


def test_the_migration_keeps_keys_issued_before_it_valid(pg_url, monkeypatch):
    url = _fresh_database(pg_url, urlparse(pg_url).path.lstrip("/") + "_keys_before")
    conn = psycopg2.connect(url)
    try:
        everything = db.load_migrations()
        monkeypatch.setattr(db, "load_migrations", lambda directory=None: [m for m in everything if m.name < "0211"])
        db.migrate(conn)
        old_key = "jk_" + "A" * 43
        with conn.cursor() as cur:  # a key as the code before 0211 issued it, and a revoked one
            cur.execute("INSERT INTO partner (partner_id, name) VALUES (3, 'Mitra Dana Sejahtera')")
            cur.execute("INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash, cdate) "
                        "VALUES (3, 'partner', %s, %s, now() - interval '400 days')", (old_key[:11], hash_key(old_key)))
            cur.execute("INSERT INTO partner_api_key (partner_id, scope, key_prefix, key_hash, revoked_at) "
                        "VALUES (3, 'partner', 'jk_BBBBBBBB', 'x', now())")
        conn.commit()
        monkeypatch.setattr(db, "load_migrations", lambda directory=None: everything)
        assert "0211_partner_key_lifecycle.sql" in db.migrate(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT expires_at - now() FROM partner_api_key WHERE key_hash = %s", (hash_key(old_key),))
            (left,) = cur.fetchone()
        conn.commit()
        assert timedelta(days=364) < left <= timedelta(days=365)
        infos = {k.key_prefix: k for k in list_keys(conn, include_ended=True)}
        assert infos[old_key[:11]].state == "live" and infos["jk_BBBBBBBB"].state == "revoked"
        assert infos[old_key[:11]].created_by.startswith("unknown")
        monkeypatch.setenv("DATABASE_URL", url)
        with api_client() as client:
            status, body, _ = get(client, "/v1/partner/summary", old_key)
        assert (status, body["partner_id"]) == (200, 3)
    finally:
        conn.close()
        from chalicelib.http.db_conn import close_all
        close_all()
        admin = psycopg2.connect(urlunparse(urlparse(pg_url)._replace(path="/postgres")))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}" WITH (FORCE)')
        admin.close()


def test_an_unnamed_actor_is_refused(conn, partner):
    with pytest.raises(ValueError, match="named"):
        create_partner_key(conn, partner, actor=" ")
    assert list_keys(conn, partner_id=partner) == []
