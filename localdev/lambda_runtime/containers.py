"""The container execution mode: each function in its own processes, as Lambda runs it.

A ``Container`` is one process (``localdev/lambda_runtime/container.py``, forked from a process that imported
the libraries once: ``localdev/lambda_runtime/warm_start.py``) with exactly its function's
template ``Environment`` (plus endpoint, region and its role's credentials), killed when an
invocation runs past ``Timeout`` or grows past ``MemorySize``. ``Containers`` keeps each
function's warm containers and runs at most its ``ReservedConcurrentExecutions`` at once (so
a provider rate divided among them holds across containers); it collects every AWS call each
container made and stops the day with ``LocalAccessDenied`` when a role did not allow one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chalicelib import settings
from localdev.aws.template_artifact import ROOT
from localdev.aws.template_resolution import LocalFunction
from localdev.lambda_runtime import warm_start

INIT_TIMEOUT = 30.0
LOG_DIR = ROOT / ".local" / "lambda-logs"


class LocalAccessDenied(RuntimeError):
    """A function or the API made an AWS call its template role does not allow."""


@dataclass
class Invocation:
    result: Any = None
    error: str | None = None
    timed_out: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    exception: Exception | None = None  # in process: the handler's own exception

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out



class Container:
    """One Lambda container (a process) of a function."""

    def __init__(self, fn: LocalFunction, env: dict[str, str], api_port: int | None = None) -> None:
        self.fn = fn
        self._io = threading.Lock()  # one exchange at a time (the API's is drained from several threads)
        parent, child = socket.socketpair()
        # the demo collects every container's log in its own log file (LAMBDA_LOG_FILE)
        self.log_path = Path(os.environ.get("LAMBDA_LOG_FILE") or LOG_DIR / f"{fn.name}.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | warm_start.ForkedProcess
        if warm_start.enabled():  # forked from a process that imported the libraries once
            self.proc = warm_start.start(env, self.log_path, child.fileno())
        else:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "localdev.lambda_runtime.container"],
                    env={**env, "JULO_CONTAINER_FD": str(child.fileno())}, pass_fds=[child.fileno()], cwd=ROOT,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send({"name": fn.name, "handler": fn.handler, "timeout": fn.timeout, "memory": fn.memory,
                        "statements": fn.statements, "settings": fn.settings, "api_port": api_port,
                        "gateway": fn.gateway})
        reply = self._recv(INIT_TIMEOUT)
        if reply is None or "init_error" in reply:
            self.kill()
            reason = reply["init_error"] if reply else f"no answer in {INIT_TIMEOUT:.0f}s"
            self.init_calls = reply.get("calls", []) if reply else []
            raise ColdStartFailed(fn.name, reason, self.init_calls)

    def _recv(self, timeout: float) -> dict[str, Any] | None:
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                return None
        return None

    def invoke(self, event: dict[str, Any]) -> Invocation:
        with self._io:
            self.conn.send({"event": event})
            reply = self._recv(float(self.fn.timeout))
        if reply is None:
            self.kill()
            return Invocation(error=f"Task timed out after {self.fn.timeout} seconds", timed_out=True)
        inv = Invocation(result=reply.get("result"), error=reply.get("error"), calls=reply.get("calls", []))
        if self._rss_mb() > self.fn.memory:
            self.kill()
            inv.error = inv.error or f"Runtime exited: memory {self._rss_mb():.0f} MB > MemorySize {self.fn.memory}"
        return inv

    def drain_calls(self) -> list[dict[str, Any]]:
        with self._io:
            self.conn.send({"drain": True})
            reply = self._recv(10.0)
        return reply.get("calls", []) if reply else []

    def _rss_mb(self) -> float:
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 1e6
        except Exception:
            return 0.0

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)
        self.conn.close()


class ColdStartFailed(RuntimeError):
    def __init__(self, function: str, reason: str, calls: list[dict[str, Any]]) -> None:
        super().__init__(f"{function}: cold start failed: {reason}")
        self.function, self.reason, self.calls = function, reason, calls



class Containers:
    """Each function's containers: started on demand, kept warm, at most its concurrency at once."""

    def __init__(self, functions: dict[str, LocalFunction], credentials: dict[str, tuple[str, str]],
                 values: dict[str, str], region: str) -> None:
        self.functions = functions
        self.credentials = credentials
        self.values = values
        self.region = region
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.denied: list[str] = []
        self.timeouts: list[str] = []
        self.cold_starts: dict[str, int] = {}
        self._idle: dict[str, list[Container]] = {}
        self._running: dict[str, int] = {}
        self._cv = threading.Condition()
        self._api: Container | None = None

    def local_overrides(self, fn: LocalFunction) -> dict[str, str]:
        """Local values of settings the function's class declares but the template leaves to their
        defaults (no parameter): test tuning such as provider timeouts. Never a template value."""
        if not fn.settings:
            return {}
        out = {}
        for _attr, spec in settings.by_name(fn.settings).specs():
            if spec.parameter or spec.secret or spec.resource or spec.env in fn.environment:
                continue
            if spec.env in self.values:
                out[spec.env] = self.values[spec.env]
        return out

    def environment(self, fn: LocalFunction) -> dict[str, str]:
        """Exactly the template Environment, plus what Lambda and the local endpoint add."""
        key, secret = self.credentials[fn.role]
        env = {**self.local_overrides(fn), **fn.environment}
        env.update({
            "AWS_ENDPOINT_URL": settings.aws_endpoint_url() or "",
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(ROOT), "TZ": "UTC",
        })
        if os.environ.get("PYTHONPYCACHEPREFIX"):  # the interpreter's bytecode folder (Makefile), as PATH
            env["PYTHONPYCACHEPREFIX"] = os.environ["PYTHONPYCACHEPREFIX"]
        if self.values.get("REQUESTS_CA_BUNDLE"):  # the fakes' TLS CA: this machine's trust store
            env["REQUESTS_CA_BUNDLE"] = self.values["REQUESTS_CA_BUNDLE"]
        return env

    def _take(self, fn: LocalFunction) -> Container:
        with self._cv:
            while self._running.get(fn.name, 0) >= fn.concurrency:
                self._cv.wait()
            self._running[fn.name] = self._running.get(fn.name, 0) + 1
            idle = self._idle.setdefault(fn.name, [])
            container = idle.pop() if idle else None
        if container is not None and container.alive:
            return container
        try:
            container = Container(fn, self.environment(fn))
        except ColdStartFailed as exc:
            self._release(fn, None)
            self._record(fn.name, exc.calls)
            raise
        self.cold_starts[fn.name] = self.cold_starts.get(fn.name, 0) + 1
        return container

    def _release(self, fn: LocalFunction, container: Container | None) -> None:
        with self._cv:
            self._running[fn.name] -= 1
            if container is not None and container.alive:
                self._idle.setdefault(fn.name, []).append(container)
            self._cv.notify_all()

    def _record(self, name: str, calls: list[dict[str, Any]]) -> None:
        with self._cv:
            self.calls.setdefault(name, []).extend(calls)
            for c in calls:
                if not c["allowed"]:
                    self.denied.append(f"{name}: AccessDenied: {c['action']} on {', '.join(c['resources'] or ['*'])}")

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        fn = self.functions[name]
        container = self._take(fn)
        try:
            inv = container.invoke(event)
        finally:
            self._release(fn, container)
        self._record(name, inv.calls)
        if inv.timed_out:
            self.timeouts.append(name)
        self.raise_if_denied()
        return inv

    def raise_if_denied(self) -> None:
        if self._api is not None and self._api.alive:
            self._record("api", self._api.drain_calls())
        if self.denied:
            raise LocalAccessDenied("calls the template does not allow:\n  " + "\n  ".join(dict.fromkeys(self.denied)))

    def start_api(self, port: int) -> None:
        api = next(f for f in self.functions.values() if f.api)
        self._api = Container(api, self.environment(api), api_port=port)
        self.cold_starts["api"] = 1

    def close(self) -> None:
        with self._cv:
            containers = [c for cs in self._idle.values() for c in cs]
            self._idle.clear()
        if self._api is not None:
            containers.append(self._api)
        for c in containers:
            if c.alive:
                c.kill()

    def summary(self) -> str:
        calls = sum(len(v) for v in self.calls.values())
        distinct = len({(c["action"], tuple(c["resources"] or ())) for v in self.calls.values() for c in v})
        return (f"IAM: {calls:,} AWS calls by {len(self.calls)} functions ({distinct} distinct action/resource "
                f"pairs) checked against their template roles, {len(self.denied)} denied; "
                f"cold starts {sum(self.cold_starts.values())}, timeouts {len(self.timeouts)}")
