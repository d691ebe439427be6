"""A project-local PostgreSQL server (Debian's ``postgresql`` package).

    python -m localdev.servers.postgres start | stop | status | url

Data lives under ``.local/pg`` (or, when the checkout is not reachable by the
``postgres`` user, a per-checkout folder under /var/tmp). When ``DATABASE_URL`` is
already set to a server this project did not start, nothing is started.

Why Debian's package rather than the ``pgserver`` wheel: it is the same PostgreSQL the
deployment targets (15), it is already on these machines (``apt-get install postgresql``
on a fresh one, done here automatically when running as root), and pgserver's last
release (0.1.4, 2024) bundles an older server. ``pgserver`` stays a documented
alternative for machines without root (README, "PostgreSQL").

``pg_ctl`` refuses to run as root, so as root every server command runs as ``postgres``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2
import psycopg2.errors

from localdev.servers import ports

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 15432  # below the ephemeral range (localdev/servers/ports.py)
DEFAULT_DB = "julo"


def port() -> int:
    return int(os.environ.get("LOCAL_PG_PORT", DEFAULT_PORT))


def local_url(dbname: str = DEFAULT_DB) -> str:
    return f"postgresql://postgres@127.0.0.1:{port()}/{dbname}"


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if candidates:
        return Path(candidates[-1])
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        if (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    if _is_root():
        print("postgres: installing Debian's postgresql package (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, stdout=subprocess.DEVNULL)
        return _bindir()
    raise SystemExit(
        "postgres: no PostgreSQL server binaries found. Install Debian's 'postgresql' package, "
        "or set DATABASE_URL to a server you have, or see README 'PostgreSQL' for pgserver."
    )


def _reachable_by_postgres(path: Path) -> bool:
    if not _is_root():
        return True
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True)
    return probe.returncode == 0


def base_dir() -> Path:
    local = ROOT / ".local"
    local.mkdir(exist_ok=True)
    if _reachable_by_postgres(local):
        return local / "pg"
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"julo-pg-{digest}"  # noqa: S108 - per-checkout, mode 0700


def _paths() -> tuple[Path, Path, Path]:
    base = base_dir()
    return base, base / "data", base / "server.log"


def _prepare_base(base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)


def _ready(dbname: str = "postgres") -> bool:
    try:
        psycopg2.connect(local_url(dbname), connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def start() -> str:
    base, data, log = _paths()
    if _ready():
        ensure_database(DEFAULT_DB)
        ensure_password_logins()
        return local_url()
    ports.ensure_free("postgres", port(), "LOCAL_PG_PORT")
    bindir = _bindir()
    _prepare_base(base)
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, stdout=subprocess.DEVNULL,
        )
    options = (
        f"-p {port()} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c shared_buffers=256MB -c work_mem=32MB -c maintenance_work_mem=256MB "
        "-c max_connections=200 -c max_wal_size=2GB"
    )
    subprocess.run(
        _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                         "-w", "-t", "60", "start"]),
        check=True, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not _ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"postgres: server did not accept connections; see {log}")
        time.sleep(0.2)
    ensure_database(DEFAULT_DB)
    ensure_password_logins()
    return local_url()


# Local logins are trusted, except members of this role: they must give their password, as every
# login on RDS must (tests of credential rotation log in with a real password that really changes).
PASSWORD_LOGIN_GROUP = "julo_password_login"  # noqa: S105 (a role name)
PASSWORD_RULES = (f"host all +{PASSWORD_LOGIN_GROUP} 127.0.0.1/32 scram-sha-256",
                  f"local all +{PASSWORD_LOGIN_GROUP} scram-sha-256")


def ensure_password_logins() -> None:
    """The pg_hba.conf rules of PASSWORD_LOGIN_GROUP first (a server initialised before they existed
    gets them and reloads), and the group role."""
    conn = psycopg2.connect(local_url("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW hba_file")
            (hba_file,) = cur.fetchone() or ("",)
            hba = Path(hba_file)
            text = hba.read_text()
            if not all(rule in text for rule in PASSWORD_RULES):
                hba.write_text("# julo: members of julo_password_login log in with a password\n"
                               + "\n".join(PASSWORD_RULES) + "\n" + text)
                cur.execute("SELECT pg_reload_conf()")
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_LOGIN_GROUP,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f"CREATE ROLE {PASSWORD_LOGIN_GROUP} NOLOGIN")
                except psycopg2.errors.DuplicateObject:
                    pass  # created meanwhile by another process
    finally:
        conn.close()


def ensure_database(dbname: str) -> None:
    conn = psycopg2.connect(local_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{dbname}"')
    conn.close()


def is_local(url: str) -> bool:
    """Whether ``url`` names this project's local server (127.0.0.1 or localhost on LOCAL_PG_PORT)."""
    parts = urlparse(url)
    return parts.hostname in ("127.0.0.1", "localhost") and (parts.port or 5432) == port()


def dbname_of(url: str) -> str:
    return urlparse(url).path.lstrip("/") or DEFAULT_DB


def ensure_database_for(url: str) -> None:
    """Create the database named in ``url`` when its server is up but the database is not there."""
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return
    except psycopg2.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise SystemExit(
                f"postgres: cannot connect to DATABASE_URL ({_without_password(url)}): {str(exc).strip()}. "
                f"For the project's local server unset DATABASE_URL (LOCAL_PG_DB picks the database; "
                f"LOCAL_PG_PORT={port()} the port).") from exc
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(urlunparse(parts._replace(path="/postgres")))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def _without_password(url: str) -> str:
    parts = urlparse(url)
    if parts.password is None:
        return url
    return urlunparse(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def stop() -> None:
    _base, data, _log = _paths()
    if not (data / "PG_VERSION").exists():
        return
    subprocess.run(
        _as_server_user([str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.servers.postgres")
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start())
    elif args.command == "stop":
        stop()
    elif args.command == "status":
        print("running" if _ready() else "stopped")
    else:
        print(local_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
