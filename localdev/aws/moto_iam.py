"""moto's server with IAM enforced, as AWS would: ``python -m localdev.aws.moto_iam -H HOST -p PORT``.

moto checks every request against the caller's IAM policies when
``INITIAL_NO_AUTH_ACTION_COUNT`` is 0 (set here). Two principals are added, because moto has
no account root and its Step Functions interpreter signs with fixed credentials:

- ``LOCAL_ADMIN_KEY`` (the access key the tests, the demo harness and ``make`` targets use):
  the account's administrator, allowed everything (creating resources, resetting, seeding).
- moto's Step Functions interpreter (access key ``ak``): the union of the policies of the
  IAM roles whose trust policy names ``states.amazonaws.com`` -- the state machine role of
  the template. A state the role does not allow fails, as in AWS.

Each Lambda function and the API run with the access key of their own IAM user, whose
inline policy is their template role's (``localdev/aws/template_provisioning.py``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

LOCAL_ADMIN_KEY = "testing"
LOCAL_ADMIN_SECRET = "testing"  # noqa: S105 (the local emulator's admin key, not a secret)
STATES_KEY, STATES_SECRET = "ak", "sk"  # what moto's Step Functions interpreter signs with
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


class _LocalPrincipal:
    """Stands in for moto's IAMUserAccessKey: fixed credentials, policies computed per request."""

    def __init__(self, account_id: str, partition: str, key: str, secret: str, name: str,
                 policies: list[str]) -> None:
        self._key, self._secret, self._policies = key, secret, policies
        self.arn = f"arn:{partition}:iam::{account_id}:user/{name}"

    def create_credentials(self) -> Any:
        from botocore.credentials import Credentials

        return Credentials(self._key, self._secret)

    def collect_policies(self) -> list[str]:
        return self._policies


def _states_policies(account_id: str, partition: str) -> list[str]:
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id][partition]
    out: list[str] = []
    for role in backend.roles.values():
        trust = json.loads(role.assume_role_policy_document) if isinstance(
            role.assume_role_policy_document, str) else role.assume_role_policy_document
        services = [s.get("Principal", {}).get("Service") for s in trust.get("Statement", [])]
        if "states.amazonaws.com" in services:
            out.extend(json.dumps(p) if not isinstance(p, str) else p for p in role.policies.values())
    return out


def install() -> None:
    from moto.iam import access_control

    original = access_control.create_access_key

    def create_access_key(account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> Any:
        if access_key_id == LOCAL_ADMIN_KEY:
            return _LocalPrincipal(account_id, partition, LOCAL_ADMIN_KEY, LOCAL_ADMIN_SECRET, "local-admin",
                                   [ALLOW_ALL])
        if access_key_id == STATES_KEY:
            return _LocalPrincipal(account_id, partition, STATES_KEY, STATES_SECRET, "local-states",
                                   _states_policies(account_id, partition))
        return original(account_id, partition, access_key_id, headers)

    access_control.create_access_key = create_access_key


def _cache_backend_lookup() -> None:
    """moto finds the backend of each request by listing its modules on disk and matching URL
    patterns (a sixth of its CPU in the reminder day); the answer for a host never changes."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host is None:
            return None
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _cache_condition_lexing() -> None:
    """moto lexes a condition expression again for every request; the tokens depend on its text
    only (the reminder ledger sends a handful of expressions, thousands of times)."""
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser._lex_condition_expression
    lexed: dict[str, tuple[Any, ...]] = {}

    def lex(self: ConditionExpressionParser) -> deque[Any]:
        text = self.condition_expression or ""
        if text not in lexed:
            lexed[text] = tuple(original(self))
        return deque(lexed[text])

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def _cache_action_names() -> None:
    """moto lists a response class's methods (``inspect.getmembers``) for every request to find the action's
    handler (2-3% of its CPU in the reminder day); a class's methods never change."""
    from functools import lru_cache

    from moto.core import responses, utils

    names = lru_cache(maxsize=None)(lambda clazz: frozenset(utils.method_names_from_class(clazz)))
    responses.method_names_from_class = names  # type: ignore[assignment]


def main() -> None:
    # one access-log line per request is CPU nobody reads (MOTO_ACCESS_LOG=1 keeps them, in
    # .local/moto-<port>.log)
    if os.environ.get("MOTO_ACCESS_LOG") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from localdev.aws import moto_account, moto_fixes, moto_state

    moto_fixes.assert_moto_version()  # every patch below was written for one moto version
    _cache_backend_lookup()
    _cache_condition_lexing()
    _cache_action_names()
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    install()
    moto_account.install()  # the account reads moto lacks (python -m infra.preflight)
    moto_fixes.install()  # where moto answers differently from AWS
    moto_state.install()  # a bootstrapped account handed back after a reset (localdev/aws/moto_state.py)
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
