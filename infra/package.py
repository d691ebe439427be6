"""Build one deployable SAM template plus artifacts in dist/, offline (no AWS account needed).

    python -m infra.package [--out dist] [--stage dev]

1. ``chalice package`` builds the HTTP API (app.py + chalicelib) and its deployment.zip.
2. The same zip plus ``functions/`` becomes ``functions.zip``: one artifact for every handler.
3. Everything in ``infra/functions.yaml`` is added to Chalice's template: SQS queues with DLQs
   and redrive (PII queues under a customer-managed KMS key), DynamoDB tables with TTL, state
   machines (ASL with the queues' URLs substituted), the functions with their SQS (partial
   batch responses, maximum concurrency) and schedule triggers, one log group per function,
   the SES identity, CloudWatch alarms (DLQ depth, failed executions, Errors of every
   scheduled function) and one least-privilege IAM role per function (and the API).
   Each function's ``Environment`` and the template's ``Parameters`` are generated from the
   settings classes of ``chalicelib/settings.py``.
The result is ``dist/template.json``; ``cfn-lint`` checks it (``make package`` runs it).
"""

from __future__ import annotations

import argparse
import copy
import fcntl
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

from chalicelib.settings import SECRET_GROUPS, Settings, Spec, database_group  # noqa: E402
from infra.api_access import ACCESS_DENIED_MESSAGE, ACCESS_PARAMETERS, method_settings, resource_policy  # noqa: E402
from infra.manifest import ApiSpec, FunctionSpec, Manifest, load_manifest  # noqa: E402
from infra.observability import add_observability  # noqa: E402

RUNTIME = "python3.11"
PLACEHOLDER = re.compile(r"\$\{QueueUrl:([A-Za-z0-9_.-]+)\}")
SECRET_ARN_PATTERN = "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$"  # noqa: S105 (an ARN pattern, not a secret)
DLQ_RETENTION_SECONDS = 4 * 24 * 3600  # long enough for a weekend's inspection, short for PII
API_LOGICAL_ID = "APIHandler"
REST_API_ID = "RestAPI"  # Chalice's AWS::Serverless::Api
API_STAGE = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"]["api_gateway_stage"]
NO_VALUE = {"Ref": "AWS::NoValue"}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}

# Parameters of the stack itself (the rest come from the settings classes and secret groups).
STACK_PARAMETERS: dict[str, dict[str, Any]] = {
    "SubnetIds": {"Type": "CommaDelimitedList",
                  "Description": "private subnets of the functions that use the database (VpcConfig)"},
    "SecurityGroupIds": {"Type": "CommaDelimitedList",
                         "Description": "security groups of those functions (allowed to reach the database)"},
    "LogRetentionDays": {"Type": "Number", "Default": 30,
                         "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731],
                         "Description": "days the functions' and the API's logs are kept"},
    "ApiThrottlingRateLimit": {"Type": "Number", "Default": 200, "MinValue": 1,
                               "Description": "requests per second of each API method outside the partner, staff and "
                                              "callback groups (/health)"},
    "ApiThrottlingBurstLimit": {"Type": "Number", "Default": 400, "MinValue": 1,
                                "Description": "burst of each of those methods (requests)"},
    "ApiReservedConcurrency": {"Type": "Number", "Default": 50, "MinValue": 1,
                               "Description": "Lambda containers the API may use (keeps the rest for the workers)"},
    **ACCESS_PARAMETERS,
    "AlarmTopicArn": {"Type": "String", "Default": "",
                      "Description": "another SNS topic the alarms notify besides the stack's AlarmTopic"},
    "CreateSenderIdentity": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                             "Description": "the stack creates SenderEmail's SES identity (false: it exists "
                                            "already in the account, where creating it again would fail)"},
}


def logical_id(name: str, suffix: str = "") -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) + suffix


def env_key(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _queue_ids(manifest: Manifest) -> dict[str, str]:
    names = [q.name for q in manifest.queues] + [q.dlq for q in manifest.queues if q.dlq]
    return {n: logical_id(n, "Queue") for n in dict.fromkeys(names)}


def _statement(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _resource_ref(kind: str, name: str, queue_ids: dict[str, str]) -> dict[str, Any]:
    if kind == "queue":
        return {"Ref": queue_ids[name]}
    if kind == "table":
        return {"Ref": logical_id(name, "Table")}
    return {"Ref": logical_id(name, "StateMachine")}


def secret_groups(cls: type[Settings]) -> list[str]:
    """The secret groups a settings class reads (the database one when it uses PostgreSQL)."""
    database = database_group(cls)
    groups = [database.name] if database else []
    for _attr, spec in cls.specs():
        if spec.secret and spec.secret not in groups:
            groups.append(spec.secret)
    return groups


def _parameter(spec: Spec) -> dict[str, Any]:
    """The template parameter of one deployable setting."""
    p: dict[str, Any] = {"Type": spec.parameter_type, "Description": f"{spec.env}: {spec.description}"}
    if spec.parameter_default is not None:
        p["Default"] = spec.parameter_default
    elif spec.parameter_type == "String":
        p["MinLength"] = 1
    if spec.allowed:
        p["AllowedValues"] = list(spec.allowed)
    if spec.parameter_pattern:
        p["AllowedPattern"] = spec.parameter_pattern
    if spec.parameter_type == "Number":
        p["MinValue"] = 2 if spec.env == "DISPATCH_MAX_CONCURRENCY" else 0
    return p


def settings_parameters(classes: list[type[Settings]]) -> dict[str, dict[str, Any]]:
    """Template parameters of every deployable setting and of each secret group used."""
    params: dict[str, dict[str, Any]] = {}
    for cls in classes:
        for group in secret_groups(cls):
            g = SECRET_GROUPS[group]
            if g.generated:  # the template creates it: no parameter
                continue
            params[g.parameter] = {"Type": "String", "AllowedPattern": SECRET_ARN_PATTERN,
                                   "Description": f"Secrets Manager ARN: {g.description}"}
        for _attr, spec in cls.specs():
            if spec.parameter and spec.parameter not in params:
                params[spec.parameter] = _parameter(spec)
    return params


def fallback_condition(parameter: str) -> str:
    return f"Has{parameter}"


def stack_value(name: str) -> Any:
    """A value the stack knows once it exists (``Spec.parameter_fallback``)."""
    if name == "api_url":  # the Chalice API's own URL, as its EndpointURL output builds it
        return {"Fn::Sub": "https://${" + REST_API_ID + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + API_STAGE}
    raise KeyError(f"no stack value {name!r}")


def settings_conditions(classes: list[type[Settings]]) -> dict[str, Any]:
    """``Has<Parameter>`` for every parameter that falls back to a stack value when empty."""
    return {fallback_condition(spec.parameter): {"Fn::Not": [{"Fn::Equals": [{"Ref": spec.parameter}, ""]}]}
            for cls in classes for _attr, spec in cls.specs() if spec.parameter and spec.parameter_fallback}


def settings_environment(cls: type[Settings], queue_ids: dict[str, str]) -> dict[str, Any]:
    """A function's template Environment, generated from its settings class."""
    env: dict[str, Any] = {"POWERTOOLS_SERVICE_NAME": "julo-reminders"}
    for group in secret_groups(cls):
        g = SECRET_GROUPS[group]
        env[g.arn_env] = {"Ref": g.parameter}
    for _attr, spec in cls.specs():
        if spec.parameter and spec.parameter_fallback:
            env[spec.env] = {"Fn::If": [fallback_condition(spec.parameter), {"Ref": spec.parameter},
                                        stack_value(spec.parameter_fallback)]}
        elif spec.parameter:
            env[spec.env] = {"Ref": spec.parameter}
        elif spec.resource:
            env[spec.env] = _resource_ref(*spec.resource, queue_ids)
    return env


DYNAMODB_DEFAULT_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "Query", "ConditionCheckItem")


def dynamodb_permissions(declared: Any) -> dict[str, tuple[str, ...]]:
    """Table -> the DynamoDB actions a function may call on it: ``[tables]`` (the default actions) or
    ``{table: [actions]}`` (exactly those)."""
    if isinstance(declared, dict):
        return {t: tuple(f"dynamodb:{a}" for a in actions) for t, actions in declared.items()}
    return {t: tuple(f"dynamodb:{a}" for a in DYNAMODB_DEFAULT_ACTIONS) for t in declared}


def _dynamodb_resources(declared: str, indexed: set[str], queries: bool) -> list[Any]:
    """The ARNs of a ``dynamodb`` permission's key: ``<table>`` (and its indexes when Query is among the
    actions and the table has some: IAM checks a Query on an index against the index's ARN), or
    ``<table>/index/<index>`` (that index only)."""
    table, _, index = declared.partition("/index/")
    arn = "${" + logical_id(table, "Table") + ".Arn}"
    if index:
        return [{"Fn::Sub": f"{arn}/index/{index}"}]
    out: list[Any] = [{"Fn::GetAtt": [logical_id(table, "Table"), "Arn"]}]
    if queries and table in indexed:
        out.append({"Fn::Sub": f"{arn}/index/*"})
    return out


def _secret_statements(cls: type[Settings]) -> list[dict[str, Any]]:
    statements = []
    secrets = [{"Ref": SECRET_GROUPS[g].parameter} for g in secret_groups(cls)]
    if secrets:
        statements.append(_statement("Secrets", ["secretsmanager:GetSecretValue"], secrets))
    if any(SECRET_GROUPS[g].generated for g in secret_groups(cls)):  # encrypted with the stack's key
        key = _statement("GeneratedSecretKey", ["kms:Decrypt"], [{"Fn::GetAtt": ["PiiKey", "Arn"]}])
        key["Condition"] = {"StringEquals": {"kms:ViaService": {
            "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}}
        statements.append(key)
    return statements


def _queue_statements(perms: dict[str, Any], queue_ids: dict[str, str], sqs_queue: str | None,
                      manifest: Manifest) -> list[dict[str, Any]]:
    statements = []
    pii = {q.name for q in manifest.queues if q.pii}
    if sqs_queue:
        # GetQueueUrl: handlers look up their own queue's URL (redrive maxReceiveCount, visibility backoff)
        statements.append(_statement("ConsumeTrigger", [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
        ], [{"Fn::GetAtt": [queue_ids[sqs_queue], "Arn"]}]))
    if perms.get("sqs_send"):
        statements.append(_statement("SendToQueues", ["sqs:SendMessage", "sqs:GetQueueUrl"],
                                     [{"Fn::GetAtt": [queue_ids[q], "Arn"]} for q in perms["sqs_send"]]))
    sends_pii = bool(pii & set(perms.get("sqs_send", [])))
    if sends_pii or sqs_queue in pii:
        actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if sends_pii else [])
        statements.append(_statement("PiiQueueKey", actions, [{"Fn::GetAtt": ["PiiKey", "Arn"]}]))
    return statements


def _table_statements(perms: dict[str, Any], manifest: Manifest) -> list[dict[str, Any]]:
    """One statement per set of actions: "Ledger" for the first, "Ledger2", … for the others."""
    if not perms.get("dynamodb"):
        return []
    indexed = {t.name for t in manifest.tables if t.indexes}
    by_actions: dict[tuple[str, ...], list[Any]] = {}
    for table, table_actions in dynamodb_permissions(perms["dynamodb"]).items():
        by_actions.setdefault(table_actions, []).extend(
            _dynamodb_resources(table, indexed, "dynamodb:Query" in table_actions))
    return [_statement("Ledger" + (str(i + 1) if i else ""), list(table_actions), resources)
            for i, (table_actions, resources) in enumerate(by_actions.items())]


def _workflow_statements(perms: dict[str, Any]) -> list[dict[str, Any]]:
    statements = []
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
    return statements


def _function_policy(name: str, cls: type[Settings], perms: dict[str, Any], queue_ids: dict[str, str],
                     sqs_queue: str | None, manifest: Manifest) -> list[dict[str, Any]]:
    log_group = {"Fn::GetAtt": [logical_id(name, "LogGroup"), "Arn"]}
    statements = [
        _statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group]),
        *_secret_statements(cls),
    ]
    if cls.database:
        statements.append(_statement("VpcNetworkInterfaces", [
            "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"], ["*"]))
    statements += _queue_statements(perms, queue_ids, sqs_queue, manifest)
    statements += _table_statements(perms, manifest)
    statements += _workflow_statements(perms)
    if perms.get("ses_send"):
        statements.append(_statement("SendEmail", ["ses:SendRawEmail"], [
            {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmail}"}
        ]))
    return statements


def _role(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": f"{logical_id(name)}Policy", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": statements}}],
    }}


def _concurrency(spec: FunctionSpec) -> Any:
    if isinstance(spec.concurrency, str) and spec.concurrency:
        return {"Ref": spec.concurrency}
    return int(spec.concurrency) if spec.concurrency else None


def _function_events(spec: FunctionSpec, queue_ids: dict[str, str]) -> dict[str, Any]:
    events: dict[str, Any] = {}
    for i, trigger in enumerate(spec.triggers):
        if "sqs" in trigger:
            props: dict[str, Any] = {
                "Queue": {"Fn::GetAtt": [queue_ids[trigger["sqs"]], "Arn"]},
                "BatchSize": int(trigger.get("batch_size", 10)),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            }
            concurrency = _concurrency(spec)
            if concurrency is not None:
                props["ScalingConfig"] = {"MaximumConcurrency": concurrency}
            events[f"Sqs{i}"] = {"Type": "SQS", "Properties": props}
        elif "schedule" in trigger:
            props = {"Schedule": trigger["schedule"], "Enabled": True}
            if "input" in trigger:
                props["Input"] = json.dumps(trigger["input"], sort_keys=True)
            events[f"Schedule{i}"] = {"Type": "Schedule", "Properties": props}
        else:
            raise ValueError(f"function {spec.name}: unknown trigger {trigger}")
    return events


def _alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]],
           statistic: str = "Sum") -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
        "Dimensions": dimensions, "Statistic": statistic, "Period": 300, "EvaluationPeriods": 1,
        "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": ALARM_ACTIONS,
    }}


def _log_group(name: str) -> dict[str, Any]:
    """A function's own log group (named by stack and function: no dependency on the function)."""
    return {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": {"Fn::Sub": "/julo/${AWS::StackName}/" + name},
        "RetentionInDays": {"Ref": "LogRetentionDays"},
        "KmsKeyId": {"Fn::GetAtt": ["PiiKey", "Arn"]},
    }}


def _pii_key() -> dict[str, Any]:
    """The customer-managed key of the PII queues and the log groups (rotated yearly)."""
    return {"Type": "AWS::KMS::Key", "Properties": {
        "Description": "julo-reminders: queues carrying phone numbers and names, and log groups",
        "EnableKeyRotation": True,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "AccountAdministers", "Effect": "Allow",
             "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "LogsEncrypt", "Effect": "Allow",
             "Principal": {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
                 "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}}}},
            {"Sid": "StatesSendToPiiQueues", "Effect": "Allow",
             "Principal": {"Service": "sqs.amazonaws.com"},
             "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
        ]},
    }}


GATEWAY_RESPONSES = {
    # unknown paths and methods: API Gateway's own 403 becomes our 404 shape
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "THROTTLED": ("429", "throttled"),
    # the resource policy refused the caller (a staff route from outside StaffSourceCidrs)
    "ACCESS_DENIED": ("403", "forbidden"),
    "DEFAULT_4XX": (None, "bad_request"),
    "DEFAULT_5XX": (None, "internal_error"),
}


# fixed messages (API Gateway's own names the API's ARN and says "User: anonymous is not authorized")
GATEWAY_MESSAGES = {"ACCESS_DENIED": ACCESS_DENIED_MESSAGE}


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own errors in our ``{"error": {"code", "message"}}`` shape."""
    out: dict[str, Any] = {}
    for kind, (status, code) in GATEWAY_RESPONSES.items():
        message = json.dumps(GATEWAY_MESSAGES[kind]) if kind in GATEWAY_MESSAGES else "$context.error.messageString"
        body = '{"error": {"code": "' + code + '", "message": ' + message + '}}'
        response: dict[str, Any] = {"responseTemplates": {"application/json": body},
                                    "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"}}
        if status:
            response["statusCode"] = status
        out[kind] = response
    return out


ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.resourcePath", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "integrationStatus": "$context.integrationStatus",
    "error": "$context.error.message",
}, sort_keys=True)


def render_definition(asl_text: str) -> tuple[str, dict[str, Any]]:
    """ASL with ``${QueueUrl:name}`` as CloudFormation substitutions, and their values."""
    subs: dict[str, Any] = {}

    def sub(match: re.Match[str]) -> str:
        key = logical_id(match.group(1), "QueueUrl")
        subs[key] = {"Ref": logical_id(match.group(1), "Queue")}
        return "${" + key + "}"

    return PLACEHOLDER.sub(sub, asl_text), subs


def _queues(res: dict[str, Any], manifest: Manifest, queue_ids: dict[str, str]) -> None:
    pii_dlqs = {q.dlq for q in manifest.queues if q.pii and q.dlq}
    for q in manifest.queues:
        if q.dlq and queue_ids[q.dlq] not in res:
            res[queue_ids[q.dlq]] = {"Type": "AWS::SQS::Queue", "Metadata": {"Name": q.dlq}, "Properties": {
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS, **_encryption(q.dlq in pii_dlqs)}}
            res[logical_id(q.dlq, "DepthAlarm")] = _alarm(
                f"Messages in dead-letter queue {q.dlq}: inspect and redrive", "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_ids[q.dlq], "QueueName"]}}], "Maximum")
        props: dict[str, Any] = {"VisibilityTimeout": q.visibility_timeout, **_encryption(q.pii)}
        if q.dlq:
            props["RedrivePolicy"] = {"deadLetterTargetArn": {"Fn::GetAtt": [queue_ids[q.dlq], "Arn"]},
                                      "maxReceiveCount": q.max_receive_count}
        res[queue_ids[q.name]] = {"Type": "AWS::SQS::Queue", "Metadata": {"Name": q.name}, "Properties": props}


def _tables(res: dict[str, Any], manifest: Manifest) -> None:
    for tbl in manifest.tables:
        props = {"BillingMode": "PAY_PER_REQUEST", **tbl.key_schema(),
                 "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                 "SSESpecification": {"SSEEnabled": True}}
        if tbl.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": tbl.ttl_attribute, "Enabled": True}
        res[logical_id(tbl.name, "Table")] = {"Type": "AWS::DynamoDB::Table", "Metadata": {"Name": tbl.name},
                                             "Properties": props}


def _state_machines(res: dict[str, Any], manifest: Manifest) -> None:
    for sm in manifest.state_machines:
        definition, subs = render_definition((ROOT / sm.definition).read_text())
        used_queues = [{"Fn::GetAtt": [v["Ref"], "Arn"]} for v in subs.values()]
        role_id = logical_id(sm.name, "StateMachineRole")
        statements = [_statement("StageQueues", ["sqs:SendMessage"], used_queues)]
        res[role_id] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "SendStageMessages", "PolicyDocument": {"Version": "2012-10-17",
                                                                               "Statement": statements}}],
        }}
        res[logical_id(sm.name, "StateMachine")] = {"Type": "AWS::StepFunctions::StateMachine",
                                                    "Metadata": {"Name": sm.name}, "Properties": {
            "StateMachineType": "STANDARD", "DefinitionString": definition, "DefinitionSubstitutions": subs,
            "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]},
        }}
        res[logical_id(sm.name, "FailedAlarm")] = _alarm(
            f"A {sm.name} execution failed, timed out or was aborted", "AWS/States", "ExecutionsFailed",
            [{"Name": "StateMachineArn", "Value": {"Ref": logical_id(sm.name, "StateMachine")}}])


def _functions(res: dict[str, Any], manifest: Manifest, queue_ids: dict[str, str], functions_code_uri: str,
               vpc: dict[str, Any]) -> None:
    for spec in manifest.functions:
        fid = logical_id(spec.name, "Function")
        cls = spec.settings_class
        res[logical_id(spec.name, "Role")] = _role(spec.name, _function_policy(
            spec.name, cls, spec.permissions, queue_ids, spec.sqs_queue, manifest))
        fprops: dict[str, Any] = {
            "CodeUri": functions_code_uri, "Handler": spec.handler, "Runtime": RUNTIME,
            "Timeout": spec.timeout, "MemorySize": spec.memory,
            "Role": {"Fn::GetAtt": [logical_id(spec.name, "Role"), "Arn"]},
            "Environment": {"Variables": settings_environment(cls, queue_ids)},
            "Events": _function_events(spec, queue_ids),
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": logical_id(spec.name, "LogGroup")}},
        }
        concurrency = _concurrency(spec)
        if concurrency is not None:
            fprops["ReservedConcurrentExecutions"] = concurrency
        if cls.database:
            fprops["VpcConfig"] = vpc
        res[fid] = {"Type": "AWS::Serverless::Function", "Metadata": {"Name": spec.name, "Settings": cls.__name__},
                    "Properties": fprops}
        res[logical_id(spec.name, "LogGroup")] = _log_group(spec.name)
        if spec.schedule:
            res[logical_id(spec.name, "ErrorsAlarm")] = _alarm(
                f"{spec.name} failed (a scheduled run raised or timed out)", "AWS/Lambda", "Errors",
                [{"Name": "FunctionName", "Value": {"Ref": fid}}])


def build_template(chalice_sam: dict[str, Any], manifest: Manifest, api_code_uri: str = "chalice/deployment.zip",
                   functions_code_uri: str = "functions.zip") -> dict[str, Any]:
    t = copy.deepcopy(chalice_sam)
    t["Description"] = "julo-reminders: partner API, T-3 reminder workflow, disbursement events, reports"
    classes = [manifest.api.settings_class] + [f.settings_class for f in manifest.functions if f.settings]
    t["Parameters"] = {**settings_parameters(list(dict.fromkeys(classes))), **STACK_PARAMETERS}
    t["Conditions"] = {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}}
    t["Conditions"].update(settings_conditions(list(dict.fromkeys(classes))))
    res = t.setdefault("Resources", {})
    queue_ids = _queue_ids(manifest)
    res["PiiKey"] = _pii_key()
    vpc = {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}}

    _api(t, manifest.api, manifest, queue_ids, api_code_uri, vpc)

    _queues(res, manifest, queue_ids)
    _tables(res, manifest)
    _state_machines(res, manifest)
    _functions(res, manifest, queue_ids, functions_code_uri, vpc)

    _generated_secrets(res, manifest)
    if any(f.permissions.get("ses_send") for f in manifest.functions):
        t["Conditions"]["CreatesSenderIdentity"] = {"Fn::Equals": [{"Ref": "CreateSenderIdentity"}, "true"]}
        res["SenderIdentity"] = {"Type": "AWS::SES::EmailIdentity", "Condition": "CreatesSenderIdentity",
                                 "Properties": {"EmailIdentity": {"Ref": "SenderEmail"}}}
    add_observability(t, manifest, queue_ids)
    return t


def _generated_secrets(res: dict[str, Any], manifest: Manifest) -> None:
    """Each generated secret group some role reads: the secret (a random key under the stack's KMS
    key) and a resource policy that refuses GetSecretValue to every principal but those roles."""
    readers: dict[str, list[Any]] = {}
    roles = [(manifest.api.settings_class, res[API_LOGICAL_ID]["Properties"]["Role"]["Fn::GetAtt"][0])
             ] if API_LOGICAL_ID in res else []
    roles += [(f.settings_class, logical_id(f.name, "Role")) for f in manifest.functions if f.settings]
    for cls, role in roles:
        for group in secret_groups(cls):
            if SECRET_GROUPS[group].generated and {"Fn::GetAtt": [role, "Arn"]} not in readers.get(group, []):
                readers.setdefault(group, []).append({"Fn::GetAtt": [role, "Arn"]})
    for group, arns in readers.items():
        g = SECRET_GROUPS[group]
        keys = sorted({spec.env for cls, _r in roles for _a, spec in cls.specs()
                       if spec.secret == group and spec.required})
        if len(keys) != 1:
            raise ValueError(f"generated secret group {group} must have exactly one required key, has {keys}")
        res[g.parameter] = {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Description": f"julo-reminders: {g.description}",
            "KmsKeyId": {"Ref": "PiiKey"},
            "GenerateSecretString": {"SecretStringTemplate": "{}", "GenerateStringKey": keys[0],
                                     "PasswordLength": 64, "ExcludePunctuation": True},
        }}
        res[g.parameter + "Policy"] = {"Type": "AWS::SecretsManager::ResourcePolicy", "Properties": {
            "SecretId": {"Ref": g.parameter}, "BlockPublicPolicy": True,
            "ResourcePolicy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OnlyItsReaders", "Effect": "Deny", "Principal": {"AWS": "*"},
                "Action": "secretsmanager:GetSecretValue", "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": arns}}}]},
        }}


def _encryption(pii: bool) -> dict[str, Any]:
    if pii:
        return {"KmsMasterKeyId": {"Ref": "PiiKey"}, "KmsDataKeyReusePeriodSeconds": 3600}
    return {"KmsMasterKeyId": "alias/aws/sqs"}


def _api(t: dict[str, Any], api: ApiSpec, manifest: Manifest, queue_ids: dict[str, str], code_uri: str,
         vpc: dict[str, Any]) -> None:
    """The Chalice API: its code, settings, role, VPC, log groups, stage throttling and error shape."""
    res = t["Resources"]
    if API_LOGICAL_ID not in res:  # a template without the Chalice part (tests of the manifest part)
        return
    cls = api.settings_class
    fn = res[API_LOGICAL_ID]
    props = fn["Properties"]
    props["CodeUri"] = code_uri
    props["Environment"] = {"Variables": settings_environment(cls, queue_ids)}
    props["LoggingConfig"] = {"LogFormat": "JSON", "LogGroup": {"Ref": "ApiHandlerLogGroup"}}
    props["ReservedConcurrentExecutions"] = {"Ref": "ApiReservedConcurrency"}
    props["Tracing"] = "Active"
    if cls.database:
        props["VpcConfig"] = vpc
    fn["Metadata"] = {"Name": "api", "Settings": cls.__name__}
    role_id = props["Role"]["Fn::GetAtt"][0]
    statements = _function_policy("api-handler", cls, api.permissions, queue_ids, None, manifest)
    statements[0]["Resource"] = [{"Fn::GetAtt": ["ApiHandlerLogGroup", "Arn"]}]
    statements.append(_statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]))
    res[role_id] = _role("api-handler", statements)
    res["ApiHandlerLogGroup"] = _log_group("api-handler")
    res["ApiAccessLogGroup"] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "RetentionInDays": {"Ref": "LogRetentionDays"}, "KmsKeyId": {"Fn::GetAtt": ["PiiKey", "Arn"]}}}
    rest = res["RestAPI"]["Properties"]
    rest["EndpointConfiguration"] = "REGIONAL"
    rest["TracingEnabled"] = True
    # partner, staff and callback routes: each its group's throttle; staff routes: staff networks only
    rest["MethodSettings"] = method_settings(rest["DefinitionBody"]["paths"])
    rest["DefinitionBody"]["x-amazon-apigateway-policy"] = resource_policy()
    rest["AccessLogSetting"] = {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                                "Format": ACCESS_LOG_FORMAT}
    rest["DefinitionBody"]["x-amazon-apigateway-gateway-responses"] = gateway_responses()
    res["ApiErrorsAlarm"] = _alarm("The API answered 5xx", "AWS/ApiGateway", "5XXError",
                                   [{"Name": "ApiName", "Value": "julo-reminders"}])


def chalice_package(out: Path, stage: str) -> dict[str, Any]:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-3")}
    chalice = Path(sys.executable).with_name("chalice")
    # chalice builds in the checkout's .chalice/deployments: two builds at once (a test building a
    # template while the local day rebuilds dist/) would zip each other's half-written files
    lock_path = ROOT / ".local" / "chalice-package.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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
            if path.suffix in {".sql", ".json", ".yaml", ".pem"} and path.is_file():
                name = path.relative_to(ROOT).as_posix()
                if name not in z.namelist():
                    z.write(path, name)


class BuildPythonMismatch(RuntimeError):
    """The building Python is not the template's runtime: the artifact would not import in Lambda."""


def runtime_of(version: tuple[int, ...]) -> str:
    return f"python{version[0]}.{version[1]}"


def build_python() -> tuple[int, int]:
    """The version of the Python running the build (and ``chalice package``)."""
    return sys.version_info.major, sys.version_info.minor


def check_build_python(version: tuple[int, ...] | None = None) -> None:
    """Refuse to build with a Python whose minor version differs from the template's runtime.

    Chalice takes the API's runtime and every compiled wheel (psycopg2, pydantic_core, …) from
    the Python that runs ``chalice package``; the functions' runtime is ``RUNTIME``. Built on
    another minor version, the API would run another runtime than the functions, and every
    function would fail on import (a cp312 wheel does not load in python3.11).
    """
    building = runtime_of(version or build_python())
    if building != RUNTIME:
        raise BuildPythonMismatch(
            f"this Python is {building} ({sys.executable}) but the template's runtime is {RUNTIME}: "
            f"the artifact would carry {building} wheels (psycopg2, pydantic_core) that fail to import on "
            f"{RUNTIME}. Build with Python {RUNTIME.removeprefix('python')}: "
            f"rm -rf .venv && make package PYTHON=python{RUNTIME.removeprefix('python')}")


def package(out: Path, stage: str = "dev", *, local_run: bool = False) -> Path:
    """Build ``out``: template.json, bootstrap.json and the artifacts.

    ``local_run``: the template is for the local day only (``localdev/lambda_runtime/runtime.py`` runs the
    handlers from source with this machine's Python), so the build Python may differ from RUNTIME.
    """
    if not local_run:
        check_build_python()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sam = chalice_package(out / "chalice", stage)
    build_functions_zip(out / "chalice" / "deployment.zip", out / "functions.zip")
    template = build_template(sam, load_manifest())
    path = out / "template.json"
    path.write_text(json.dumps(template, indent=2, sort_keys=False) + "\n")
    (out / "bootstrap.json").write_text(json.dumps(bootstrap_template(), indent=2) + "\n")
    return path


APIGATEWAY_LOGS_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def bootstrap_template() -> dict[str, Any]:
    """Once per account and region, before the first stack: API Gateway's CloudWatch Logs role.

    API Gateway writes a stage's access and execution logs with one role per account and region,
    set in the account settings (``AWS::ApiGateway::Account``); a stage with logging on fails to
    create while it is unset ("CloudWatch Logs role ARN must be set in account settings to
    enable logging"). It is an account-wide setting, so it lives in its own small stack rather
    than in every application stack (two stacks would overwrite each other's role, and deleting
    one would leave the setting naming a deleted role): both resources are retained on delete.
    """
    retain = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "julo-reminders account bootstrap (once per account and region): API Gateway's "
                       "CloudWatch Logs role in the account settings",
        "Resources": {
            "ApiGatewayCloudWatchRole": {"Type": "AWS::IAM::Role", **retain, "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": [{"Fn::Sub": APIGATEWAY_LOGS_POLICY}],
            }},
            "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", **retain, "Properties": {
                "CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}}},
        },
        "Outputs": {"CloudWatchRoleArn": {"Value": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}}},
    }


def parameters_table(manifest: Manifest | None = None) -> str:
    """The template's parameters as a markdown table (docs/deploy.md), with who reads each."""
    manifest = manifest or load_manifest()
    users: dict[str, list[str]] = {}
    for name, cls in [("api", manifest.api.settings_class)] + [(f.name, f.settings_class) for f in manifest.functions]:
        env = settings_environment(cls, _queue_ids(manifest))
        for value in env.values():
            if isinstance(value, dict) and "Fn::If" in value:
                value = value["Fn::If"][1]
            if isinstance(value, dict) and "Ref" in value:
                users.setdefault(value["Ref"], []).append(name)
    classes = [manifest.api.settings_class] + [f.settings_class for f in manifest.functions]
    params = {**settings_parameters(list(dict.fromkeys(classes))), **STACK_PARAMETERS}
    rows = ["| parameter | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for name, p in params.items():
        default = "*(required)*" if "Default" not in p else f"`{p['Default']}`" if p["Default"] != "" else "(empty)"
        readers = users.get(name, [])
        who = ", ".join(readers) if len(readers) < 4 else f"{len(readers)} functions"
        rows.append(f"| `{name}` | {default} | {who or 'the stack'} | {p['Description']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--parameters-table", action="store_true", help="print the parameters as markdown")
    parser.add_argument("--local-run", action="store_true",
                        help="for the local day only (any Python): never deploy what this builds")
    args = parser.parse_args(argv)
    if args.parameters_table:
        print(parameters_table())
        return 0
    try:
        path = package(args.out, args.stage, local_run=args.local_run)
    except BuildPythonMismatch as exc:
        print(f"make package refused: {exc}", file=sys.stderr)
        return 2
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
