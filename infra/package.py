"""Build one deployable SAM template plus artifacts in dist/, offline (no AWS account needed).

    python -m infra.package [--out dist] [--stage dev]

1. ``chalice package`` builds the HTTP API (app.py + chalicelib) and its deployment.zip.
2. The same zip plus ``functions/`` becomes ``functions.zip``: one artifact for every handler.
3. Everything in ``infra/functions.yaml`` is added to Chalice's template: SQS queues with DLQs
   and redrive, DynamoDB tables with TTL, state machines (ASL with the queues' URLs
   substituted), the functions with their SQS (partial batch responses) and schedule triggers,
   the SES identity, CloudWatch alarms on DLQ depth and failed executions, and one
   least-privilege IAM role per function.
The result is ``dist/template.json``; ``cfn-lint`` checks it (``make package`` runs it).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localdev.manifest import FunctionSpec, Manifest, load_manifest  # noqa: E402

RUNTIME = "python3.11"
PLACEHOLDER = re.compile(r"\$\{QueueUrl:([A-Za-z0-9_.-]+)\}")

# Template parameters, and the environment variable each one is passed to a function as.
PARAMETERS: dict[str, dict[str, Any]] = {
    "DatabaseSecretArn": {
        "env": "DATABASE_SECRET_ARN",
        "Type": "String",
        "AllowedPattern": "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$",
        "Description": "Secrets Manager ARN of the database credentials (RDS JSON or a postgresql:// URL)",
    },
    "VoiceApiUrl": {"env": "VOICE_API_URL", "Type": "String", "Default": "https://api.nexmo.com",
                    "Description": "Voice provider base URL (Vonage Voice API)"},
    "WhatsAppApiUrl": {"env": "WHATSAPP_API_URL", "Type": "String", "Default": "https://graph.facebook.com/v19.0",
                       "Description": "WhatsApp Business Cloud API base URL"},
    "SlackApiUrl": {"env": "SLACK_API_URL", "Type": "String", "Default": "https://slack.com/api/",
                    "Description": "Slack Web API base URL"},
    "CallsPerSecond": {"env": "CALLS_PER_SECOND", "Type": "Number", "Default": 1, "MinValue": 1,
                       "Description": "Provider calls per second the dispatch workers may place"},
    "SenderEmail": {"env": "SENDER_EMAIL", "Type": "String", "Default": "no-reply@example.co.id",
                    "Description": "Verified SES identity the repayment-calendar email is sent from"},
    "ProviderSecretsArn": {"env": "PROVIDER_SECRETS_ARN", "Type": "String",
                           "AllowedPattern": "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$",
                           "Description": "Secrets Manager ARN of provider tokens and callback signing secrets"},
    "AlarmTopicArn": {"env": None, "Type": "String", "Default": "",
                      "Description": "SNS topic for alarms (empty: alarms without actions)"},
}
ENV_TO_PARAMETER = {spec["env"]: name for name, spec in PARAMETERS.items() if spec["env"]}
# Settings every function gets.
COMMON_ENV = {"DATABASE_SECRET_ARN": {"Ref": "DatabaseSecretArn"}, "LOG_LEVEL": "INFO",
              "POWERTOOLS_SERVICE_NAME": "julo-reminders"}


def logical_id(name: str, suffix: str = "") -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) + suffix


def env_key(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _queue_ids(manifest: Manifest) -> dict[str, str]:
    names = [q.name for q in manifest.queues] + [q.dlq for q in manifest.queues if q.dlq]
    return {n: logical_id(n, "Queue") for n in dict.fromkeys(names)}


def _statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _function_policy(spec: FunctionSpec, manifest: Manifest, queue_ids: dict[str, str]) -> list[dict[str, Any]]:
    perms = spec.permissions
    log_group = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*"
                            + logical_id(spec.name) + "*"}
    statements = [
        _statement("Logs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [log_group]),
        _statement("DatabaseSecret", ["secretsmanager:GetSecretValue"],
                   [{"Ref": "DatabaseSecretArn"}]
                   + ([{"Ref": "ProviderSecretsArn"}] if perms.get("provider_secrets") else [])),
    ]
    if spec.sqs_queue:
        statements.append(_statement("ConsumeTrigger", [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
        ], [{"Fn::GetAtt": [queue_ids[spec.sqs_queue], "Arn"]}]))
    if perms.get("sqs_send"):
        statements.append(_statement("SendToQueues", ["sqs:SendMessage", "sqs:GetQueueUrl"],
                                     [{"Fn::GetAtt": [queue_ids[q], "Arn"]} for q in perms["sqs_send"]]))
    if perms.get("dynamodb"):
        statements.append(_statement("Ledger", [
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
            "dynamodb:ConditionCheckItem",
        ], [{"Fn::GetAtt": [logical_id(t, "Table"), "Arn"]} for t in perms["dynamodb"]]))
    if perms.get("states_start"):
        machines = [{"Ref": logical_id(sm, "StateMachine")} for sm in perms["states_start"]]
        executions = [
            {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${"
                        + logical_id(sm, "StateMachine") + ".Name}:*"}
            for sm in perms["states_start"]
        ]
        statements.append(_statement("StartWorkflow", ["states:StartExecution", "states:DescribeExecution"],
                                     machines + executions))
    if perms.get("states_callback"):
        statements.append(_statement("ReportStage", [
            "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
        ], [{"Ref": logical_id(sm, "StateMachine")} for sm in perms["states_callback"]]))
    if perms.get("ses_send"):
        statements.append(_statement("SendEmail", ["ses:SendRawEmail"], [
            {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmail}"}
        ]))
    return statements


def _function_env(spec: FunctionSpec, manifest: Manifest, queue_ids: dict[str, str]) -> dict[str, Any]:
    env: dict[str, Any] = dict(COMMON_ENV)
    perms = spec.permissions
    queues = set(perms.get("sqs_send", [])) | ({spec.sqs_queue} if spec.sqs_queue else set())
    for q in sorted(queues):
        env[env_key("QUEUE_URL_", q)] = {"Ref": queue_ids[q]}
    for t in perms.get("dynamodb", []):
        env[env_key("TABLE_NAME_", t)] = {"Ref": logical_id(t, "Table")}
    for sm in sorted(set(perms.get("states_start", [])) | set(perms.get("states_callback", []))):
        env[env_key("STATE_MACHINE_ARN_", sm)] = {"Ref": logical_id(sm, "StateMachine")}
    for name in spec.env:
        if name in env:
            continue
        if name not in ENV_TO_PARAMETER:
            raise ValueError(f"function {spec.name}: setting {name} has no template parameter; add it to PARAMETERS")
        env[name] = {"Ref": ENV_TO_PARAMETER[name]}
    return env


def _function_events(spec: FunctionSpec, queue_ids: dict[str, str]) -> dict[str, Any]:
    events: dict[str, Any] = {}
    for i, trigger in enumerate(spec.triggers):
        if "sqs" in trigger:
            events[f"Sqs{i}"] = {"Type": "SQS", "Properties": {
                "Queue": {"Fn::GetAtt": [queue_ids[trigger["sqs"]], "Arn"]},
                "BatchSize": int(trigger.get("batch_size", 10)),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            }}
        elif "schedule" in trigger:
            props: dict[str, Any] = {"Schedule": trigger["schedule"], "Enabled": True}
            if "input" in trigger:
                props["Input"] = json.dumps(trigger["input"], sort_keys=True)
            events[f"Schedule{i}"] = {"Type": "Schedule", "Properties": props}
        else:
            raise ValueError(f"function {spec.name}: unknown trigger {trigger}")
    return events


def render_definition(asl_text: str) -> tuple[str, dict[str, Any]]:
    """ASL with ``${QueueUrl:name}`` as CloudFormation substitutions, and their values."""
    subs: dict[str, Any] = {}

    def sub(match: re.Match[str]) -> str:
        key = logical_id(match.group(1), "QueueUrl")
        subs[key] = {"Ref": logical_id(match.group(1), "Queue")}
        return "${" + key + "}"

    return PLACEHOLDER.sub(sub, asl_text), subs


def build_template(chalice_sam: dict[str, Any], manifest: Manifest, api_code_uri: str = "chalice/deployment.zip",
                   functions_code_uri: str = "functions.zip") -> dict[str, Any]:
    t = copy.deepcopy(chalice_sam)
    t["Description"] = "julo-reminders: partner API, T-3 reminder workflow, disbursement events, reports"
    t["Parameters"] = {name: {k: v for k, v in spec.items() if k != "env"} for name, spec in PARAMETERS.items()}
    t["Conditions"] = {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}}
    res = t.setdefault("Resources", {})
    queue_ids = _queue_ids(manifest)

    # the API: its code, settings and the database secret it may read
    for r in list(res.values()):
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = api_code_uri
            r["Properties"].setdefault("Environment", {}).setdefault("Variables", {}).update(
                {**COMMON_ENV, "PROVIDER_SECRETS_ARN": {"Ref": "ProviderSecretsArn"}})
        if r["Type"] == "AWS::IAM::Role":
            for policy in r["Properties"].get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    if st.get("Sid") == "DatabaseSecret":
                        st["Resource"] = [{"Ref": "DatabaseSecretArn"}, {"Ref": "ProviderSecretsArn"}]

    for q in manifest.queues:
        if q.dlq and queue_ids[q.dlq] not in res:
            res[queue_ids[q.dlq]] = {"Type": "AWS::SQS::Queue", "Properties": {
                "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}
            res[logical_id(q.dlq, "DepthAlarm")] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmDescription": f"Messages in dead-letter queue {q.dlq}: inspect and redrive",
                "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_ids[q.dlq], "QueueName"]}}],
                "Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
                "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
            }}
        props: dict[str, Any] = {"VisibilityTimeout": q.visibility_timeout, "SqsManagedSseEnabled": True}
        if q.dlq:
            props["RedrivePolicy"] = {"deadLetterTargetArn": {"Fn::GetAtt": [queue_ids[q.dlq], "Arn"]},
                                      "maxReceiveCount": q.max_receive_count}
        res[queue_ids[q.name]] = {"Type": "AWS::SQS::Queue", "Properties": props}

    for tbl in manifest.tables:
        keys = [{"AttributeName": tbl.hash_key, "KeyType": "HASH"}]
        attrs = [{"AttributeName": tbl.hash_key, "AttributeType": "S"}]
        if tbl.range_key:
            keys.append({"AttributeName": tbl.range_key, "KeyType": "RANGE"})
            attrs.append({"AttributeName": tbl.range_key, "AttributeType": "S"})
        props = {"BillingMode": "PAY_PER_REQUEST", "KeySchema": keys, "AttributeDefinitions": attrs,
                 "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
        if tbl.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": tbl.ttl_attribute, "Enabled": True}
        res[logical_id(tbl.name, "Table")] = {"Type": "AWS::DynamoDB::Table", "Properties": props}

    for sm in manifest.state_machines:
        definition, subs = render_definition((ROOT / sm.definition).read_text())
        used_queues = [{"Fn::GetAtt": [v["Ref"], "Arn"]} for v in subs.values()]
        role_id = logical_id(sm.name, "StateMachineRole")
        res[role_id] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "SendStageMessages", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                _statement("StageQueues", ["sqs:SendMessage"], used_queues)]}}],
        }}
        res[logical_id(sm.name, "StateMachine")] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineType": "STANDARD", "DefinitionString": definition, "DefinitionSubstitutions": subs,
            "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]},
        }}
        res[logical_id(sm.name, "FailedAlarm")] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": f"A {sm.name} execution failed, timed out or was aborted",
            "Namespace": "AWS/States", "MetricName": "ExecutionsFailed",
            "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": logical_id(sm.name, "StateMachine")}}],
            "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
        }}

    for spec in manifest.functions:
        fid = logical_id(spec.name, "Function")
        role_id = logical_id(spec.name, "Role")
        res[role_id] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": f"{logical_id(spec.name)}Policy", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": _function_policy(spec, manifest, queue_ids)}}],
        }}
        res[fid] = {"Type": "AWS::Serverless::Function", "Properties": {
            "CodeUri": functions_code_uri, "Handler": spec.handler, "Runtime": RUNTIME,
            "Timeout": spec.timeout, "MemorySize": spec.memory, "Role": {"Fn::GetAtt": [role_id, "Arn"]},
            "Environment": {"Variables": _function_env(spec, manifest, queue_ids)},
            "Events": _function_events(spec, queue_ids),
        }}

    if any(f.permissions.get("ses_send") for f in manifest.functions):
        res["SenderIdentity"] = {"Type": "AWS::SES::EmailIdentity",
                                 "Properties": {"EmailIdentity": {"Ref": "SenderEmail"}}}
    return t


def chalice_package(out: Path, stage: str) -> dict[str, Any]:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-3")}
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "package", "--stage", stage, "--pkg-format", "cloudformation", str(out)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "sam.json").read_text())


def build_functions_zip(api_zip: Path, target: Path) -> None:
    """One artifact for every handler: the API's package (chalicelib + dependencies) plus functions/."""
    shutil.copyfile(api_zip, target)
    with zipfile.ZipFile(target, "a", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted((ROOT / "functions").rglob("*.py")):
            z.write(path, path.relative_to(ROOT).as_posix())
        for path in sorted((ROOT / "chalicelib").rglob("*")):
            if path.suffix in {".sql", ".json", ".yaml"} and path.is_file():
                name = path.relative_to(ROOT).as_posix()
                if name not in z.namelist():
                    z.write(path, name)


def package(out: Path, stage: str = "dev") -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sam = chalice_package(out / "chalice", stage)
    build_functions_zip(out / "chalice" / "deployment.zip", out / "functions.zip")
    template = build_template(sam, load_manifest())
    path = out / "template.json"
    path.write_text(json.dumps(template, indent=2, sort_keys=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    path = package(args.out, args.stage)
    template = json.loads(path.read_text())
    kinds: dict[str, int] = {}
    for r in template["Resources"].values():
        kinds[r["Type"]] = kinds.get(r["Type"], 0) + 1
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    for kind, n in sorted(kinds.items()):
        print(f"  {n:>3}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
