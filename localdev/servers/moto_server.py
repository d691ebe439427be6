"""moto's server on 127.0.0.1, with Step Functions execution enabled and IAM enforced.

    python -m localdev.servers.moto_server start | stop | status

moto's Step Functions interpreter calls other services (SQS for the callback stages) at
``localhost:$MOTO_PORT``, so the server runs with that variable set to its own port.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from localdev.servers import ports

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 15055  # below the ephemeral range (localdev/servers/ports.py)


def port() -> int:
    return int(os.environ.get("MOTO_PORT", DEFAULT_PORT))


def endpoint(p: int | None = None) -> str:
    return f"http://127.0.0.1:{p or port()}"


def _pidfile(p: int) -> Path:
    d = ROOT / ".local"
    d.mkdir(exist_ok=True)
    return d / f"moto-{p}.pid"


def is_up(p: int | None = None) -> bool:
    try:
        return requests.get(f"{endpoint(p)}/moto-api/data.json", timeout=1).ok
    except requests.RequestException:
        return False


def configure(p: int | None = None) -> None:
    """Enable real execution of state machine definitions (off by default in moto)."""
    resp = requests.post(
        f"{endpoint(p)}/moto-api/config",
        json={"stepfunctions": {"execute_state_machine": True}},
        timeout=5,
    )
    resp.raise_for_status()


def reset(p: int | None = None) -> None:
    """Drop every emulated resource (queues, tables, state machines) and re-apply config."""
    requests.post(f"{endpoint(p)}/moto-api/reset", timeout=10).raise_for_status()
    configure(p)


def start_process(p: int, log_path: Path | None = None) -> subprocess.Popen:
    """Start a moto server on port ``p`` and wait until it answers; caller owns the process."""
    return wait_up(launch(p, log_path), p)


def launch(p: int, log_path: Path | None = None) -> subprocess.Popen:
    """Start a moto server on port ``p`` without waiting (``wait_up`` waits)."""
    env = {**os.environ, "MOTO_PORT": str(p)}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(
        # moto with IAM enforced (localdev/aws/moto_iam.py): the local admin key may do anything,
        # each function only what its template role allows
        [sys.executable, "-m", "localdev.aws.moto_iam", "-H", "127.0.0.1", "-p", str(p)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
    )


def wait_up(proc: subprocess.Popen, p: int) -> subprocess.Popen:
    deadline = time.monotonic() + 30
    while not is_up(p):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"moto server on port {p} did not start")
        time.sleep(0.1)
    configure(p)
    return proc


def start() -> str:
    return start_async()()


def start_async() -> Callable[[], str]:
    """Start the server (or find it running) and return a function that waits until it answers:
    the caller does other work (migrations) while moto imports itself."""
    p = port()
    if is_up(p):
        configure(p)
        return lambda: endpoint(p)
    ports.ensure_free("moto", p, "MOTO_PORT")
    log_path = ROOT / ".local" / f"moto-{p}.log"
    _pidfile(p)  # creates .local
    proc = launch(p, log_path)
    _pidfile(p).write_text(str(proc.pid))

    def ready() -> str:
        wait_up(proc, p)
        return endpoint(p)

    return ready


def stop() -> None:
    pf = _pidfile(port())
    if not pf.exists():
        return
    try:
        os.killpg(int(pf.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError, PermissionError):
        pass
    pf.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.servers.moto_server")
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start())
    elif args.command == "stop":
        stop()
    else:
        print("running" if is_up() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
