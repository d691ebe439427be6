"""The deployed API is one Lambda handler (the Chalice app): API Gateway proxy events in, JSON out.

No server: the database URL points at a closed port, which is what a client sees during a
database outage.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app
from localdev.lambda_runtime.runtime import LambdaContext
from tests.events import load_event

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"


def _call(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = app(event, LambdaContext("julo-reminders-dev"))
    return response["statusCode"], response["headers"], json.loads(response["body"])


@pytest.fixture(autouse=True)
def _database_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)


def test_a_partner_route_answers_503_in_the_error_shape_while_the_database_is_down() -> None:
    status, headers, body = _call(load_event("apigateway_partner_summary"))
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    assert body["error"]["code"] == "unavailable"


def test_a_wrong_method_is_405_with_allow_and_the_same_error_shape() -> None:
    event = load_event("apigateway_partner_summary")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    status, headers, body = _call(event)
    assert status == 405
    assert headers["Allow"] == "GET"
    assert body["error"]["code"] == "method_not_allowed"


def _path(event: dict[str, Any], path: str) -> dict[str, Any]:
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    return event


def test_health_answers_without_the_database() -> None:
    event = _path(load_event("apigateway_partner_summary"), "/health")
    event["headers"].pop("x-api-key")
    status, _headers, body = _call(event)
    assert (status, body) == (200, {"status": "ok"})


def test_deep_health_reports_the_unreachable_database() -> None:
    status, _headers, body = _call(_path(load_event("apigateway_partner_summary"), "/health/deep"))
    assert status == 503
    assert body["error"]["code"] == "unavailable"
