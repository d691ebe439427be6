"""``make demo`` as a newcomer sees it: the step tables, the time per step and where the output
is, in at most 150 console lines; the handlers' JSON logs and the HTTP access lines go to
``out/demo/logs/`` instead. Runs the real demo (a small book) in a subprocess against its own
database and this test's moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from localdev import postgres

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
    logged = logs.read_text().splitlines()
    assert any(line.startswith("{") and json.loads(line).get("service") for line in logged)  # handler logs
