"""AWS calls per payment of the demo's T-3 reminder day, per function and operation; old and new in one run.

    .venv/bin/python -m localdev.services --moto -- .venv/bin/python bench/aws_calls.py [--old REV]

Loads the demo's book (``--loans``, default 20,000, ``--seed`` 7; the demo's business date unless
``--date``), then runs the T-3 day as ``make demo`` does (``localdev.reminder_day``: the packaged
template, every function and the API in their own containers with IAM enforced, the fake providers
strict at 400 calls/s, capacity planned at 0.1 calls/s) and counts every AWS call:

- the functions' and the API's, as their containers record them (``localdev/lambda_container.py``
  checks each against the role; action and resource), per function, operation and table;
- the local Lambda runtime's own (SQS polling and deletes, queue depths: what Lambda's pollers would
  do in AWS), from a botocore hook in this process.

``--old REV`` first runs git revision REV's code (``git archive``; this script is copied into its tree
and run there, against database ``<db>_old`` and a reset moto) on the same book, then this checkout's;
it prints both and the ratio. Calls per payment: divided by the T-3 payments selected (all zones).
The day's wall time is printed too (one run each: quote medians over several runs, with ``uptime``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _table(resources: list[str] | None) -> str:
    """The short name of what a call acts on: table (and index), queue, state machine."""
    if not resources:
        return "*"
    arn = resources[0]
    if ":dynamodb:" in arn:
        return arn.split(":table/", 1)[-1]
    if ":sqs:" in arn:
        return arn.rsplit(":", 1)[-1]
    if ":states:" in arn:
        return "sfn"
    if ":secretsmanager:" in arn:
        return "secret"
    return arn.rsplit(":", 1)[-1][:40]


class RuntimeCalls:
    """Counts this process's own AWS calls (the local Lambda pollers), by operation."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        counter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build", counter.count)
            return client

        botocore.session.Session.create_client = create_client

    def count(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        prefix = model.service_model.endpoint_prefix
        with self._lock:
            self.counts[f"{prefix}:{model.name}"] += 1


def drive(loans: int, seed: int, day: str | None, out: Path) -> None:
    """One T-3 day in this tree (old or new): the counts as JSON in ``out``."""
    runtime_calls = RuntimeCalls()
    runtime_calls.install()  # before any client exists
    from chalicelib import db
    from chalicelib.business_date import default_demo_date, parse_date
    from chalicelib.contact_data.calendar_days import load_calendar
    from chalicelib.reminders.contact import load_policy
    from chalicelib.reminders.selection import iter_t3_payments
    from chalicelib.zones import Zone
    from localdev.datagen.lending import load
    from localdev.reminder_day import LocalReminderStack, run_day

    try:
        from localdev.aws.bootstrap import bootstrap
    except ImportError:  # a revision from before localdev's subpackages (--old)
        bootstrap = importlib.import_module("localdev.bootstrap_aws").bootstrap

    conn = db.connect()
    business_date = parse_date(day) if day else default_demo_date(calendar=load_calendar(conn, default_demo_date()))
    conn.rollback()
    plan = load_policy(conn, business_date).plan(Zone.WIB, business_date)
    load(conn, loans, seed, business_date, due_dates=plan.covers_due_dates)
    payments = 0
    for zone in Zone:
        payments += sum(1 for _ in iter_t3_payments(conn, zone, business_date, due_dates=plan.covers_due_dates))
        conn.commit()
    bootstrap()
    before = Counter(runtime_calls.counts)
    with LocalReminderStack(seed=seed, calls_per_second=400.0, strict=True, messages_per_second=400.0,
                            extra_env={"VOICE_PLANNED_CALLS_PER_SECOND": "0.1"}) as stack:
        started = time.perf_counter()
        result = run_day(business_date, stack)
        wall = time.perf_counter() - started
        containers = stack.runtime.containers
        assert containers is not None  # strict: every function and the API in containers
        containers.raise_if_denied()  # the API's last calls
        functions = {name: Counter(f"{c['action']} {_table(c['resources'])}" for c in calls)
                     for name, calls in stack.runtime.calls.items()}
        requests = len(stack.voice.records) + len(stack.whatsapp.records) + len(stack.sms.records)
    own = Counter(runtime_calls.counts)
    own.subtract(before)
    out.write_text(json.dumps({
        "business_date": business_date.isoformat(), "payments": payments, "provider_requests": requests,
        "wall_seconds": wall, "executions": {z: d["status"] for z, d in result.executions.items()},
        "functions": functions, "runtime": {k: v for k, v in own.items() if v > 0},
    }))


def _quiet_run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as fh:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")


def run_tree(tree: Path, args: argparse.Namespace, database_url: str, log: Path) -> dict[str, Any]:
    """This script's driver in ``tree`` (its own code), against ``database_url``; a clean moto first."""
    from localdev.servers import moto_server

    moto_server.reset()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1",
           "LAMBDA_LOG_FILE": str(log)}
    out = Path(tempfile.mkstemp(prefix="aws-calls-", suffix=".json")[1])
    cmd = [sys.executable, str(tree / "bench" / "aws_calls.py"), "--drive", str(out), "--loans", str(args.loans),
           "--seed", str(args.seed)] + (["--date", args.date] if args.date else [])
    _quiet_run(cmd, tree, env, log)
    data: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return data


def old_tree(rev: str, tmp: Path, database_url: str, log: Path) -> tuple[Path, str]:
    """Git revision ``rev`` in ``tmp`` (this script copied in), and its migrated database ``<db>_old``."""
    import psycopg2

    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, check=True,
                             capture_output=True).stdout
    tree = tmp / "old"
    tree.mkdir()
    (tmp / "old.tar").write_bytes(archive)
    with tarfile.open(tmp / "old.tar") as tar:
        tar.extractall(tree, filter="data")
    shutil.copy(Path(__file__), tree / "bench" / "aws_calls.py")
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/") + "_old"
    admin = psycopg2.connect(parsed._replace(path="/postgres").geturl())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = parsed._replace(path=f"/{name}").geturl()
    _quiet_run([sys.executable, "-m", "chalicelib.db", "migrate"], tree, {**os.environ, "DATABASE_URL": url}, log)
    return tree, url


def _rows(data: dict[str, Any]) -> Counter[str]:
    rows: Counter[str] = Counter()
    for name, counts in data["functions"].items():
        for op, n in counts.items():
            rows[f"{name:<28} {op}"] += n
    for op, n in data["runtime"].items():
        rows[f"{'(local Lambda runtime)':<28} {op}"] += n
    return rows


def _total(data: dict[str, Any]) -> int:
    return sum(sum(c.values()) for c in data["functions"].values())


def report(new: dict[str, Any], old: dict[str, Any] | None, rev: str | None) -> None:
    n = max(new["payments"], 1)
    print(f"T-3 day {new['business_date']}: {new['payments']:,} payments selected, "
          f"{new['provider_requests']:,} provider requests, executions {new['executions']}")
    rows_new = _rows(new)
    rows_old = _rows(old) if old else Counter()
    head = f"{'function':<28} {'operation (table/queue)':<46} {'calls':>7} {'/payment':>9}"
    if old:
        head += f" {'old':>7} {'old/pay':>8}"
    print(head)
    for key in sorted(set(rows_new) | set(rows_old), key=lambda k: (-max(rows_new[k], rows_old[k]), k)):
        name, op = key[:28], key[29:]
        line = f"{name:<28} {op:<46} {rows_new[key]:>7,} {rows_new[key] / n:>9.2f}"
        if old:
            line += f" {rows_old[key]:>7,} {rows_old[key] / max(old['payments'], 1):>8.2f}"
        print(line)
    total_new, own_new = _total(new), sum(new["runtime"].values())
    print(f"\nfunctions + API: {total_new:,} AWS calls = {total_new / n:.2f} per payment; "
          f"local runtime: {own_new:,} ({own_new / n:.2f} per payment); day wall {new['wall_seconds']:.1f} s")
    if old:
        m = max(old["payments"], 1)
        total_old, own_old = _total(old), sum(old["runtime"].values())
        print(f"old ({rev}): {total_old:,} AWS calls = {total_old / m:.2f} per payment; local runtime {own_old:,}; "
              f"day wall {old['wall_seconds']:.1f} s")
        print(f"ratio old/new: functions + API {total_old / max(total_new, 1):.2f}x, "
              f"everything {(total_old + own_old) / max(total_new + own_new, 1):.2f}x, "
              f"day wall {old['wall_seconds'] / max(new['wall_seconds'], 1e-9):.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/aws_calls.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", help="business date (default: the demo's)")
    parser.add_argument("--old", metavar="REV", help="also count git revision REV's calls in the same run")
    parser.add_argument("--drive", metavar="OUT", help=argparse.SUPPRESS)  # one day in this tree, JSON to OUT
    args = parser.parse_args(argv)
    if args.drive:
        drive(args.loans, args.seed, args.date, Path(args.drive))
        return 0
    if not os.environ.get("AWS_ENDPOINT_URL") or not os.environ.get("DATABASE_URL"):
        print("run inside localdev.services --moto (see the docstring)", file=sys.stderr)
        return 2
    log = Path(tempfile.gettempdir()) / f"aws-calls-{os.getpid()}.log"
    print(f"uptime:{subprocess.run(['uptime'], capture_output=True, text=True).stdout.rstrip()}; logs in {log}")
    with tempfile.TemporaryDirectory(prefix="aws-calls-old-") as tmp:
        old = None
        if args.old:
            tree, url = old_tree(args.old, Path(tmp), os.environ["DATABASE_URL"], log)
            old = run_tree(tree, args, url, log)
        new = run_tree(ROOT, args, os.environ["DATABASE_URL"], log)
    report(new, old, args.old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
