"""The deployable template: complete, least-privilege, valid (cfn-lint), handlers importable."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import settings
from infra.manifest import load_manifest
from infra.package import build_template, logical_id, package

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
    assert template["Parameters"]["ApiDatabaseSecretArn"]["AllowedPattern"].startswith("^arn:aws")
    assert "DATABASE_URL" not in json.dumps(template)


def test_every_handler_resolves_to_an_importable_callable():
    for f in load_manifest().functions:
        module, _, attr = f.handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), f.handler
        assert f.settings_class in settings.ALL


def _statements(template: dict):
    for rid, r in template["Resources"].items():
        if r["Type"] == "AWS::IAM::Role":
            for policy in r["Properties"].get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    yield rid, st


# actions AWS defines without a resource to scope them to (Lambda's VPC network interfaces, X-Ray)
RESOURCELESS = ("ec2:", "xray:")


def test_no_iam_statement_grants_everything(packaged):
    template, _out = packaged
    seen = 0
    for rid, st in _statements(template):
        seen += 1
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), (rid, st)
        if "*" in resources:
            assert all(a.startswith(RESOURCELESS) for a in actions), (rid, st)
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
    from infra.manifest import FunctionSpec, Manifest, QueueSpec, TableSpec

    manifest = Manifest(
        queues=(QueueSpec("work", dlq="work-dlq"), QueueSpec("other")),
        tables=(TableSpec("ledger", hash_key="pk"),),
        state_machines=(),
        functions=(FunctionSpec("worker", "functions.x.handler", {"sqs": "work"}, settings="AnalyticsSettings",
                                permissions={"dynamodb": ["ledger"]}),),
    )
    template = build_template({"Resources": {}}, manifest)
    role = template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {st["Sid"]: st for st in role}
    assert by_sid["ConsumeTrigger"]["Resource"] == [{"Fn::GetAtt": ["WorkQueue", "Arn"]}]
    assert by_sid["Ledger"]["Resource"] == [{"Fn::GetAtt": ["LedgerTable", "Arn"]}]
    assert "SendToQueues" not in by_sid  # it sends nowhere, so it may not
    env = template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    # the environment is what the settings class declares: the database secret, the log level
    assert env["DATABASE_SECRET_ARN"] == {"Ref": "AnalyticsDatabaseSecretArn"}  # its group's own login
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert not any(k.startswith("QUEUE_URL_") for k in env)


def _function(template: dict, name: str) -> dict:
    return template["Resources"]["APIHandler" if name == "api" else logical_id(name, "Function")]["Properties"]


def _policy(template: dict, name: str) -> dict[str, dict]:
    fn = _function(template, name)
    role = template["Resources"][fn["Role"]["Fn::GetAtt"][0]]
    return {st["Sid"]: st for st in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}


def test_every_function_environment_is_generated_from_its_settings_class(packaged):
    template, _out = packaged
    manifest = load_manifest()
    for name, cls in [("api", manifest.api.settings_class)] + [(f.name, f.settings_class) for f in manifest.functions]:
        env = _function(template, name)["Environment"]["Variables"]
        for _attr, spec in cls.specs():
            if spec.parameter and spec.parameter_fallback:  # the parameter, else a value of the stack
                assert env[spec.env]["Fn::If"][1] == {"Ref": spec.parameter}, (name, spec.env)
                assert spec.parameter in template["Parameters"]
            elif spec.parameter:
                assert env[spec.env] == {"Ref": spec.parameter}, (name, spec.env)
                assert spec.parameter in template["Parameters"]
            elif spec.secret:
                assert spec.env not in env, f"{name}: secret {spec.env} must not be in the environment"
    # never a relative callback URL, a sample caller number or phone-number id: no default to fall back on
    for required in ("VoiceFromNumber", "WhatsAppPhoneNumberId"):
        assert "Default" not in template["Parameters"][required]


def test_the_api_may_use_the_ledger_it_writes_callbacks_to_and_nothing_else(packaged):
    """The internet-facing role: GetItem and UpdateItem on the ledger (what the callbacks call), Query on
    its provider-id index only (is an id bound to another entry?), PutItem/UpdateItem on the replay
    cache; never the stage table with the workflow's task tokens, never a Delete or a Query of the table."""
    template, _out = packaged
    env = _function(template, "api")["Environment"]["Variables"]
    assert env["TABLE_NAME_REMINDER_LEDGER"] == {"Ref": "ReminderLedgerTable"}
    assert "TABLE_NAME_REMINDER_STAGES" not in env
    policy = _policy(template, "api")
    dynamodb = [st for st in policy.values() if any(str(a).startswith("dynamodb:") for a in st["Action"])]
    assert dynamodb == [policy["Ledger"], policy["Ledger2"], policy["Ledger3"]]
    assert policy["Ledger"]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert policy["Ledger"]["Resource"] == [{"Fn::GetAtt": ["ReminderLedgerTable", "Arn"]}]
    assert policy["Ledger2"]["Action"] == ["dynamodb:Query"]
    assert policy["Ledger2"]["Resource"] == [{"Fn::Sub": "${ReminderLedgerTable.Arn}/index/by-provider_id"}]
    assert policy["Ledger3"]["Action"] == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert policy["Ledger3"]["Resource"] == [{"Fn::GetAtt": ["CallbackReplayTable", "Arn"]}]


def test_dynamodb_actions_can_be_declared_per_table():
    from infra.manifest import FunctionSpec, Manifest, TableSpec

    manifest = Manifest(queues=(), tables=(TableSpec("a", hash_key="pk"), TableSpec("b", hash_key="pk")),
                        state_machines=(), functions=(FunctionSpec(
                            "f", "functions.x.handler", {}, settings="AnalyticsSettings",
                            permissions={"dynamodb": {"a": ["GetItem"], "b": ["Query", "PutItem"]}}),))
    role = build_template({"Resources": {}}, manifest)["Resources"]["FRole"]["Properties"]["Policies"][0]
    by_sid = {st["Sid"]: st for st in role["PolicyDocument"]["Statement"]}
    assert by_sid["Ledger"] == {"Sid": "Ledger", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
                                "Resource": [{"Fn::GetAtt": ["ATable", "Arn"]}]}
    assert by_sid["Ledger2"]["Action"] == ["dynamodb:Query", "dynamodb:PutItem"]


def test_secrets_are_split_three_ways(packaged):
    template, _out = packaged
    readers: dict[str, set[str]] = {}
    for name in ["api"] + [f.name for f in load_manifest().functions]:
        secrets = _policy(template, name).get("Secrets", {"Resource": []})["Resource"]
        for ref in secrets:
            readers.setdefault(ref["Ref"], set()).add(name)
    assert readers["CallbackSecretsArn"] == {"api"}
    assert readers["ProviderTokensSecretArn"] == {"reminder-dispatch-robocall", "reminder-dispatch-whatsapp",
                                                  "reminder-dispatch-sms"}
    assert readers["SlackSecretArn"] == {"stuck-disbursement-report", "reminder-stage"}
    env = _function(template, "reminder-dispatch-robocall")["Environment"]["Variables"]
    assert env["PROVIDER_TOKENS_SECRET_ARN"] == {"Ref": "ProviderTokensSecretArn"}


def test_limits_network_logs_and_alarms(packaged):
    template, _out = packaged
    res = template["Resources"]
    for f in load_manifest().functions:
        props = _function(template, f.name)
        assert props["ReservedConcurrentExecutions"], f.name
        if f.settings_class.database:
            assert props["VpcConfig"] == {"SubnetIds": {"Ref": "SubnetIds"},
                                          "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}
        group = res[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        if f.schedule:
            assert res[logical_id(f.name, "ErrorsAlarm")]["Properties"]["MetricName"] == "Errors"
    for logical, channel in (("RobocallCredentialsRefusedAlarm", "robocall"),
                             ("WhatsappCredentialsRefusedAlarm", "whatsapp"), ("SmsCredentialsRefusedAlarm", "sms")):
        alarm = res[logical]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (
            "JuloReminders", "ProviderCredentialsRefused",
            [{"Name": "channel", "Value": channel}, {"Name": "service", "Value": "julo-reminders"}])
    dispatch = _function(template, "reminder-dispatch-robocall")
    assert dispatch["ReservedConcurrentExecutions"] == {"Ref": "DispatchMaxConcurrency"}
    assert dispatch["Events"]["Sqs0"]["Properties"]["ScalingConfig"] == {"MaximumConcurrency":
                                                                        {"Ref": "DispatchMaxConcurrency"}}
    api = res["RestAPI"]["Properties"]
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert json.loads(api["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        body = responses[kind]["responseTemplates"]["application/json"]
        assert json.loads(body.replace("$context.error.messageString", '"m"'))["error"]["message"] == "m"


def test_pii_queues_use_the_customer_key_and_dead_letters_expire_sooner(packaged):
    template, _out = packaged
    res = template["Resources"]
    for q in load_manifest().queues:
        props = res[logical_id(q.name, "Queue")]["Properties"]
        if q.pii:
            assert props["KmsMasterKeyId"] == {"Ref": "PiiKey"}
            assert res[logical_id(q.dlq, "Queue")]["Properties"]["KmsMasterKeyId"] == {"Ref": "PiiKey"}
        if q.dlq:
            assert res[logical_id(q.dlq, "Queue")]["Properties"]["MessageRetentionPeriod"] < 14 * 24 * 3600
    assert res["PiiKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_setting_the_code_reads_is_declared():
    """Settings cannot drift: a name read in chalicelib/ or functions/ must be in a settings class."""
    pattern = re.compile(r"""(?:env_str|env_int|env_float|environ\.get|provider_secret)\(\s*f?["']([A-Z][A-Z0-9_]+)""")
    declared = settings.declared_names() | {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                                            "AWS_LAMBDA_FUNCTION_NAME"}
    missing = set()
    for path in list((ROOT / "chalicelib").rglob("*.py")) + list((ROOT / "functions").rglob("*.py")):
        for name in pattern.findall(path.read_text()):
            if name not in declared:
                missing.add(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, sorted(missing)


def test_the_parameters_table_in_the_deploy_guide_is_the_templates() -> None:
    """docs/deploy.md lists every template parameter as the package builds it (who reads it, its
    default and meaning): an operator filling in parameters reads the table, not the code."""
    from infra.package import parameters_table

    guide = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text().splitlines()
    missing = [row for row in parameters_table().strip().splitlines() if row not in guide]
    assert missing == []
