"""API Gateway's resource-policy decision for one request, as the local API applies it.

API Gateway evaluates the REST API's resource policy (``x-amazon-apigateway-policy``) before a
request reaches the function: an explicit Deny that matches wins, else an Allow must match,
else the caller gets 403 (gateway response ``ACCESS_DENIED``). A statement matches when its
``Action`` covers ``execute-api:Invoke``, a ``Resource`` pattern matches the method's ARN
(``arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>``; the short form
``execute-api:/…`` is the same ARN with the API's own prefix; ``*`` spans ``/``, ``?`` is one
character) and every condition holds. The template's policy uses only ``IpAddress`` /
``NotIpAddress`` on ``aws:SourceIp``; any other condition is refused here rather than ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

SHORT_FORM = "execute-api:/"


class UnsupportedCondition(ValueError):
    """A condition the local API does not evaluate (it never guesses)."""


def method_arn(api_arn: str, stage: str, method: str, path: str) -> str:
    """The ARN a request to ``path`` invokes (``path`` without its query string)."""
    return f"{api_arn}/{stage}/{method.upper()}/{path.lstrip('/')}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_matches(patterns: Any, arn: str, api_arn: str) -> bool:
    for pattern in _as_list(patterns):
        pattern = str(pattern)
        if pattern.startswith(SHORT_FORM):
            pattern = api_arn + "/" + pattern[len(SHORT_FORM):]
        if pattern == "*" or fnmatchcase(arn, pattern):
            return True
    return False


def _action_matches(actions: Any) -> bool:
    return any(fnmatchcase("execute-api:invoke", str(a).lower()) for a in _as_list(actions))


def _in_ranges(source_ip: str, cidrs: Iterable[str]) -> bool:
    address = ipaddress.ip_address(source_ip)
    for cidr in cidrs:
        network = ipaddress.ip_network(str(cidr).strip(), strict=False)
        if address.version == network.version and address in network:
            return True
    return False


def _conditions_hold(conditions: dict[str, Any], source_ip: str) -> bool:
    for operator, tests in conditions.items():
        for key, values in tests.items():
            if key.lower() != "aws:sourceip" or operator not in ("IpAddress", "NotIpAddress"):
                raise UnsupportedCondition(f"{operator} on {key}: the local API evaluates only IpAddress / "
                                           "NotIpAddress on aws:SourceIp")
            inside = _in_ranges(source_ip, _as_list(values))
            if inside != (operator == "IpAddress"):
                return False
    return True


def allows(policy: dict[str, Any], *, api_arn: str, stage: str, method: str, path: str, source_ip: str) -> bool:
    """Whether the resource policy lets ``source_ip`` invoke ``method path`` (explicit Deny wins)."""
    arn = method_arn(api_arn, stage, method, path)
    allowed = False
    for statement in policy.get("Statement", []):
        if "NotResource" in statement or "NotAction" in statement or "NotPrincipal" in statement:
            raise UnsupportedCondition("NotResource / NotAction / NotPrincipal: not evaluated locally")
        if not _action_matches(statement.get("Action", [])):
            continue
        if not _resource_matches(statement.get("Resource", []), arn, api_arn):
            continue
        if not _conditions_hold(statement.get("Condition", {}), source_ip):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
