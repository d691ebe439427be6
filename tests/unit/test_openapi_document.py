"""docs/openapi.yaml is a valid OpenAPI document: openapi-spec-validator accepts it, Redocly's
linter (recommended rules) finds no error, and it declares how every caller authenticates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from openapi_spec_validator import validate

from tests.node_tools import node_dir

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _doc() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def test_openapi_spec_validator_accepts_the_document():
    validate(_doc())  # raises with the JSON path of the first problem


def test_no_description_parses_into_a_stray_key():
    """An unquoted ``a, b`` in a flow mapping becomes a key of its own: every schema property
    must be a schema, never null."""
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties":
                    for name, prop in value.items():
                        assert isinstance(prop, dict) and None not in prop.values(), f"{path}.{name}: {prop}"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(_doc(), "$")
    assert set(_doc()["components"]["schemas"]["RfmUser"]["properties"]["monetary"]) == {
        "type", "minimum", "description"}


def test_every_operation_declares_its_security_and_health_is_open():
    doc = _doc()
    schemes = doc["components"]["securitySchemes"]
    paths = doc["paths"]
    assert paths["/health"]["get"]["security"] == []
    (robocall,) = paths["/v1/callbacks/robocall"]["post"]["security"]
    (vonage,) = [schemes[name] for name in robocall]
    assert (vonage["type"], vonage["scheme"], vonage["bearerFormat"]) == ("http", "bearer", "JWT")
    (whatsapp,) = paths["/v1/callbacks/whatsapp"]["post"]["security"]
    (meta,) = [schemes[name] for name in whatsapp]
    assert (meta["type"], meta["in"], meta["name"]) == ("apiKey", "header", "X-Hub-Signature-256")
    for path, ops in paths.items():
        for method, op in ops.items():
            if method in HTTP_METHODS:
                assert "security" in op or "security" in doc, f"{method.upper()} {path} declares no security"
                for requirement in op.get("security", []):
                    assert set(requirement) <= set(schemes), f"{method.upper()} {path}: {requirement}"


def test_redocly_lint_recommended_has_no_errors():
    cli = node_dir() / "node_modules" / ".bin" / "redocly"
    done = subprocess.run([str(cli), "lint", "--extends=recommended", "--format=stylish", str(OPENAPI)],
                          capture_output=True, text=True, timeout=180, check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0 and " error " not in report, report[-3000:]
