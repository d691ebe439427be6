"""Shared fixtures: a real PostgreSQL database and a real moto server per test worker.

- ``pg_url`` (session): a fresh, migrated database ``<name>_test_<run>_<worker>`` on the server
  in ``DATABASE_URL`` (``make test`` starts the project-local one). Exported as
  ``DATABASE_URL`` so code under test reads it exactly as in production.
- ``conn`` (function): a connection to it, with every lending table emptied first.
- ``aws_endpoint`` (session): a moto server on a free 127.0.0.1 port (Step Functions
  execution on), exported as ``AWS_ENDPOINT_URL``; or the endpoint already in
  ``AWS_ENDPOINT_URL`` (e.g. LocalStack), which is then used as it is.
- ``aws`` (function): ``aws_endpoint`` with moto's state reset before the test (only for
  a moto server started here; against LocalStack tests must use unique resource names).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
from hypothesis import settings as hypothesis_settings

from chalicelib import db, settings
from localdev.aws import client_hooks
from localdev.fakes.slack import FakeSlack
from localdev.servers import moto_server, ports

# Before any AWS client exists: the chaos harness's AWS faults answer in every client's events
# (localdev/aws/client_hooks.py); with no handler registered, every call is sent as usual.
client_hooks.install()

# The suite sends a partner's requests in bursts no funder's script would (hypothesis, schemathesis,
# paging loops); the per-partner rate limit's own tests (test_partner_rate_limit.py) put the
# defaults back. A value already in the environment wins.
os.environ.setdefault("PARTNER_RATE_LIMIT_PER_SECOND", "1000")
os.environ.setdefault("PARTNER_RATE_LIMIT_BURST", "1000")

# No per-example deadline in hypothesis tests (a timing in a test): on a loaded 2-core machine the first example
# of a pure function took 521 ms and failed the 200 ms default (FlakyFailure), the next ones 4 ms.
hypothesis_settings.register_profile("julo", deadline=None)
hypothesis_settings.load_profile("julo")

# Tables whose rows come from migrations or the reference-data sync; never truncated.
REFERENCE_TABLES = {"schema_migrations", "postcode_zone", "product_line", "pn_blast_title", "pn_redirect_page"}
# Migrations whose seed rows staff may change (the contact calendar's decreed days), and the table they seed:
# when a test changed its rows, it is emptied with the rest and the migration re-applied (it is idempotent),
# so every test starts from the seeded rows.
RESEEDED = {"0500_contact_calendar.sql": "contact_calendar_day"}
# A table a test touched: it holds rows, or its identity sequence moved on (rows inserted, then deleted).
TOUCHED_BY_SEQUENCE = """
SELECT DISTINCT t.relname FROM pg_sequences ps
JOIN pg_class s ON s.relname = ps.sequencename AND s.relkind = 'S'
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
WHERE ps.schemaname = 'public' AND ps.last_value IS NOT NULL
"""
# The seeded rows as the migration leaves them (changed_at aside: the clock's), per database.
_SEEDED: dict[tuple[str, str], str] = {}


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _with_db(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    base = os.environ.get("DATABASE_URL")
    if not base:
        pytest.fail("DATABASE_URL is not set: run the tests with `make test`")
    # unique per test run, so two runs against one server never touch each other's data
    run = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid()))[:8]
    name = f"{urlparse(base).path.lstrip('/') or 'julo'}_test_{run}_{_worker()}"
    admin = psycopg2.connect(_with_db(base, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(base, name)
    conn = psycopg2.connect(url)
    db.migrate(conn)
    conn.close()
    os.environ["DATABASE_URL"] = url
    yield url
    os.environ["DATABASE_URL"] = base
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _seed_print(cur: psycopg2.extensions.cursor, table: str) -> str:
    cur.execute(f"SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) FROM "
                f"(SELECT (to_jsonb(t) - 'changed_at')::text AS r FROM {table} t) rows")
    return str(cur.fetchone()[0])


def truncate_all(conn: psycopg2.extensions.connection) -> None:
    """Every table back to what the migrations leave. Only the tables a test touched are truncated (a TRUNCATE of
    all 40 took 0.1-0.4 s per test, most of a short test's time)."""
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [t for (t,) in cur.fetchall() if t not in REFERENCE_TABLES]
        if not tables:
            conn.commit()
            return
        cur.execute(" UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables))
        touched = {t for (t,) in cur.fetchall()}
        cur.execute(TOUCHED_BY_SEQUENCE)
        touched |= {t for (t,) in cur.fetchall() if t in tables}
        reseed = []
        for migration, table in RESEEDED.items():
            seeded = _SEEDED.get((conn.info.dbname, table))
            if table in touched and seeded is not None and _seed_print(cur, table) == seeded:
                touched.discard(table)  # its seeded rows, untouched
            elif table in tables:
                touched.add(table)
                reseed.append((migration, table))
        if touched:
            cur.execute(f"TRUNCATE {', '.join(sorted(touched))} RESTART IDENTITY CASCADE")
        for migration, table in reseed:
            cur.execute((db.MIGRATIONS_DIR / migration).read_text())
            _SEEDED[(conn.info.dbname, table)] = _seed_print(cur, table)
    conn.commit()


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg2.extensions.connection]:
    connection = psycopg2.connect(pg_url)
    truncate_all(connection)
    yield connection
    connection.rollback()
    connection.close()


_started_moto_port: list[int] = []


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-southeast-3")
    os.environ.setdefault("AWS_REGION", "ap-southeast-3")
    existing = os.environ.get("AWS_ENDPOINT_URL")
    if existing:  # LocalStack or a moto server someone else runs: use it as it is
        _started_moto_port.clear()
        yield existing
        return
    port = ports.free_port()
    _started_moto_port[:] = [port]
    proc: subprocess.Popen = moto_server.start_process(port)
    previous = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "MOTO_PORT")}
    os.environ["AWS_ENDPOINT_URL"] = moto_server.endpoint(port)
    os.environ["MOTO_PORT"] = str(port)
    settings.forget_aws_clients()
    yield moto_server.endpoint(port)
    proc.kill()  # its state is thrown away: SIGTERM made it wind down for ~4 s at each worker's end
    proc.wait(timeout=10)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    settings.forget_aws_clients()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A strict fake Slack Web API on a free port; SLACK_API_URL and SLACK_BOT_TOKEN point at it."""
    with FakeSlack(token="xoxb-test") as fake:
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        yield fake


@pytest.fixture
def aws(aws_endpoint: str) -> str:
    """A clean emulated AWS account for this test."""
    if _started_moto_port:
        moto_server.reset(_started_moto_port[0])
    settings.forget_aws_clients()
    return aws_endpoint


# what a test module calls when it needs the packaged artifact (dist/, localdev/aws/template_artifact.py)
NEEDS_ARTIFACT = {"load_template", "packaged_template", "bootstrap", "from_template", "LambdaRuntime"}


def _needs_artifact(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool({"aws", "aws_endpoint"} & set(getattr(item, "fixturenames", ()))
                or (module is not None and NEEDS_ARTIFACT & vars(module).keys()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need neither an emulated AWS account nor the packaged artifact first, in their collected order,
    then the others. Those bootstrap from (or read) dist/, which ``make test`` builds beside pytest
    (localdev/check.py): on a fresh clone the first tests (tests/chaos) waited ~40 s for it with both workers
    idle. Every worker sorts the same collection the same way (xdist checks)."""
    items.sort(key=_needs_artifact)


# --- the chaos table (tests/chaos): collected on the controller, so it works under xdist ---
_CHAOS: dict[str, list[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "chaos" not in props:
        return
    scenario, invariant = props["chaos"]
    row = _CHAOS.setdefault(report.nodeid, [scenario, invariant, "held"])
    if report.failed:
        row[2] = "BROKEN"
    elif report.skipped and row[2] != "BROKEN":
        row[2] = "skipped"


def _browser_notice(terminalreporter: pytest.TerminalReporter) -> None:
    """One line when the browser tests were skipped for want of a browser (their module says why)."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "browser tests skipped" in reason:
            terminalreporter.write_line(reason[reason.index("browser tests skipped"):])
            return


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _browser_notice(terminalreporter)
    if not _CHAOS:
        return
    rows = sorted(_CHAOS.values())
    widths = [max(len(r[i]) for r in [["scenario", "invariant", "result"], *rows]) for i in range(3)]
    terminalreporter.section("chaos: scenario / invariant / result")
    for r in [["scenario", "invariant", "result"], *rows]:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    broken = sum(r[2] == "BROKEN" for r in rows)
    terminalreporter.write_line(f"{len(rows)} scenarios, {len(rows) - broken} held, {broken} broken")
