"""``make demo`` as a newcomer sees it: the step tables, the time per step and where the output
is, in at most 150 console lines; the handlers' JSON logs and the HTTP access lines go to
``out/demo/logs/`` instead. And as an attacker reading logs sees it: no phone number, name or
e-mail address of the book in any log line, console line or DynamoDB item (the ledger keeps
codes and ids, issue 21). Runs the real demo (a small book) once, in a subprocess against its own
database and this test's moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2

from infra.manifest import load_manifest
from localdev.aws.template_provisioning import admin
from localdev.servers import postgres

ROOT = Path(__file__).resolve().parents[2]
MAX_CONSOLE_LINES = 150


def _own_database(url: str, name: str) -> str:
    own = urlunparse(urlparse(url)._replace(path=f"/{name}"))
    postgres.ensure_database_for(own)
    return own


def test_demo_console_is_short_and_logs_go_to_files(pg_url, aws, tmp_path):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"julo_demo_console_{worker}"
    env = {**os.environ, "DATABASE_URL": _own_database(pg_url, name), "DEMO_ALLOW_DATABASE": name,
           "DEMO_OUT": str(tmp_path / "demo"), "DEMO_LOANS": "400", "DEMO_ORDER_LINES": "2000",
           "DEMO_DATE": "2026-11-23", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "chalicelib.db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "localdev.demo"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-3000:]
    lines = console.splitlines()
    assert len(lines) <= MAX_CONSOLE_LINES, f"{len(lines)} console lines"
    assert not [line for line in lines if line.lstrip().startswith('{"level"')], "JSON logs on the console"
    assert not [line for line in lines if '" 200 ' in line or "HTTP/1.1" in line], "access lines on the console"
    logs = tmp_path / "demo" / "logs" / "demo.log"
    assert f"output in {tmp_path / 'demo'}/" in console and str(logs) in console
    assert "step" in console and "total" in console  # the time each step took
    # the poison event is dead-lettered after as many receives as its queue is deployed with
    events_queue = next(q for q in load_manifest().queues if q.name == "disbursement-events")
    assert f"dead-lettered after {events_queue.max_receive_count} receives" in console
    logged = logs.read_text().splitlines()
    assert any(line.startswith("{") and json.loads(line).get("service") for line in logged)  # handler logs

    # no PII of the book in any log line, console line or DynamoDB item
    needles = _book_pii(env["DATABASE_URL"])
    items = _dynamodb_items()
    assert len(items) > 100 and len(logged) > 100  # the demo wrote a ledger and logs: the grep sees them
    haystacks = {"log": "\n".join(logged), "console": console, "dynamodb": "\n".join(items)}
    hits = sorted((where, needle) for where, text in haystacks.items() for needle in needles if needle in text)
    assert hits == [], f"{len(hits)} PII hits, e.g. {hits[:5]}"


def _book_pii(url: str) -> set[str]:
    """Every borrower's full name and e-mail address, and each phone number (the application's and
    the agent-typed promise-to-pay ones) as written, as digits, in international form (62…) and
    without its leading 0."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT fullname, email, mobile_phone_1 FROM application")
            rows = cur.fetchall()
            cur.execute("SELECT NULL, NULL, ptp_robocall_phone_number FROM payment "
                        "WHERE ptp_robocall_phone_number IS NOT NULL")
            rows += cur.fetchall()
    finally:
        conn.close()
    needles: set[str] = set()
    for fullname, email, phone in rows:
        needles.update(v for v in (fullname, email) if v)
        if phone:
            digits = "".join(ch for ch in phone if ch.isdigit())
            needles.update({phone, digits, "62" + digits.removeprefix("0"), digits.removeprefix("0")})
    assert len(needles) > 1000
    return needles


def _dynamodb_items() -> list[str]:
    """Every item of every table, as JSON text."""
    ddb = admin("dynamodb")
    out: list[str] = []
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            out += [json.dumps(item) for item in page["Items"]]
    return out
