"""Credentials that rotate: the database secret read again after a refused login, as Secrets
Manager's rotation leaves it at each step.

Secrets Manager rotates a secret in four steps (Secrets Manager User Guide, "Rotation function
steps"): createSecret stores the new password as the ``AWSPENDING`` version, setSecret changes it
in the database, testSecret logs in with it, finishSecret moves ``AWSCURRENT`` to it (and
``AWSPREVIOUS`` to the old one). RDS rotates managed secrets every 7 days by default. PostgreSQL
keeps open sessions across a password change; only new logins use the new password.

The login here is a real password login: members of ``julo_password_login`` must give theirs to
the project's local server (``localdev/servers/postgres.py``), as every login must on RDS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql

from chalicelib import config, settings
from chalicelib.edge import connection as lifetime_module
from chalicelib.edge.connection import ConnectionLifetime, DatabaseUnavailable
from localdev.servers import postgres


@pytest.fixture
def password_login(conn, pg_url: str) -> Iterator[tuple[str, Any]]:
    """A login role that must give its password; yields (role, set_password)."""
    if not postgres.is_local(pg_url):
        pytest.skip("needs the project's local server (its password-login rule)")
    role = f"julo_rotation_{uuid.uuid4().hex[:8]}"
    conn.autocommit = True

    def set_password(password: str) -> None:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))

    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
            sql.Identifier(role), sql.Identifier(postgres.PASSWORD_LOGIN_GROUP)))
    set_password("first-password")
    try:
        yield role, set_password
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        conn.autocommit = False


def _url(pg_url: str, role: str, password: str) -> str:
    parts = urlsplit(pg_url)
    return f"postgresql://{role}:{password}@{parts.hostname}:{parts.port}{parts.path}?sslmode=disable"


@pytest.fixture
def secret(aws, pg_url, password_login, monkeypatch) -> Iterator[tuple[str, Any]]:
    role, _set = password_login
    sm = settings.aws_clients().client("secretsmanager")
    arn = sm.create_secret(Name=f"julo/db/{role}", SecretString=_url(pg_url, role, "first-password"))["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    monkeypatch.setattr(lifetime_module, "REREAD_MIN_INTERVAL_S", 0.0)
    config.forget_database_secret()
    yield arn, sm
    config.forget_database_secret()


def _whoami(lifetime: ConnectionLifetime) -> str:
    with lifetime.lease() as c, c.cursor() as cur:
        cur.execute("SELECT current_user")
        row = cur.fetchone()
        assert row is not None
        return str(row[0])


def test_password_logins_are_really_checked(pg_url, password_login):
    role, _set = password_login
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(_url(pg_url, role, "wrong"))
    psycopg2.connect(_url(pg_url, role, "first-password")).close()


def test_a_rotation_is_followed_step_by_step(pg_url, password_login, secret):
    role, set_password = password_login
    arn, sm = secret
    lifetime = ConnectionLifetime("rotation-test")
    assert _whoami(lifetime) == role
    held = lifetime.checkout(settings.database_url())  # a session open across the whole rotation
    # createSecret: the new password, pending
    pending = sm.put_secret_value(SecretId=arn, SecretString=_url(pg_url, role, "second-password"),
                                  VersionStages=["AWSPENDING"])["VersionId"]
    # setSecret: the database has it; AWSCURRENT still holds the old one
    set_password("second-password")
    lifetime.close_all()  # the next lease needs a new login
    assert _whoami(lifetime) == role  # the old login refused: current read again (unchanged), then pending
    assert lifetime.rereads == 1
    # finishSecret: AWSCURRENT moves to the new version
    current = next(v for v, stages in sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
                   if "AWSCURRENT" in stages)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending,
                                   RemoveFromVersionId=current)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending)
    lifetime.close_all()
    assert _whoami(lifetime) == role and lifetime.rereads == 2  # the cached old URL refused once more: re-read
    assert settings.database_url() == _url(pg_url, role, "second-password")
    lifetime.close_all()
    assert _whoami(lifetime) == role and lifetime.rereads == 2  # from now on, no re-read
    with held.cursor() as cur:  # PostgreSQL kept the session opened with the old password
        cur.execute("SELECT 1")
    held.close()
    lifetime.close_all()


def test_a_wrong_password_everywhere_is_unavailable_after_one_reread(pg_url, password_login, secret, monkeypatch):
    role, set_password = password_login
    lifetime = ConnectionLifetime("rotation-test")
    assert _whoami(lifetime) == role
    set_password("nobody-stored-this")  # changed by hand, the secret not updated
    lifetime.close_all()
    with pytest.raises(DatabaseUnavailable):
        _whoami(lifetime)
    assert lifetime.rereads == 1  # once, not a loop
    monkeypatch.setattr(lifetime_module, "REREAD_MIN_INTERVAL_S", 60.0)
    with pytest.raises(DatabaseUnavailable):
        _whoami(lifetime)
    assert lifetime.rereads == 1  # within the interval a refused login does not call Secrets Manager again


def test_without_a_secret_a_refused_login_is_unavailable(pg_url, password_login, monkeypatch):
    """``DATABASE_URL`` (local runs) has no secret to read again."""
    role, set_password = password_login
    monkeypatch.setenv("DATABASE_URL", _url(pg_url, role, "first-password"))
    monkeypatch.setattr(lifetime_module, "REREAD_MIN_INTERVAL_S", 0.0)
    lifetime = ConnectionLifetime("rotation-test")
    assert _whoami(lifetime) == role
    set_password("changed")
    lifetime.close_all()
    with pytest.raises(DatabaseUnavailable):
        _whoami(lifetime)
