"""The deployable template: complete, least-privilege, valid (cfn-lint), handlers importable."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.package import ENV_TO_PARAMETER, build_template, logical_id, package
from localdev.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("dist")
    path = package(out)
    return json.loads(path.read_text()), out


def _resources(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_every_manifest_resource_is_in_the_template(packaged):
    template, _out = packaged
    manifest = load_manifest()
    res = template["Resources"]
    for q in manifest.queues:
        queue = res[logical_id(q.name, "Queue")]
        assert queue["Type"] == "AWS::SQS::Queue"
        if q.dlq:
            assert res[logical_id(q.dlq, "Queue")]["Type"] == "AWS::SQS::Queue"
            assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == q.max_receive_count
            assert res[logical_id(q.dlq, "DepthAlarm")]["Type"] == "AWS::CloudWatch::Alarm"
    for t in manifest.tables:
        table = res[logical_id(t.name, "Table")]
        if t.ttl_attribute:
            assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": t.ttl_attribute, "Enabled": True}
    for sm in manifest.state_machines:
        machine = res[logical_id(sm.name, "StateMachine")]["Properties"]
        assert "${QueueUrl:" not in machine["DefinitionString"]
        json.loads(re.sub(r"\$\{[A-Za-z0-9_]+\}", "x", machine["DefinitionString"]))  # JSON once substituted
        assert res[logical_id(sm.name, "FailedAlarm")]["Properties"]["MetricName"] == "ExecutionsFailed"
    functions = _resources(template, "AWS::Serverless::Function")
    for f in manifest.functions:
        props = functions[logical_id(f.name, "Function")]["Properties"]
        assert props["Handler"] == f.handler
        kinds = sorted(e["Type"] for e in props["Events"].values())
        assert kinds == sorted("SQS" if "sqs" in t else "Schedule" for t in f.triggers)
        for event in props["Events"].values():
            if event["Type"] == "SQS":
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the Chalice API is there too, with the database secret as a parameter (never a plain URL)
    assert "APIHandler" in functions and "RestAPI" in template["Resources"]
    assert template["Parameters"]["DatabaseSecretArn"]["AllowedPattern"].startswith("^arn:aws")
    assert "DATABASE_URL" not in json.dumps(template)


def test_every_handler_resolves_to_an_importable_callable():
    for f in load_manifest().functions:
        module, _, attr = f.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), f.handler
    for env in (env for f in load_manifest().functions for env in f.env):
        assert env in ENV_TO_PARAMETER or env.startswith(("QUEUE_URL_", "TABLE_NAME_", "STATE_MACHINE_ARN_")), env


def _statements(template: dict):
    for rid, r in template["Resources"].items():
        if r["Type"] == "AWS::IAM::Role":
            for policy in r["Properties"].get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    yield rid, st


def test_no_iam_statement_grants_everything(packaged):
    template, _out = packaged
    seen = 0
    for rid, st in _statements(template):
        seen += 1
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), (rid, st)
        assert "*" not in resources, (rid, st)
    assert seen > 0


def test_artifacts_contain_the_handlers(packaged):
    import zipfile

    _template, out = packaged
    names = set(zipfile.ZipFile(out / "functions.zip").namelist())
    for f in load_manifest().functions:
        module = f.handler.rpartition(".")[0]
        assert module.replace(".", "/") + ".py" in names
    assert "chalicelib/db.py" in names and any(n.endswith(".sql") for n in names)


def test_cfn_lint_passes(packaged):
    _template, out = packaged
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    lint = subprocess.run([cfn_lint, str(out / "template.json")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_least_privilege_is_derived_from_the_manifest():
    from localdev.manifest import FunctionSpec, Manifest, QueueSpec, TableSpec

    manifest = Manifest(
        queues=(QueueSpec("work", dlq="work-dlq"), QueueSpec("other")),
        tables=(TableSpec("ledger", hash_key="pk"),),
        state_machines=(),
        functions=(FunctionSpec("worker", "functions.x.handler", {"sqs": "work"},
                                permissions={"dynamodb": ["ledger"]}),),
    )
    template = build_template({"Resources": {}}, manifest)
    role = template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {st["Sid"]: st for st in role}
    assert by_sid["ConsumeTrigger"]["Resource"] == [{"Fn::GetAtt": ["WorkQueue", "Arn"]}]
    assert by_sid["Ledger"]["Resource"] == [{"Fn::GetAtt": ["LedgerTable", "Arn"]}]
    assert "SendToQueues" not in by_sid  # it sends nowhere, so it may not
    env = template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["QUEUE_URL_WORK"] == {"Ref": "WorkQueue"} and "QUEUE_URL_OTHER" not in env
    assert env["TABLE_NAME_LEDGER"] == {"Ref": "LedgerTable"}
