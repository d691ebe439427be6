"""A throw-away PostgreSQL server a chaos scenario starts, restarts and stops itself (never the shared one)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from localdev.servers import ports


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (Debian's postgresql package)")
    return Path(found[-1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PgInstance:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="chaos-pg-", dir="/var/tmp"))
        self.data, self.log = self.base / "data", self.base / "server.log"
        self.port = ports.free_port()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_server_user([str(_bindir() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                                        "-o", f"-p {self.port} -k {self.base} -h 127.0.0.1", "-w", *args]),
                       check=True, capture_output=True)

    def start(self) -> PgInstance:
        subprocess.run(_as_server_user([str(_bindir() / "initdb"), "-D", str(self.data), "-U", "postgres",
                                        "-A", "trust", "--no-sync"]), check=True, capture_output=True)
        self._pg_ctl("start")
        return self

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
