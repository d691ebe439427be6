"""Staff access (issue 21, item 8): staff routes only from the staff networks, staff keys that expire
and name their holder, and one throttle per route group.

- The API's resource policy denies every staff route to a source outside ``StaffSourceCidrs`` (a
  required template parameter), and the local API enforces the packaged template's policy on each
  request's source address, answering with the template's ACCESS_DENIED gateway response.
- A staff key names its owner (the database refuses one without), cannot change hands, lives 90 days
  by default and never more than 366; once expired, a staff route answers 401 ``key_expired`` JSON.
- The packaged template gives every partner, staff and callback method its group's throttle.
"""

from __future__ import annotations

import http.client
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg2.errors
import pytest

from app import app
from chalicelib.http.routes import ROUTE_SCOPES
from chalicelib.partners.keys import (
    create_partner_key,
    create_staff_key,
    default_staff_key_lifetime,
    hash_key,
    list_keys,
)
from chalicelib.settings import KeyAdminSettings
from infra.api_access import STAFF_CIDRS_PARAMETER, THROTTLED_GROUPS, route_group
from localdev.aws.resource_policy import UnsupportedCondition, allows
from localdev.aws.template_artifact import load_template
from localdev.lambda_runtime.runtime import LambdaRuntime
from tests.api_support import api_client, get, staff_key
from tests.factories import make_partner

API_ARN = "arn:aws:execute-api:ap-southeast-3:111122223333:a1b2c3d4e5"
OFFICE = "203.0.113.0/24"
STAFF_PATHS = ["/v1/crm/applications", "/v1/crm/payments/12/contacts", "/v1/crm/contact-calendar/2026-12-25",
               "/v1/pn/blast-titles", "/v1/analytics/segments/champions/users", "/v1/analytics/rfm", "/health/deep"]
# the API's cold start needs its callback secrets (the fakes are not running here: no callback arrives)
API_SECRETS = {"VONAGE_SIGNATURE_SECRET": "s" * 32, "WHATSAPP_APP_SECRET": "a" * 32, "WHATSAPP_VERIFY_TOKEN": "v" * 16}
OPEN_PATHS = ["/v1/partner/summary", "/v1/partner/report", "/v1/partner/portal", "/v1/callbacks/robocall",
              "/v1/callbacks/whatsapp", "/v1/callbacks/sms", "/health"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _resolved_policy(template: dict[str, Any], cidrs: list[str]) -> dict[str, Any]:
    """The API's resource policy with StaffSourceCidrs given (what CloudFormation hands API Gateway)."""
    text = json.dumps(template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"])
    return json.loads(text.replace(json.dumps({"Ref": STAFF_CIDRS_PARAMETER}), json.dumps(cidrs)))


# --- which routes are staff routes ------------------------------------------------------------------


def test_every_route_is_in_the_group_of_the_key_it_needs():
    routes = [(path, method) for path, methods in app.routes.items() for method in methods]
    assert len(routes) >= 20
    for path, method in routes:
        group = route_group(path)  # a route in no group fails here, naming it
        scope = ROUTE_SCOPES.get((path, method))
        if scope is not None:
            assert group == scope, f"{method} {path} needs a {scope} key but is in the {group} group"
        else:  # no key: the providers' webhooks, the portal page (it asks for the key), /health
            assert (path, group) in {(path, "callback"), ("/v1/partner/portal", "partner"), ("/health", "public")}, \
                (method, path, group)
            assert group != "staff"
    assert {route_group(p) for p in STAFF_PATHS} == {"staff"}


# --- the resource policy ----------------------------------------------------------------------------


def test_staff_routes_are_denied_to_any_source_outside_the_staff_networks(template):
    spec = template["Parameters"][STAFF_CIDRS_PARAMETER]
    assert spec["Type"] == "CommaDelimitedList" and "Default" not in spec  # every stack names its networks
    statements = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-policy"][
        "Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"NotIpAddress": {"aws:SourceIp": {"Ref": STAFF_CIDRS_PARAMETER}}}
    assert deny["Action"] == "execute-api:Invoke" and deny["Principal"] == "*"

    policy = _resolved_policy(template, [OFFICE, "2001:db8:1::/48"])
    for path in STAFF_PATHS:
        method = "PUT" if "contact-calendar/" in path else "GET"
        for inside in ("203.0.113.1", "203.0.113.254", "2001:db8:1::7"):
            assert allows(policy, api_arn=API_ARN, stage="api", method=method, path=path, source_ip=inside), path
        for outside in ("203.0.114.1", "198.51.100.7", "10.0.0.5", "2001:db8:2::7", "127.0.0.1"):
            assert not allows(policy, api_arn=API_ARN, stage="api", method=method, path=path, source_ip=outside), \
                (path, outside)
    for path in OPEN_PATHS:  # partners, providers and /health: from anywhere
        method = "POST" if "callbacks" in path else "GET"
        assert allows(policy, api_arn=API_ARN, stage="api", method=method, path=path, source_ip="198.51.100.7"), path


def test_the_local_policy_check_refuses_what_it_cannot_evaluate():
    policy = {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}
    with pytest.raises(UnsupportedCondition):
        allows(policy, api_arn=API_ARN, stage="api", method="GET", path="/health", source_ip="127.0.0.1")


def _call(base: str, path: str, key: str | None, source: str = "127.0.0.1") -> tuple[int, Any]:
    """GET ``path`` from the loopback address ``source`` (Linux routes all of 127.0.0.0/8 to this machine)."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    connection = http.client.HTTPConnection(host, port, timeout=60, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"x-api-key": key} if key else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_the_local_api_refuses_staff_routes_from_outside_the_range_before_the_function_runs(aws, conn, pg_url):
    make_partner(conn, 1, "Lendana P2P")
    conn.commit()
    staff = create_staff_key(conn, owner="Ayu Lestari <ayu@julo.co.id>", actor="test")
    partner = create_partner_key(conn, 1, actor="test")
    staff_network = "127.0.0.2"  # the "office"; 127.0.0.1 is outside it
    values = {**API_SECRETS, "DATABASE_URL": pg_url, STAFF_CIDRS_PARAMETER: f"{staff_network}/32"}
    with LambdaRuntime(values, placeholders=True) as runtime:
        base = runtime.start_api()
        status, body = _call(base, "/v1/crm/applications?limit=1", staff)
        assert status == 403
        assert body == {"error": {"code": "forbidden", "message": "this route is not reachable from your network"}}
        assert _call(base, "/health/deep", staff)[0] == 403
        with conn.cursor() as cur:  # refused before the function: the key was never used, nothing audited
            cur.execute("SELECT last_used_at FROM partner_api_key WHERE key_hash = %s", (hash_key(staff),))
            assert cur.fetchone()[0] is None
            cur.execute("SELECT count(*) FROM staff_read_audit")
            assert cur.fetchone()[0] == 0
        conn.commit()
        assert _call(base, "/v1/partner/summary", partner)[0] == 200  # partners and /health: from anywhere
        assert _call(base, "/health", None)[0] == 200
        status, body = _call(base, "/v1/crm/applications?limit=1", staff, source=staff_network)
        assert (status, body["rows"]) == (200, []), body  # from the staff network the key reads
        assert _call(base, "/v1/crm/applications?limit=1", None, source=staff_network)[0] == 401  # still needs it


# --- staff keys ---------------------------------------------------------------------------------------


def test_a_staff_key_names_its_holder_who_never_changes(conn):
    with pytest.raises(ValueError, match="owner"):
        create_staff_key(conn, owner="  ", actor="lead")
    key = create_staff_key(conn, owner="Ayu Lestari <ayu@julo.co.id>", actor="lead")
    [info] = list_keys(conn, scope="staff")
    assert (info.owner, info.created_by, info.key_prefix) == ("Ayu Lestari <ayu@julo.co.id>", "lead", key[:11])
    with conn.cursor() as cur:  # whatever writes the table
        with pytest.raises(psycopg2.errors.CheckViolation):
            cur.execute("INSERT INTO partner_api_key (scope, key_prefix, key_hash) VALUES ('staff', 'jk_x', 'h1')")
        conn.rollback()
        with pytest.raises(psycopg2.errors.CheckViolation, match="owner never changes"):
            cur.execute("UPDATE partner_api_key SET owner = 'Budi' WHERE key_hash = %s", (hash_key(key),))
        conn.rollback()


def test_a_staff_key_lives_90_days_by_default_and_never_more_than_366(conn, monkeypatch):
    create_staff_key(conn, owner="Ayu", actor="lead")
    with conn.cursor() as cur:
        cur.execute("SELECT expires_at - cdate FROM partner_api_key WHERE scope = 'staff'")
        assert cur.fetchone()[0] == timedelta(days=90)
    conn.commit()
    with pytest.raises(ValueError, match="366"):
        create_staff_key(conn, owner="Ayu", actor="lead", expires_in=timedelta(days=400))
    with pytest.raises(ValueError, match="STAFF_KEY_EXPIRY_DAYS"):
        default_staff_key_lifetime(KeyAdminSettings(staff_key_expiry_days=1000))
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.CheckViolation, match="366 days"):
        cur.execute("UPDATE partner_api_key SET expires_at = now() + interval '5 years' WHERE scope = 'staff'")
    conn.rollback()


def test_an_expired_staff_key_is_a_401_json_naming_the_expiry(conn):
    key = staff_key(conn)
    with api_client() as client:
        assert get(client, "/v1/pn/blast-titles", key)[0] == 200
        with conn.cursor() as cur:
            cur.execute("UPDATE partner_api_key SET expires_at = now() - interval '1 second' WHERE key_hash = %s",
                        (hash_key(key),))
        conn.commit()
        for path in ("/v1/pn/blast-titles", "/v1/crm/applications", "/v1/analytics/rfm"):
            status, body, headers = get(client, path, key)
            assert status == 401, (path, body)
            assert headers["content-type"].startswith("application/json")
            assert body["error"]["code"] == "key_expired" and "expired at" in body["error"]["message"]


def test_create_key_for_staff_needs_an_owner_on_the_command_line(conn):
    import subprocess
    import sys

    missing = subprocess.run([sys.executable, "-m", "chalicelib.partners", "create-key", "--staff"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "--owner" in missing.stderr and missing.stdout == ""
    made = subprocess.run([sys.executable, "-m", "chalicelib.partners", "create-key", "--staff", "--owner",
                           "Ayu Lestari <ayu@julo.co.id>", "--by", "lead"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([sys.executable, "-m", "chalicelib.partners", "list-keys", "--staff"],
                            capture_output=True, text=True, timeout=60)
    assert "Ayu Lestari <ayu@julo.co.id>" in listed.stdout and made.stdout.strip()[:11] in listed.stdout


# --- throttles ---------------------------------------------------------------------------------------


def test_partner_staff_and_callback_routes_each_have_their_groups_throttle(template):
    props = template["Resources"]["RestAPI"]["Properties"]
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in props["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    seen: dict[str, int] = {}
    for path, methods in props["DefinitionBody"]["paths"].items():
        group = route_group(path)
        for method in methods:
            if group not in THROTTLED_GROUPS:
                assert ("/" + path.replace("/", "~1"), method.upper()) not in settings
                continue
            s = settings[("/" + path.replace("/", "~1"), method.upper())]
            prefix = group.capitalize()
            assert s["ThrottlingRateLimit"] == {"Ref": f"{prefix}ThrottlingRateLimit"}, (path, method)
            assert s["ThrottlingBurstLimit"] == {"Ref": f"{prefix}ThrottlingBurstLimit"}, (path, method)
            assert s["MetricsEnabled"] is True
            seen[group] = seen.get(group, 0) + 1
    assert set(seen) == set(THROTTLED_GROUPS) and seen["staff"] >= 10, seen
    params = template["Parameters"]
    rates = {g: int(params[f"{g.capitalize()}ThrottlingRateLimit"]["Default"]) for g in THROTTLED_GROUPS}
    assert rates["staff"] < rates["partner"] < rates["callback"], rates
    for g in THROTTLED_GROUPS:  # a burst below the rate would cap the rate
        assert int(params[f"{g.capitalize()}ThrottlingBurstLimit"]["Default"]) >= rates[g]
