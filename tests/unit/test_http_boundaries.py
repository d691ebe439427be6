"""The layers point one way: the domain (everything in chalicelib/ outside chalicelib/http)
never imports the HTTP layer; it raises its own errors, which chalicelib/http maps to answers."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chalicelib import paging
from chalicelib.errors import InvalidInput
from chalicelib.http.errors import ApiError, domain_status
from chalicelib.http.params import QueryParams

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_domain_module_imports_the_http_layer():
    offenders = {}
    for path in sorted(CHALICELIB.rglob("*.py")):
        if CHALICELIB / "http" in path.parents:
            continue
        bad = sorted(n for n in _imports(path) if n == "chalicelib.http" or n.startswith("chalicelib.http."))
        if bad:
            offenders[str(path.relative_to(CHALICELIB.parent))] = bad
    assert offenders == {}


def test_a_domain_refusal_is_a_400_with_its_code():
    assert domain_status(InvalidInput("cursor is not ours", code="invalid_cursor")) == 400


@given(st.text(max_size=300) | st.from_regex(r"-?[0-9]{0,5000}", fullmatch=True))
def test_any_parameter_text_is_a_value_or_a_client_error(value):
    params = QueryParams({"limit": value, "from": value, "cursor": value, "status": value, "q": value},
                         ("limit", "from", "cursor", "status", "q"))
    for parse in (lambda: params.integer("limit", default=1, maximum=500), lambda: params.day("from"),
                  params.cursor, params.application_status, lambda: params.text("q")):
        try:
            parse()
        except (ApiError, InvalidInput) as exc:
            assert exc.code in ("invalid_parameter", "invalid_cursor")


JSON = st.recursive(st.none() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3))


@given(JSON, st.integers(1, 6000))
def test_a_cursor_is_decoded_only_if_it_is_ours(payload, depth):
    deep = "[" * depth + json.dumps(payload) + "]" * depth
    for raw in (json.dumps(payload), deep):
        token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        try:
            paging.decode(token)
        except InvalidInput as exc:
            assert exc.code == "invalid_cursor"
