"""Back up and restore the project's PostgreSQL database (``make db-dump`` / ``make db-restore``).

    python -m localdev.servers.db_backup dump [--out backups]
    python -m localdev.servers.db_backup restore --file backups/julo-<UTC timestamp>.dump [--log-dir .local] [--jobs 2]
    python -m localdev.servers.db_backup status LOG

The database is ``DATABASE_URL``, or the project-local server's ``julo`` (started if needed).
``dump`` writes a pg_dump custom-format archive (``-Fc``: compressed, restorable in parallel,
table by table). ``restore`` runs ``pg_restore --no-owner --clean --if-exists -j 2 --verbose``
under ``nohup`` in the background, its output in a progress log that ends with
``db-restore: finished with exit code N``; it returns at once and says how to follow it.
Passwords in the URL are passed through ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

from localdev.servers import postgres

ROOT = Path(__file__).resolve().parents[2]
BACKUP_DIR = ROOT / "backups"
LOG_DIR = ROOT / ".local"
FINISHED = re.compile(r"^db-restore: finished with exit code (\d+)$", re.MULTILINE)
ARCHIVE_MAGIC = b"PGDMP"
# pg_restore's output, then one line the log's reader can wait for
_RESTORE_SCRIPT = '"$@"; rc=$?; echo "db-restore: finished with exit code $rc"; exit $rc'


class BackupError(RuntimeError):
    """A dump or restore that cannot run; the message says why and what to do."""


def pg_tool(name: str) -> str:
    """The newest installed ``pg_dump``/``pg_restore`` (it must not be older than the server)."""
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[-3]))
    found = versions[-1] if versions else shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or postgres.start()


def split_password(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries it (PGPASSWORD)."""
    parts = urlparse(url)
    if not parts.password:
        return url, {}
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]  # kept percent-encoded, as in the URL
    return urlunparse(parts._replace(netloc=f"{user}@{host}")), {"PGPASSWORD": unquote(parts.password)}


def _timestamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def dump(url: str, out_dir: Path = BACKUP_DIR, now: datetime | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"julo-{_timestamp(now)}.dump"
    if target.exists():
        raise BackupError(f"{target} already exists; not overwriting a backup")
    safe_url, extra_env = split_password(url)
    done = subprocess.run(
        [pg_tool("pg_dump"), "-Fc", "--dbname", safe_url, "--file", str(target)],
        env={**os.environ, **extra_env}, capture_output=True, text=True,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed ({done.returncode}): {done.stderr.strip()}")
    return target


@dataclass(frozen=True)
class RestoreJob:
    pid: int
    log: Path
    archive: Path


def check_archive(file: str | Path | None) -> Path:
    if not file:
        available = sorted(p.name for p in BACKUP_DIR.glob("julo-*.dump"))
        hint = f" (in backups/: {', '.join(available[-3:])})" if available else ""
        raise BackupError(f"no backup given: make db-restore FILE=backups/julo-<UTC timestamp>.dump{hint}")
    path = Path(file)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    with path.open("rb") as f:
        if f.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
            raise BackupError(f"{path} is not a pg_dump custom-format archive (make db-dump writes those)")
    return path


def restore(file: str | Path | None, url: str, log_dir: Path = LOG_DIR, now: datetime | None = None,
            jobs: int = 2) -> RestoreJob:
    """Start pg_restore (``jobs`` parallel workers) in the background; returns at once."""
    archive = check_archive(file).resolve()
    postgres.ensure_database_for(url)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"restore-{_timestamp(now)}.log"
    safe_url, extra_env = split_password(url)
    command = [
        "nohup", "bash", "-c", _RESTORE_SCRIPT, "db-restore",
        pg_tool("pg_restore"), "--no-owner", "--clean", "--if-exists", "-j", str(jobs), "--verbose",
        "--dbname", safe_url, str(archive),
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **extra_env}, start_new_session=True)
    log.with_suffix(".pid").write_text(f"{proc.pid}\n")
    return RestoreJob(proc.pid, log, archive)


def status(log: Path) -> int | None:
    """The restore's exit code once its log says it finished, else None (still running)."""
    match = FINISHED.search(log.read_text(errors="replace")) if log.exists() else None
    return int(match.group(1)) if match else None


def wait(log: Path, timeout: float = 300.0, poll: float = 0.2) -> int:
    """Block until the restore logged in ``log`` has finished; its exit code."""
    deadline = time.monotonic() + timeout
    while (code := status(log)) is None:
        if time.monotonic() > deadline:
            raise BackupError(f"restore still running after {timeout:.0f}s; see {log}")
        time.sleep(poll)
    return code


def _masked(url: str) -> str:
    return split_password(url)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.servers.db_backup")
    sub = parser.add_subparsers(dest="command", required=True)
    p_dump = sub.add_parser("dump")
    p_dump.add_argument("--out", type=Path, default=BACKUP_DIR)
    p_restore = sub.add_parser("restore")
    p_restore.add_argument("--file", default="")
    p_restore.add_argument("--log-dir", type=Path, default=LOG_DIR)
    p_restore.add_argument("--jobs", type=int, default=2, help="pg_restore -j (default 2)")
    p_status = sub.add_parser("status")
    p_status.add_argument("log", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "dump":
            url = database_url()
            path = dump(url, args.out)
            print(f"dumped {_masked(url)} to {path} ({path.stat().st_size:,} bytes)")
        elif args.command == "restore":
            check_archive(args.file)  # refuse a bad FILE before touching any server
            url = database_url()
            job = restore(args.file, url, args.log_dir, jobs=args.jobs)
            print(f"restoring {job.archive} into {_masked(url)} in the background (pid {job.pid})")
            print(f"follow it:   tail -f {job.log}")
            print(f"finished?    python -m localdev.servers.db_backup status {job.log}")
        else:
            code = status(args.log)
            print("running" if code is None else f"finished with exit code {code}")
            return 0 if code in (None, 0) else 1
    except BackupError as exc:
        print(f"db-backup: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
