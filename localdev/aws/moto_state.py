"""The template's resources made once per moto server and handed back after each reset, instead of made again.

A test starts from an empty account (``moto_server.reset``) and bootstraps the template: about 150
requests, 2 s of CPU between the test and moto, for a state that is the same every time. The moto
server started here (``localdev.aws.moto_iam``) therefore keeps, per bootstrap key (the template, the
values it was resolved with, the region), a copy of every backend as the bootstrap left it; the next
bootstrap with that key on a server that has answered no AWS request since its last reset gets a
fresh copy of it (``copy.deepcopy``, milliseconds) instead of the requests.

- Server side (``install``, in the moto process): ``/moto-api/julo-state/...`` routes and a count of
  the AWS requests since the last reset or restore.
- Client side (``begin``, ``save``, ``restore``, used by ``localdev.aws.bootstrap``): any server
  without the routes (LocalStack, another moto) answers 404 and the bootstrap makes the resources.

A state is saved only when its bootstrap started on an empty account and no reset came in between,
and handed back only where the account is empty or holds that same state untouched, so a restored
account is what the bootstrap would have made there (generated secrets and key ids aside: those
are the saved ones).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import requests

PREFIX = "/moto-api/julo-state"
KEEP = 16  # saved states per server (a state is a few MB)


# --- client side -----------------------------------------------------------------------------------

def key(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def _post(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    from chalicelib import settings  # (not in the moto process)

    endpoint = settings.aws_endpoint_url()
    if not endpoint:
        return None
    try:
        answer = requests.post(f"{endpoint}{PREFIX}/{path}", json=body, timeout=30)
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def restore(state_key: str) -> dict[str, Any] | None:
    """The saved bootstrap's result, its state now moto's; None when there is none or the account is in use."""
    answer = _post("restore", {"key": state_key})
    return answer.get("result") if answer and answer.get("restored") else None


def status() -> dict[str, Any] | None:
    """The server's generation, the AWS requests it answered in it, whether its account is empty."""
    return _post("begin", {})


def begin() -> int | None:
    """The server's generation when its account is empty (a bootstrap starting now may be saved), else None."""
    answer = status()
    return answer.get("generation") if answer and answer.get("empty") else None


def save(state_key: str, generation: int, result: dict[str, Any]) -> bool:
    answer = _post("save", {"key": state_key, "generation": generation, "result": result})
    return bool(answer and answer.get("saved"))


# --- server side (the moto process) ----------------------------------------------------------------

class _Server:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.generation = 0  # a reset or a restore starts a new one
        self.requests = 0  # AWS requests in this generation
        self.base: str | None = None  # the state restored in this generation (None: an empty account)
        self.saved: OrderedDict[str, tuple[list[tuple[Any, str, str]], list[Any], Any]] = OrderedDict()

    def new_generation(self, base: str | None) -> None:
        with self.lock:
            self.generation += 1
            self.requests = 0
            self.base = base

    def begin(self, _body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return {"generation": self.generation, "requests": self.requests, "restored": self.base is not None,
                    "empty": self.base is None and self.requests == 0}

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        from moto.core.base_backend import BackendDict

        with self.lock:
            if body["generation"] != self.generation or self.base is not None:
                return {"saved": False}
            where = [(bd, account, region) for bd in list(BackendDict._instances)  # type: ignore[misc]
                     for account, per_region in bd.items() for region in per_region]
            backends = [bd[account][region] for bd, account, region in where]
            try:
                copied = copy.deepcopy(backends, _fresh_locks(backends))
            except (TypeError, copy.Error):  # something moto holds cannot be copied: no saving
                return {"saved": False}
            self.saved[body["key"]] = (where, copied, body["result"])
            self.saved.move_to_end(body["key"])
            while len(self.saved) > KEEP:
                self.saved.popitem(last=False)
            return {"saved": True}

    def restore(self, body: dict[str, Any]) -> dict[str, Any]:
        from moto.moto_api._internal.models import moto_api_backend

        with self.lock:
            found = self.saved.get(body["key"])
            if found is None or self.requests or self.base not in (None, body["key"]):
                return {"restored": False}
            where, saved, result = found
            if self.base == body["key"]:  # that state, untouched: nothing to do
                return {"restored": True, "result": result}
            backends = copy.deepcopy(saved, _fresh_locks(saved))
            moto_api_backend.reset()
            for (bd, account, region), backend in zip(where, backends, strict=True):
                dict.__setitem__(bd[account], region, backend)
            self.new_generation(body["key"])
            return {"restored": True, "result": result}


def _fresh_locks(backends: list[Any]) -> dict[int, Any]:
    """deepcopy's memo: a new lock for each SQS queue's (a lock cannot be copied)."""
    memo: dict[int, Any] = {}
    for backend in backends:
        for queue in getattr(backend, "queues", {}).values():
            lock = getattr(queue, "_messages_lock", None)
            if isinstance(lock, threading.Condition):
                memo[id(lock)] = threading.Condition()
    return memo


def install() -> None:
    """In the moto server process: the routes, and the count of AWS requests per generation."""
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    server = _Server()
    routes = {"begin": server.begin, "save": server.save, "restore": server.restore}
    original_reset = MotoAPIBackend.reset
    original_call = DomainDispatcherApplication.__call__

    def reset(self: MotoAPIBackend) -> None:
        with server.lock:
            original_reset(self)
            server.new_generation(None)

    def call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX + "/") and path[len(PREFIX) + 1:] in routes:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            answer = json.dumps(routes[path[len(PREFIX) + 1:]](body)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
            return [answer]
        if not path.startswith("/moto-api"):
            with server.lock:
                server.requests += 1
        return original_call(self, environ, start_response)

    MotoAPIBackend.reset = reset  # type: ignore[method-assign]
    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]
