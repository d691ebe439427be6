"""``make demo`` refuses, before connecting, any DATABASE_URL but the project's own local demo
database, unless DEMO_ALLOW_DATABASE names that database; the refusal names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from localdev.demo import guard, run

ROOT = Path(__file__).resolve().parents[2]
PORT = "16999"
LOCAL = {"LOCAL_PG_PORT": PORT}


def _env(url: str | None, **extra: str) -> dict[str, str]:
    env = {**LOCAL, **extra}
    if url is not None:
        env["DATABASE_URL"] = url
    return env


@pytest.mark.parametrize("url", [
    None,
    f"postgresql://postgres@127.0.0.1:{PORT}/julo",
    f"postgresql://postgres@localhost:{PORT}/julo",
    f"postgresql://postgres@[::1]:{PORT}/julo",
    f"host=127.0.0.1 port={PORT} dbname=julo user=postgres",
])
def test_the_local_demo_database_is_allowed(url, monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", PORT)
    assert guard.refusal(_env(url)) is None


@pytest.mark.parametrize("url", [
    "postgresql://app:s3cret@prod-db.cluster-abc.ap-southeast-3.rds.amazonaws.com:5432/julo",
    f"postgresql://postgres@10.0.0.5:{PORT}/julo",                     # another host, same port and name
    "postgresql://postgres@127.0.0.1:5432/julo",                       # another server on this machine
    f"postgresql://postgres@127.0.0.1:{PORT}/julo_staging",            # another database on ours
    f"host=127.0.0.1 hostaddr=10.0.0.5 port={PORT} dbname=julo",       # hostaddr wins over host in libpq
    f"postgresql://postgres@127.0.0.1:{PORT}/julo?service=prod",       # a pg_service.conf entry
    f"postgresql:///julo?port={PORT}",                                 # no host: PGHOST or a socket decides
])
def test_any_other_database_is_refused_naming_the_variable(url, monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", PORT)
    reason = guard.refusal(_env(url))
    assert reason is not None and "DEMO_ALLOW_DATABASE=" in reason
    assert "s3cret" not in reason and "app:" not in reason  # never the credentials


def test_demo_allow_database_must_name_that_very_database(monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", PORT)
    url = "postgresql://u:p@scratch.internal:5432/julo_scratch"
    assert "DEMO_ALLOW_DATABASE=julo_scratch" in guard.refusal(_env(url))
    assert guard.refusal(_env(url, DEMO_ALLOW_DATABASE="julo")) is not None
    assert guard.refusal(_env(url, DEMO_ALLOW_DATABASE="1")) is not None
    assert guard.refusal(_env(url, DEMO_ALLOW_DATABASE="julo_scratch")) is None


def test_local_pg_db_names_the_demo_database(monkeypatch):
    monkeypatch.setenv("LOCAL_PG_PORT", PORT)
    url = f"postgresql://postgres@127.0.0.1:{PORT}/julo_mine"
    assert guard.refusal(_env(url)) is not None
    assert guard.refusal(_env(url, LOCAL_PG_DB="julo_mine")) is None


def test_a_string_libpq_cannot_parse_is_refused():
    reason = guard.refusal(_env("postgresql://[oops"))
    assert reason is not None and "not a PostgreSQL connection string" in reason


def test_the_demo_refuses_before_connecting(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@prod-db.example.com:5432/julo")
    monkeypatch.delenv("DEMO_ALLOW_DATABASE", raising=False)

    def no_connection(*_a: object, **_k: object) -> None:
        raise AssertionError("the demo connected before the guard refused")

    monkeypatch.setattr(psycopg2, "connect", no_connection)
    assert run.main([]) == 2
    assert "DEMO_ALLOW_DATABASE=julo" in capsys.readouterr().err


def test_make_demo_runs_the_guard_before_starting_anything():
    env = {**os.environ, "DATABASE_URL": "postgresql://app:pw@prod-db.example.com:5432/julo"}
    env.pop("DEMO_ALLOW_DATABASE", None)
    done = subprocess.run([sys.executable, "-m", "localdev.demo.guard"], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "DEMO_ALLOW_DATABASE=julo" in done.stderr
    recipe = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = [line for line in recipe.splitlines() if "localdev." in line]
    assert "localdev.demo.guard" in lines[0] and "localdev.services" in lines[1], lines
