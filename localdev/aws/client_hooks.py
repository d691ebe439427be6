"""Handlers on every botocore client this process makes, through botocore's own event system.

Whoever makes the client (boto3 in ``chalicelib.aws``, pynamodb with its own botocore session per
thread), every AWS call of the process passes the client's events, so local tooling hooks there:

- the local Lambda runtime's IAM guard (``lambda_runtime/container.py``): ``before-parameter-build``,
  refusing what the function's template role does not allow, as IAM would;
- the chaos harness's AWS faults (``tests/chaos/aws_faults.py``): ``before-call``, answering an
  operation with an error instead of sending it (what reaches the code after the SDK's own retries).

``install()`` registers one dispatcher per event on each client made afterwards (call it before the
first client: clients that already exist are not reached). Handlers are then added and removed in
``HANDLERS`` at any time (a test adds its own with ``monkeypatch.setitem`` and gets it removed after
the test); each client calls whatever is registered when the call is made. Nothing in chalicelib
knows about it: the code under test makes and uses its clients as in the cloud.

``before-call`` handlers return ``None`` (send the request) or ``(http_response, parsed)``, botocore's
short-circuit: the first answer wins and botocore raises it as the service's error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

EVENTS = ("before-parameter-build", "before-call")
# (event, name) -> handler(**botocore event kwargs)
HANDLERS: dict[tuple[str, str], Callable[..., Any]] = {}
_installed = False
_install_lock = threading.Lock()


def _dispatcher(event: str) -> Callable[..., Any]:
    def dispatch(**kwargs: Any) -> Any:
        for (each, _name), handler in list(HANDLERS.items()):
            if each == event:
                answer = handler(**kwargs)
                if answer is not None:
                    return answer
        return None

    return dispatch


def install() -> None:
    """Hook every botocore client made from now on in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        import botocore.session

        original = botocore.session.Session.create_client
        dispatchers = {event: _dispatcher(event) for event in EVENTS}

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            for event, dispatch in dispatchers.items():
                client.meta.events.register(event, dispatch, unique_id=f"localdev-{event}")
            return client

        botocore.session.Session.create_client = create_client
        _installed = True


def error_answer(code: str, message: str, status: int) -> tuple[Any, dict[str, Any]]:
    """A ``before-call`` answer: the service refused the call with ``code`` (HTTP ``status``)."""
    from botocore.awsrequest import AWSResponse

    http = AWSResponse("http://127.0.0.1/", status, {}, None)
    return http, {"Error": {"Code": code, "Message": message},
                  "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}
