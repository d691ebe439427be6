"""Lambda containers forked from one process that has imported the libraries already.

    (used by localdev.lambda_runtime.containers.Container; never by hand)

Most of a container's cold start was importing third-party libraries (botocore, pydantic, holidays,
Powertools, the Vonage SDK: about 2 s of CPU per container, a dozen containers per local day). Here
one process per parent (the *zygote*, ``python -m localdev.lambda_runtime.warm_start``) imports them once, with an
environment that holds nothing of the parent's, and forks each container on request. The fork then
does what a fresh interpreter did: takes exactly its function's environment, its own session and log,
``sys.path`` = the checkout and the standard/site directories, and runs ``localdev.lambda_runtime.container``
(which imports the handler, project code, only now: under the function's environment, as Lambda's
init phase does, so a missing setting still fails the cold start).

Only libraries that read no environment variable when imported are preloaded (``PRELOAD``).
``LOCAL_LAMBDA_FORK=0`` starts each container as a fresh interpreter instead.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# what the handlers and the API import that costs time; none reads the environment at import
PRELOAD = (
    "boto3", "botocore.session", "botocore.client", "botocore.exceptions", "pynamodb.models",
    "pynamodb.attributes", "requests", "urllib3", "psycopg2", "psycopg2.extras", "psycopg2.pool", "pydantic",
    "holidays", "jsonschema", "jwt", "cryptography.hazmat.primitives.asymmetric.rsa", "yaml", "dateutil.parser",
    "tenacity", "icalendar", "xlsxwriter", "slack_sdk", "vonage_http_client", "vonage_voice", "vonage_sms",
    "vonage_jwt", "vonage_utils", "chalice.app", "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics", "aws_lambda_powertools.utilities.batch", "multiprocessing.connection",
)
# the services the functions' clients call: parsed once here (chalicelib.aws.parse_ahead), not in each container
PARSE_AHEAD = ("dynamodb", "sqs", "stepfunctions", "secretsmanager", "ses")
MAX_REQUEST = 1 << 20


def enabled() -> bool:
    return os.environ.get("LOCAL_LAMBDA_FORK", "1") != "0"


class ForkedProcess:
    """The part of ``subprocess.Popen`` the runtime uses, for a container the zygote forked.

    The zygote waits for its children, so a container that ended is gone (or, for a moment, a zombie)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
                if _zombie(self.pid):
                    self.returncode = -1
            except ProcessLookupError:
                self.returncode = -1
            except PermissionError:  # the pid went to someone else's process: ours ended
                self.returncode = -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"container {self.pid}", timeout or 0)
            time.sleep(0.02)
        return self.returncode or 0


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


class Zygote:
    """The parent's side: one zygote process, asked over a socket to fork a container."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": str(ROOT), "TZ": "UTC", "JULO_ZYGOTE_FD": str(child.fileno())}
        if os.environ.get("PYTHONPYCACHEPREFIX"):  # where make's processes keep bytecode (Makefile)
            env["PYTHONPYCACHEPREFIX"] = os.environ["PYTHONPYCACHEPREFIX"]
        self.proc = subprocess.Popen([sys.executable, "-m", "localdev.lambda_runtime.warm_start"], env=env, cwd=ROOT,
                                     pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        child.close()
        self.sock = parent
        self._lock = threading.Lock()

    def fork(self, env: dict[str, str], log_path: Path, fd: int) -> ForkedProcess:
        request = json.dumps({"env": env, "log": str(log_path)}).encode()
        with self._lock:
            socket.send_fds(self.sock, [request], [fd])
            reply = self.sock.recv(64)
        if not reply:
            raise OSError("the zygote ended")
        return ForkedProcess(int(reply))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()  # the zygote ends on EOF
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive:
            _zygote = Zygote()
        return _zygote


def start(env: dict[str, str], log_path: Path, fd: int) -> ForkedProcess:
    """A container process (forked from the zygote) that serves the Lambda protocol on ``fd``."""
    return zygote().fork(env, log_path, fd)


# --- the zygote ----------------------------------------------------------------------------------


def _child(request: dict[str, Any], fd: int) -> None:
    """In the fork: become a fresh container process, then serve as ``localdev.lambda_runtime.container``."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.chdir(ROOT)
    # the checkout (as ``python -m`` from it with PYTHONPATH set), then the interpreter's own directories
    sys.path[:] = [str(ROOT), *(p for p in sys.path if p.startswith((sys.prefix, sys.base_prefix)))]
    from multiprocessing.connection import Connection

    from localdev.lambda_runtime import container

    code = 1
    try:
        code = container.main(Connection(fd))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(_signum: int, _frame: Any) -> None:
    """Containers that ended: waited for here (their CPU time is counted as this process's children's)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 1)
        except OSError:
            return
        if not message:
            return
        fd = fds[0]
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(json.loads(message), fd)
        os.close(fd)
        sock.send(str(pid).encode())


def main() -> int:
    sock = socket.socket(fileno=int(os.environ.pop("JULO_ZYGOTE_FD")))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a library the checkout no longer uses: its containers import what they need
    from chalicelib import aws  # reads no environment when imported

    aws.parse_ahead(PARSE_AHEAD)
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
