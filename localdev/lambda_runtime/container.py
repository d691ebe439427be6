"""One Lambda container: a process with exactly its function's environment.

    (started by localdev.lambda_runtime.containers; never by hand)

The parent passes a socket (``JULO_CONTAINER_FD``) and an init message: the handler (or the
API), the function's name, timeout, memory, settings class and its role's policy statements
(resolved). The init phase imports the handler and loads the settings class, as a Lambda
cold start does: a missing setting or a denied secret fails it with the message naming it.
Then each message is one invocation; the answer carries the result or the error and every
AWS call the invocation made (action and resource, from botocore's event hooks), each checked
against the statements: a call they do not allow fails with AccessDenied before it is sent.
The parent kills the process when an invocation runs past its timeout.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from fnmatch import fnmatchcase
from multiprocessing.connection import Connection
from typing import Any

from localdev.aws import client_hooks
from localdev.lambda_runtime.events import LOCAL_ACCOUNT, LambdaContext
from localdev.lambda_runtime.stdio import serialize_stdio


def _arn(service: str, region: str, rest: str) -> str:
    return f"arn:aws:{service}:{region}:{LOCAL_ACCOUNT}:{rest}"


def _sqs_resources(params: dict[str, Any], region: str) -> list[str] | None:
    if "QueueUrl" in params:
        return [_arn("sqs", region, str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])]
    if "QueueName" in params:
        return [_arn("sqs", region, str(params["QueueName"]))]
    return None


def _dynamodb_tables(params: dict[str, Any]) -> list[str]:
    names = [str(params["TableName"])] if "TableName" in params else []
    names.extend(str(n) for n in params.get("RequestItems", {}) or {})
    for item in params.get("TransactItems", []) or []:
        names.extend(str(op["TableName"]) for op in item.values() if isinstance(op, dict) and "TableName" in op)
    return names


def _dynamodb_resources(params: dict[str, Any], region: str) -> list[str] | None:
    names = _dynamodb_tables(params)
    if names and params.get("IndexName"):  # a query on an index: IAM checks the index's ARN
        return [_arn("dynamodb", region, f"table/{names[0]}/index/{params['IndexName']}")]
    return [_arn("dynamodb", region, f"table/{n}") for n in names] or None


def _states_resources(params: dict[str, Any], region: str) -> list[str] | None:
    found = [str(params[key]) for key in ("stateMachineArn", "executionArn") if key in params]
    return found[:1] or None


def _secret_resources(params: dict[str, Any], region: str) -> list[str] | None:
    if "SecretId" not in params:
        return None
    sid = str(params["SecretId"])
    return [sid if sid.startswith("arn:") else _arn("secretsmanager", region, f"secret:{sid}")]


def _ses_resources(params: dict[str, Any], region: str) -> list[str] | None:
    if not params.get("Source"):
        return None
    source = str(params["Source"]).rsplit("<", 1)[-1].rstrip(">").strip()
    return [_arn("ses", region, f"identity/{source}")]


_RESOURCES_OF: dict[str, Callable[[dict[str, Any], str], list[str] | None]] = {
    "sqs": _sqs_resources, "dynamodb": _dynamodb_resources, "states": _states_resources,
    "secretsmanager": _secret_resources, "ses": _ses_resources, "email": _ses_resources,
}


def resource_of(service: str, operation: str, params: dict[str, Any], region: str) -> list[str] | None:
    """The ARNs an API call acts on (None: the action has no resource we can tell locally)."""
    of = _RESOURCES_OF.get(service)
    return of(params, region) if of is not None else None


# API operations whose IAM action has another name
IAM_ACTION = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
              "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
TRANSACT_ACTION = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def iam_checks(prefix: str, operation: str, params: dict[str, Any],
               region: str) -> list[tuple[str, list[str] | None]]:
    """The (IAM action, resources) pairs one API call needs, as IAM evaluates them."""
    if prefix == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        out: list[tuple[str, list[str] | None]] = []
        for item in params.get("TransactItems", []) or []:
            for kind, op in item.items():
                table = op.get("TableName", "") if isinstance(op, dict) else ""
                action = f"dynamodb:{TRANSACT_ACTION.get(kind, kind)}"
                out.append((action, [_arn("dynamodb", region, f"table/{table}")]))
        return out
    action = f"{prefix}:{operation}"
    return [(IAM_ACTION.get(action, action), resource_of(prefix, operation, params, region))]


def _matches(patterns: Any, value: str) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(fnmatchcase(value.lower(), str(p).lower()) for p in items)


def allowed(statements: list[dict[str, Any]], action: str, resources: list[str] | None) -> bool:
    """IAM's rule for Allow statements: the action matches, and (if known) every resource does."""
    matching = [st for st in statements if st.get("Effect") == "Allow" and _matches(st.get("Action", []), action)]
    if not matching:
        return False
    if resources is None:
        return True
    return all(any(_resource_matches(st.get("Resource", []), r) for st in matching) for r in resources)


def _resource_matches(patterns: Any, arn: str) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    for p in items:
        p = str(p)
        # a secret's ARN ends in -XXXXXX; templates may name it with or without the suffix
        if fnmatchcase(arn, p) or (arn.startswith("arn:aws:secretsmanager:") and arn.startswith(p)):
            return True
        if p.startswith("arn:aws:secretsmanager:") and p.startswith(arn):
            return True
    return False


class CallGuard:
    """Records every AWS call (action + resource) and refuses those the statements do not allow."""

    def __init__(self, name: str, statements: list[dict[str, Any]]) -> None:
        self.name = name
        self.statements = statements
        self.calls: list[dict[str, Any]] = []
        self._decided: dict[tuple[str, tuple[str, ...] | None], bool] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        """Check every AWS call this container makes (``localdev/aws/client_hooks.py``)."""
        client_hooks.install()
        client_hooks.HANDLERS[("before-parameter-build", "iam-guard")] = self.check

    def check(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        service_model = model.service_model
        prefix = service_model.signing_name or service_model.endpoint_prefix
        region = os.environ.get("AWS_REGION", "ap-southeast-3")
        for action, resources in iam_checks(prefix, model.name, params, region):
            key = (action, tuple(resources) if resources is not None else None)
            ok = self._decided.get(key)
            if ok is None:  # the statements never change: each (action, resources) is decided once
                ok = self._decided[key] = allowed(self.statements, action, resources)
            with self._lock:
                self.calls.append({"action": action, "resources": resources, "allowed": ok})
            if not ok:
                message = (f"User: {self.name} is not authorized to perform: {action} on resource: "
                           f"{', '.join(resources or ['*'])} because no statement of its template role allows it")
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, model.name)

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self.calls = self.calls, []
        return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _serve_api(conn: Connection, port: int, gateway: dict[str, Any] | None) -> None:
    from urllib.parse import urlsplit

    from chalice.config import Config
    from chalice.local import LocalDevServer

    from localdev.aws.resource_policy import allows
    from localdev.servers.gateway_handler import GatewayLikeHandler

    class _GatewayHandler(GatewayLikeHandler):
        quiet = False

        def _generic_handle(self) -> None:
            # API Gateway's resource policy, before the function (the template's ACCESS_DENIED answer)
            if gateway and not allows(gateway["policy"], api_arn=gateway["api_arn"], stage=gateway["stage"],
                                      method=self.command, path=urlsplit(self.path).path,
                                      source_ip=self.client_address[0]):
                self._send_http_response(gateway["denied_status"], {"Content-Type": "application/json"},
                                         gateway["denied_body"])
                self.close_connection = True  # its body, if any, was not read
                return
            super()._generic_handle()

        # the base class binds its own _generic_handle to each verb
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    from app import app  # the cold start: app.py checks ApiSettings in Lambda

    server = LocalDevServer(app, Config(), "127.0.0.1", port, handler_cls=_GatewayHandler)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    conn.send({"ready": True})


def main(conn: Connection | None = None) -> int:
    """Serve one container: ``conn`` (forked by ``localdev.lambda_runtime.warm_start``) or the socket in
    JULO_CONTAINER_FD."""
    serialize_stdio()
    conn = conn or Connection(int(os.environ.pop("JULO_CONTAINER_FD")))
    init = conn.recv()
    guard = CallGuard(init["name"], init["statements"])
    guard.install()
    sys.path.insert(0, os.getcwd())
    handler: Any = None
    try:
        if init.get("settings"):
            from chalicelib.settings import by_name

            by_name(init["settings"]).load()
        if init.get("api_port"):
            _serve_api(conn, int(init["api_port"]), init.get("gateway"))
        else:
            module_name, _, attr = init["handler"].rpartition(".")
            handler = getattr(importlib.import_module(module_name), attr)
            conn.send({"ready": True})
    except BaseException as exc:  # the cold start failed: say why, as Lambda's INIT error does
        traceback.print_exc()
        conn.send({"init_error": _error(exc), "calls": guard.drain()})
        return 1
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return 0
        if msg.get("drain"):
            conn.send({"calls": guard.drain()})
            continue
        context = LambdaContext(init["name"], int(init["timeout"]), int(init["memory"]))
        try:
            result = handler(msg["event"], context)
            conn.send({"result": _jsonable(result), "calls": guard.drain()})
        except BaseException as exc:
            traceback.print_exc()
            conn.send({"error": _error(exc), "calls": guard.drain()})
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
