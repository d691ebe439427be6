"""Who may reach which API route, and how fast: route groups, the staff IP policy, throttles.

The API's routes fall into groups by path:

- ``staff``: CRM, push-notification catalogue, analytics and ``/health/deep`` (staff keys);
- ``partner``: the partner views and the portal page (partner keys);
- ``callback``: the providers' webhooks (signed by the provider);
- ``public``: ``/health`` only.

Staff routes are reachable only from ``StaffSourceCidrs`` (a template parameter: the office
and VPN egress ranges): the API's resource policy (``x-amazon-apigateway-policy``) denies
``execute-api:Invoke`` on them to any other source address, before the request reaches the
function. Each group has its own throttle (``<Group>ThrottlingRateLimit`` / ``BurstLimit``),
set per method in the stage's ``MethodSettings``; API Gateway applies a method setting to
that method alone, so each route of a group has the group's limit (the stage-wide
``ApiThrottling*`` stays the default of any other method). ``tests/functional/
test_staff_access.py`` checks that every route of the app belongs to the group of its scope.
"""

from __future__ import annotations

from typing import Any

STAFF_CIDRS_PARAMETER = "StaffSourceCidrs"

# path -> group: a prefix ending in "/" names that path and everything under it, any other one
# exactly that path
ROUTE_GROUPS: tuple[tuple[str, str], ...] = (
    ("/health/deep", "staff"),
    ("/v1/crm/", "staff"),
    ("/v1/pn/", "staff"),
    ("/v1/analytics/", "staff"),
    ("/v1/partner/", "partner"),
    ("/v1/callbacks/", "callback"),
    ("/health", "public"),
)
THROTTLED_GROUPS = ("partner", "staff", "callback")

# one IPv4 or IPv6 CIDR block (CloudFormation matches a CommaDelimitedList's pattern on each value)
CIDR_PATTERN = r"^(([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*/[0-9]{1,3})$"

ACCESS_PARAMETERS: dict[str, dict[str, Any]] = {
    STAFF_CIDRS_PARAMETER: {
        "Type": "CommaDelimitedList", "AllowedPattern": CIDR_PATTERN,
        "Description": "source address ranges (CIDR, comma-separated: the office and VPN egress) allowed to "
                       "call the staff routes (CRM, push notifications, analytics, /health/deep); any other "
                       "source gets 403 from API Gateway"},
    "PartnerThrottlingRateLimit": {"Type": "Number", "Default": 50, "MinValue": 1,
                                   "Description": "requests per second of each partner route (API Gateway)"},
    "PartnerThrottlingBurstLimit": {"Type": "Number", "Default": 100, "MinValue": 1,
                                    "Description": "burst of each partner route (requests)"},
    "StaffThrottlingRateLimit": {"Type": "Number", "Default": 20, "MinValue": 1,
                                 "Description": "requests per second of each staff route (API Gateway)"},
    "StaffThrottlingBurstLimit": {"Type": "Number", "Default": 40, "MinValue": 1,
                                  "Description": "burst of each staff route (requests)"},
    "CallbackThrottlingRateLimit": {"Type": "Number", "Default": 600, "MinValue": 1,
                                    "Description": "requests per second of each provider callback route "
                                                   "(about 4 voice events per call at CallsPerSecond)"},
    "CallbackThrottlingBurstLimit": {"Type": "Number", "Default": 1200, "MinValue": 1,
                                     "Description": "burst of each provider callback route (requests)"},
}

ACCESS_DENIED_MESSAGE = "this route is not reachable from your network"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def route_group(path: str) -> str:
    """The group of an API path (a route's template, ``/v1/crm/payments/{payment_id}/contacts``)."""
    for prefix, group in ROUTE_GROUPS:
        subtree = prefix.endswith("/") and (path.startswith(prefix) or path == prefix[:-1])
        if subtree or path == prefix:
            return group
    raise ValueError(f"{path}: in no route group of infra/api_access.py (staff, partner, callback, public)")


def _policy_resources(group: str) -> list[str]:
    """``execute-api:/<stage>/<method>/<path>`` patterns of a group (API Gateway expands the
    short form with the region, account and API id on import; ``*`` spans ``/``)."""
    out = []
    for prefix, g in ROUTE_GROUPS:
        if g == group:
            out.append("execute-api:/*/*" + prefix.rstrip("/"))
            if prefix.endswith("/"):
                out.append("execute-api:/*/*" + prefix + "*")
    return out


def resource_policy() -> dict[str, Any]:
    """The API's resource policy: anyone may invoke; staff routes only from ``StaffSourceCidrs``."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Invoke", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": ["execute-api:/*"]},
        {"Sid": "StaffRoutesFromStaffNetworks", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": _policy_resources("staff"),
         "Condition": {"NotIpAddress": {"aws:SourceIp": {"Ref": STAFF_CIDRS_PARAMETER}}}},
    ]}


def _method_path(path: str) -> str:
    """A stage MethodSetting's ResourcePath: ``/v1/crm`` -> ``/~1v1~1crm``."""
    return "/" + path.replace("~", "~0").replace("/", "~1")


def method_settings(paths: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's MethodSettings: the stage-wide default, then each throttled route's group limits."""
    settings: list[dict[str, Any]] = [{
        "ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True,
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}]
    for path, methods in sorted(paths.items()):
        group = route_group(path)
        if group not in THROTTLED_GROUPS:
            continue
        prefix = group.capitalize()
        for method in sorted(m for m in methods if m.lower() in HTTP_METHODS):
            settings.append({
                "ResourcePath": _method_path(path), "HttpMethod": method.upper(), "MetricsEnabled": True,
                "ThrottlingRateLimit": {"Ref": f"{prefix}ThrottlingRateLimit"},
                "ThrottlingBurstLimit": {"Ref": f"{prefix}ThrottlingBurstLimit"}})
    return settings
