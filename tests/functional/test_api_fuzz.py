"""No 5xx from any header, query string or body (issue 21): every route, fuzzed two ways.

- **Over HTTP** (``chalice local``, as ``tests/functional/test_api_openapi.py`` serves it):
  schemathesis generates each documented operation's requests in both modes (schema-valid and
  schema-violating), and hypothesis adds the headers schemathesis does not try: signature and key
  headers with non-ASCII, control and overlong values, duplicated names, ``Accept`` and
  ``Content-Type`` oddities, sent as raw bytes (UTF-8 or Latin-1, as clients do).
- **As API Gateway delivers it** (the deployed path): API Gateway proxy events for every route and
  method the app has, with arbitrary Unicode header names and values (single and multi-value), query
  strings, path segments and bodies (text or base64), some of them validly signed so the fuzz gets
  past the signature checks into body parsing and the ledger, straight into the Chalice handler.

Every answer must be below 500; a 4xx must be our JSON error shape.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib import settings as configured
from chalicelib.partners.keys import find_key
from chalicelib.reminders import references
from chalicelib.reminders.outcomes import CallbackRef
from chalicelib.reminders.signatures import SIGNATURE_HEADER, sign, vonage_webhook_token
from chalicelib.reminders.stages import Stage, StageRun
from chalicelib.zones import Zone
from localdev.aws.bootstrap import bootstrap
from localdev.aws.template_resolution import LOCAL_CALLBACK_REFERENCE_KEY
from localdev.datagen.lending import load
from localdev.fakes.voice import LOCAL_SIGNATURE_SECRET as VOICE_SECRET
from localdev.fakes.whatsapp import LOCAL_APP_SECRET as WHATSAPP_SECRET
from localdev.fakes.whatsapp import LOCAL_VERIFY_TOKEN
from localdev.lambda_runtime.runtime import LambdaContext
from localdev.servers import ports
from tests.api_support import local_server, partner_key, staff_key

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
RUN = StageRun(Zone.WIB, date(2026, 11, 20), Stage.ROBOCALL_1)
CALLBACK_SETTINGS = {"VONAGE_SIGNATURE_SECRET": VOICE_SECRET, "WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
                     "WHATSAPP_VERIFY_TOKEN": LOCAL_VERIFY_TOKEN,
                     "CALLBACK_REFERENCE_KEY": LOCAL_CALLBACK_REFERENCE_KEY}

schema = schemathesis.openapi.from_path(str(OPENAPI))
schema.config.generation.update(modes=list(schemathesis.GenerationMode), allow_extra_parameters=True)
schema.config.phases.update(phases=["fuzzing"])  # schema examples run in test_api_openapi.py

# --- what to send ---------------------------------------------------------------------------------

# names the app reads, in any case, plus ones it does not
HEADER_NAMES = ["X-Hub-Signature-256", "x-hub-signature-256", "Authorization", "AUTHORIZATION", "x-api-key",
                "X-API-KEY", "Accept", "Content-Type", "Cookie", "X-Forwarded-For", "Origin", "If-None-Match",
                "X-Amz-Date", "User-Agent", "Range"]
token_chars = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='()<>@,;:\\"/[]?={}')
any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
header_text = st.one_of(
    any_text.map(lambda t: t.replace("\r", " ").replace("\n", " ").strip()),
    st.sampled_from(["sha256=", "sha256=" + "é" * 64, "Bearer", "Bearer é.é.é", "Bearer " + "a" * 8000,
                     "Basic Zm9vOmJhcg==", "application/json; charset=utf-16", "*/*;q=é", "text/csv;;;",
                     "sha256=" + "0" * 64, "\t", "\x00", "ﬀ", "\U0001f4a9" * 30, "%00%0d%0a", "=cmd|' /C calc'!A0"]),
)


def _encodings(text: str) -> st.SearchStrategy[bytes]:
    options = [st.just(text.encode("utf-8"))]
    try:
        options.append(st.just(text.encode("latin-1")))
    except UnicodeEncodeError:
        pass
    return st.one_of(options)


# a client sends no leading whitespace (HTTP strips it) nor CR/LF (they end the header)
raw_header_values = header_text.map(lambda t: t.lstrip(" \t")).flatmap(_encodings)
extra_headers = st.lists(st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.text(token_chars, min_size=1,
                                                                                   max_size=40)),
                                   raw_header_values), max_size=6)


# --- over HTTP: schemathesis' requests plus the headers it does not try ---------------------------------


@pytest.fixture(scope="module")
def server(pg_url: str) -> Iterator[str]:
    port = ports.free_port()
    local = local_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=local.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    local.shutdown()
    thread.join(timeout=10)


_KEYS: dict[str, str] = {}


SENTINEL_QUEUE = "api-fuzz-bootstrapped"


def _bootstrapped() -> None:
    """The template's resources in this worker's moto, created again only when another test reset
    moto since (a reset removes the sentinel queue): one bootstrap costs about a second, one per
    route would be most of this module's time. What earlier fuzz examples left there stays: the
    fuzz takes any state."""
    sqs = configured.aws_clients().client("sqs")
    try:
        sqs.get_queue_url(QueueName=SENTINEL_QUEUE)
        return
    except sqs.exceptions.QueueDoesNotExist:
        pass
    bootstrap()
    sqs.create_queue(QueueName=SENTINEL_QUEUE)


@pytest.fixture
def served(server: str, pg_url: str, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Per test (other tests of this worker may truncate the database or reset moto in between):
    a small book with a partner and a staff key, the callback tables, the callback settings."""
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM partner WHERE partner_id = 1")
            (partners,) = cur.fetchone()
        conn.rollback()
        if not partners:
            load(conn, 120, 5, date(2026, 11, 20))
        # a partner has at most two live keys: reuse this module's while the database still has them
        if not (_KEYS and all(find_key(conn, k) for k in _KEYS.values())):
            _KEYS.update(partner=partner_key(conn, 1), staff=staff_key(conn))
        keys = dict(_KEYS)
    finally:
        conn.close()
    _bootstrapped()
    for name, value in CALLBACK_SETTINGS.items():
        monkeypatch.setenv(name, value)
    return {"base_url": server, **keys}


def _check(status: int, body: bytes | str, what: object) -> None:
    assert status < 500, (what, status, body[:300])
    if status >= 400:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        error = json.loads(text)["error"]
        assert error["code"] and isinstance(error["message"], str), (what, text[:300])


def send_case(case: Any, extra: list[tuple[str, bytes]], with_key: str | None, served: dict[str, str]) -> None:
    headers: dict[str, Any] = dict(case.headers or {})
    if with_key:
        headers["x-api-key"] = served[with_key]
    for name, value in extra:
        headers[name] = value
    response = case.call(base_url=served["base_url"], headers=headers)
    _check(response.status_code, response.content, (case.method, case.path, headers))


# make test: 8 requests per operation (~70 ms each over HTTP); make chaos sends 60
# (tests/chaos/test_api_fuzz_deep.py)
@schema.parametrize()
@schema.given(extra=extra_headers, with_key=st.sampled_from(["partner", "staff", None]))
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_and_odd_headers_find_no_server_error(case, extra, with_key, served):
    send_case(case, extra, with_key, served)


# --- as API Gateway delivers it: every route and method, straight into the handler ---------------------


ROUTES = sorted((path, method) for path, methods in app.routes.items() for method in methods)
segment = st.one_of(st.sampled_from(["champions", "at_risk", "2026-11-20", "400123", "-1", "99999999999999999999",
                                     "%00", "..", "é", "a" * 300]),
                    any_text.filter(lambda t: t and "/" not in t))
unicode_headers = st.dictionaries(st.one_of(st.sampled_from(HEADER_NAMES), any_text.filter(bool)), any_text,
                                  max_size=6)
query = st.one_of(st.none(), st.dictionaries(st.one_of(st.sampled_from(
    ["ref", "limit", "cursor", "from", "to", "status", "partner_id", "invoice_id", "deep", "hub.mode",
     "hub.verify_token", "hub.challenge", "template", "segment"]), any_text), any_text, max_size=5))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | any_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
                           max_leaves=20)
bodies = st.one_of(st.none(), any_text, json_values.map(json.dumps), st.binary(max_size=300),
                   st.builds(lambda ref, uuid, status: json.dumps({"uuid": uuid, "status": status}),
                             st.none(), any_text, st.sampled_from(["human", "busy", "ringing", "é"])),
                   st.builds(lambda statuses: json.dumps({"object": "whatsapp_business_account", "entry": [
                       {"id": "1", "changes": [{"field": "messages", "value": {"statuses": statuses}}]}]}),
                       st.lists(st.dictionaries(st.sampled_from(["id", "status", "biz_opaque_callback_data",
                                                                 "errors", "recipient_id"]), json_values,
                                                max_size=5), max_size=3)))


def _event(path: str, method: str, segments: dict[str, str], headers: dict[str, str],
           params: dict[str, str] | None, body: str | bytes | None) -> dict[str, Any]:
    """An API Gateway REST proxy event (every ``{name}`` of the resource path given a value, as API
    Gateway always does)."""
    concrete = path
    for name, value in segments.items():
        concrete = concrete.replace("{" + name + "}", value)
    encoded = isinstance(body, bytes)
    return {
        "resource": path, "path": concrete, "httpMethod": method,
        "headers": headers or None, "multiValueHeaders": {k: [v, v] for k, v in headers.items()} or None,
        "queryStringParameters": params, "multiValueQueryStringParameters": (
            {k: [v] for k, v in params.items()} if params else None),
        "pathParameters": segments or None, "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "path": f"/api{concrete}", "stage": "api",
                           "requestId": "fuzz", "identity": {"sourceIp": "203.0.113.10"}, "accountId": "123456789012",
                           "apiId": "abcdef1234", "domainName": "abcdef1234.execute-api.ap-southeast-3.amazonaws.com"},
        "body": base64.b64encode(body).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


READ_HEADERS = ["X-Hub-Signature-256", "Authorization", "x-api-key", "Accept", "Content-Type"]


@st.composite
def gateway_events(draw: st.DrawFn, path: str, method: str) -> dict[str, Any]:
    headers = draw(unicode_headers)
    odd = draw(st.sampled_from(READ_HEADERS))  # one header the app reads gets an odd value, every time
    headers[draw(st.sampled_from([odd, odd.lower(), odd.upper()]))] = draw(st.one_of(any_text, header_text))
    params = draw(query)
    body = draw(bodies)
    raw = body.encode() if isinstance(body, str) else body
    signing = draw(st.sampled_from(["none", "vonage", "meta"]))
    # signed right (but never over the odd header): the fuzz reaches the body, the reference and the ledger
    if raw is not None and signing == "vonage" and odd != "Authorization":
        headers["Authorization"] = "Bearer " + vonage_webhook_token(VOICE_SECRET, raw)
    if raw is not None and signing == "meta" and odd != SIGNATURE_HEADER:
        headers[SIGNATURE_HEADER] = sign(WHATSAPP_SECRET, raw)
    if draw(st.booleans()):
        params = {**(params or {}), "ref": references.sign(CallbackRef(draw(st.integers(1, 2**62)), RUN),
                                                           LOCAL_CALLBACK_REFERENCE_KEY)}
    names = re.findall(r"{(\w+)}", path)
    return _event(path, method, {name: draw(segment) for name in names}, headers, params, body)


def send_gateway_event(path: str, method: str, data: st.DataObject, with_key: str | None,
                       served: dict[str, str]) -> None:
    event = data.draw(gateway_events(path, method))
    if with_key:
        event["headers"] = {**(event["headers"] or {}), "x-api-key": served[with_key]}
    response = app(event, LambdaContext("julo-api-dev"))
    _check(response["statusCode"], response.get("body") or "", (method, path, event["headers"]))


# make test: 20 events per route; the chaos suite's slow scenario sends 300 (tests/chaos/test_api_fuzz_deep.py)
@pytest.mark.parametrize(("path", "method"), ROUTES)
@given(data=st.data(), with_key=st.sampled_from(["partner", "staff", None]))
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_gateway_events_with_any_header_query_or_body_get_no_server_error(path, method, data, with_key,
                                                                              served):
    send_gateway_event(path, method, data, with_key, served)
