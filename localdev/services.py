"""Start what a command needs, run it, stop what was started.

    python -m localdev.services [--moto] -- COMMAND ...

- PostgreSQL: the project-local server (started here, stopped afterwards unless it was
  already running), database ``LOCAL_PG_DB`` (default ``julo``, created when missing). With
  ``DATABASE_URL`` set, that server instead; a URL naming the local server
  (127.0.0.1:$LOCAL_PG_PORT) starts it too, so a command copied with one still works.
- moto (``--moto``): unless ``AWS_ENDPOINT_URL`` is already set (e.g. LocalStack), a moto
  server on 127.0.0.1:$MOTO_PORT with Step Functions execution enabled.
- Migrations are applied before the command runs.
The command's exit code is returned.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from localdev.servers import moto_server, postgres

LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "ap-southeast-3",
    "AWS_REGION": "ap-southeast-3",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.services")
    parser.add_argument("--moto", action="store_true", help="also start a moto server")
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    env = dict(os.environ)
    started_pg = started_moto = False
    try:
        url = env.get("DATABASE_URL")
        if not url or postgres.is_local(url):
            was_running = postgres._ready()
            postgres.start()
            started_pg = not was_running
            name = postgres.dbname_of(url) if url else env.get("LOCAL_PG_DB") or postgres.DEFAULT_DB
            postgres.ensure_database(name)
            env["DATABASE_URL"] = url or postgres.local_url(name)
        else:
            postgres.ensure_database_for(url)
        os.environ["DATABASE_URL"] = env["DATABASE_URL"]
        moto_ready = None
        if args.moto and not env.get("AWS_ENDPOINT_URL"):
            for key, value in LOCAL_AWS_ENV.items():
                env.setdefault(key, value)
            was_running = moto_server.is_up()
            moto_ready = moto_server.start_async()  # moto starts while the migrations run
            started_moto = not was_running
        if not args.no_migrate:
            subprocess.run([sys.executable, "-m", "chalicelib.db", "migrate"], env=env, check=True)
        if moto_ready is not None:
            env["AWS_ENDPOINT_URL"] = moto_ready()
            env["MOTO_PORT"] = str(moto_server.port())
        return subprocess.run(command, env=env).returncode
    finally:
        if started_moto:
            moto_server.stop()
        if started_pg:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
