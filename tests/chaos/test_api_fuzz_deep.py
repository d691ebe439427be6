"""The API fuzz of ``tests/functional/test_api_fuzz.py``, deep (``make chaos`` only): 300 hostile
API Gateway events per route and method (odd header values on the headers the app reads, arbitrary
query strings, path segments and bodies, some validly signed), straight into the Chalice handler;
and 60 schemathesis requests per documented operation (both modes, plus the headers schemathesis
does not try) over HTTP."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.test_api_fuzz import (  # noqa: F401 (served, server: fixtures)
    ROUTES,
    extra_headers,
    schema,
    send_case,
    send_gateway_event,
    served,
    server,
)


@pytest.mark.slow
@pytest.mark.chaos(scenario="hostile headers, query strings and bodies at every route (300 events each)",
                   invariant="no 5xx; every 4xx is the JSON error shape")
@pytest.mark.parametrize(("path", "method"), ROUTES)
@given(data=st.data(), with_key=st.sampled_from(["partner", "staff", None]))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_requests_at_every_route_get_no_server_error(path, method, data, with_key, served):  # noqa: F811
    send_gateway_event(path, method, data, with_key, served)


@pytest.mark.slow
@pytest.mark.chaos(scenario="schemathesis requests (both modes) with odd headers at every operation (60 each)",
                   invariant="no 5xx; every 4xx is the JSON error shape")
@schema.parametrize()
@schema.given(extra=extra_headers, with_key=st.sampled_from(["partner", "staff", None]))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_requests_with_odd_headers_get_no_server_error(case, extra, with_key, served):  # noqa: F811
    send_case(case, extra, with_key, served)
