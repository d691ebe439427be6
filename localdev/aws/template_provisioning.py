"""Create what ``dist/template.json`` declares, in moto or LocalStack, with the local admin key.

Queues with their redrive policy, retention and encryption attributes, tables with TTL and
indexes, the state machine (its definition substitutions resolved) and its role, the schedules
(EventBridge rules), the SES identity, the KMS key, the log groups, one Secrets Manager secret
per secret group holding the local values, and the secrets the template generates. Each role
goes into IAM; each Lambda role also gets an IAM user with the role's policy and an access key,
which its function's containers run with (moto then refuses what the role does not allow).
Idempotent: run again on the same endpoint, it keeps what exists and updates definitions.
"""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chalicelib import aws, resources, settings
from localdev.aws.moto_iam import LOCAL_ADMIN_KEY, LOCAL_ADMIN_SECRET
from localdev.aws.template_resolution import (
    STACK_NAME,
    LocalFunction,
    Resolver,
    local_functions,
    resource_name,
    secret_names,
    stack_parameters,
)
from localdev.lambda_runtime.events import LOCAL_ACCOUNT


def admin(service: str) -> Any:
    """The local admin's client (cached per endpoint: building one costs more CPU than a call)."""
    return _admin_client(service, settings.aws_endpoint_url(), settings.aws_region())


@lru_cache(maxsize=32)
def _admin_client(service: str, endpoint: str | None, region: str) -> Any:
    return aws.boto3_session().client(service, endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id=LOCAL_ADMIN_KEY,
                                          aws_secret_access_key=LOCAL_ADMIN_SECRET)


class Provisioner:
    """Creates one template's resources; ``run()`` answers the resolver holding their physical ids."""

    def __init__(self, template: dict[str, Any], values: dict[str, str], region: str, *,
                 placeholders: bool = False) -> None:
        self.template = template
        self.values = values
        self.region = region
        self.placeholders = placeholders
        self.credentials: dict[str, tuple[str, str]] = {}  # role logical id -> access key
        self.functions: dict[str, LocalFunction] = {}
        self.r = Resolver(template, {}, region)

    def _secret(self, group: str) -> str:
        sm = admin("secretsmanager")
        role = settings.SECRET_GROUPS[group].role
        if role:
            # the function group's own PostgreSQL role (the local server trusts local logins, so no
            # password), with exactly the grant map's privileges; the local server speaks no TLS: the
            # local secret says so (a deployed secret without an sslmode gets verify-full)
            url = with_user(self.values.get("DATABASE_URL") or settings.database_url(), role)
            value = with_sslmode(url, "disable")
        else:
            value = json.dumps({n: self.values[n] for n in secret_names(group) if self.values.get(n)})
        name = f"{STACK_NAME}/{group}"
        try:
            return sm.create_secret(Name=name, SecretString=value)["ARN"]
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=value)
            return sm.describe_secret(SecretId=name)["ARN"]

    def run(self) -> Resolver:
        res = self.template["Resources"]
        params = stack_parameters(self.template, self.values, self._secret, placeholders=self.placeholders)
        r = self.r = Resolver(self.template, params, self.region)
        by_type: dict[str, list[str]] = {}
        for logical, spec in res.items():
            by_type.setdefault(spec["Type"], []).append(logical)
        for logical in by_type.get("AWS::KMS::Key", []):
            key = admin("kms").create_key(Description=logical)["KeyMetadata"]
            r.physical[logical] = {"Ref": key["KeyId"], "Arn": key["Arn"]}
        for logical in by_type.get("AWS::Logs::LogGroup", []):
            props = res[logical].get("Properties", {})
            name = r.value(props["LogGroupName"]) if "LogGroupName" in props else f"/julo/{STACK_NAME}/{logical}"
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:logs:{self.region}:{LOCAL_ACCOUNT}:log-group:{name}:*"}
        self._generated_secrets(res, by_type.get("AWS::SecretsManager::Secret", []))
        self._queues(res, by_type.get("AWS::SQS::Queue", []))
        self._tables(res, by_type.get("AWS::DynamoDB::Table", []))
        self._named(res, by_type)
        self._roles(res, by_type.get("AWS::IAM::Role", []))
        self._state_machines(res, by_type.get("AWS::StepFunctions::StateMachine", []))
        self.functions = local_functions(self.template, r)
        for fn in self.functions.values():
            self._schedules(fn)
        for logical in by_type.get("AWS::SES::EmailIdentity", []):
            if "Condition" in res[logical] and not r.condition(res[logical]["Condition"]):
                continue
            admin("ses").verify_email_identity(EmailAddress=r.value(res[logical]["Properties"]["EmailIdentity"]))
        resources.forget_lookups()
        return r

    def _named(self, res: dict[str, Any], by_type: dict[str, list[str]]) -> None:
        """Resources known by name before they exist (roles, functions, the state machine, the API)."""
        r, region = self.r, self.region
        for logical in by_type.get("AWS::IAM::Role", []):
            r.physical[logical] = {"Ref": logical, "Arn": f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{STACK_NAME}-{logical}"}
        for logical in by_type.get("AWS::Serverless::Api", []):
            # no API Gateway locally: the API container serves the routes; a function that would read the
            # stack's own API URL gets the local value of its setting instead (PublicApiBaseUrl)
            r.physical[logical] = {"Ref": f"local-{logical.lower()}"}
        for logical in by_type.get("AWS::Serverless::Function", []):
            name = resource_name(res[logical], logical)
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{name}"}
        for logical in by_type.get("AWS::StepFunctions::StateMachine", []):
            name = resource_name(res[logical], logical)
            arn = f"arn:aws:states:{region}:{LOCAL_ACCOUNT}:stateMachine:{name}"
            r.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}

    def _generated_secrets(self, res: dict[str, Any], logicals: list[str]) -> None:
        """Secrets the template creates (GenerateSecretString): the local value of the generated key
        when this run has one (deterministic fakes), else a random one, as CloudFormation makes it.
        Their resource policies (AWS::SecretsManager::ResourcePolicy) are not applied: moto does not
        evaluate them; each role's own policy still decides who may read the secret."""
        r = self.r
        sm = admin("secretsmanager")
        for logical in logicals:
            generate = res[logical]["Properties"].get("GenerateSecretString") or {}
            value = json.loads(generate.get("SecretStringTemplate") or "{}")
            key = generate.get("GenerateStringKey")
            if key:
                value[key] = self.values.get(key) or secrets.token_urlsafe(48)
            name = f"{STACK_NAME}/{logical}"
            try:
                arn = sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
            except sm.exceptions.ResourceExistsException:
                sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))
                arn = sm.describe_secret(SecretId=name)["ARN"]
            r.physical[logical] = {"Ref": arn, "Id": arn}

    def _queues(self, res: dict[str, Any], logicals: list[str]) -> None:
        r = self.r
        sqs = admin("sqs")
        # dead-letter queues first: the others name them in their redrive policy
        ordered = sorted(logicals, key=lambda q: "RedrivePolicy" in res[q].get("Properties", {}))
        for logical in ordered:
            spec = res[logical]
            name = spec.get("Metadata", {}).get("Name", logical)
            props = r.value(spec.get("Properties", {}))
            attrs: dict[str, str] = {}
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "KmsMasterKeyId",
                        "KmsDataKeyReusePeriodSeconds", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
                if key in props:
                    attrs[key] = str(props[key])
            if "RedrivePolicy" in props:
                attrs["RedrivePolicy"] = json.dumps({k: str(v) for k, v in props["RedrivePolicy"].items()})
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
            r.physical[logical] = {"Ref": url, "Arn": f"arn:aws:sqs:{self.region}:{LOCAL_ACCOUNT}:{name}",
                                   "QueueName": name, "QueueUrl": url}

    def _tables(self, res: dict[str, Any], logicals: list[str]) -> None:
        r = self.r
        ddb = admin("dynamodb")
        existing = set(ddb.list_tables().get("TableNames", []))
        for logical in logicals:
            spec = res[logical]
            name = spec.get("Metadata", {}).get("Name", logical)
            props = r.value(spec["Properties"])
            if name not in existing:
                indexes = {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} \
                    if props.get("GlobalSecondaryIndexes") else {}
                ddb.create_table(TableName=name, KeySchema=props["KeySchema"],
                                 AttributeDefinitions=props["AttributeDefinitions"],
                                 BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"), **indexes)
                ddb.get_waiter("table_exists").wait(TableName=name)
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{self.region}:{LOCAL_ACCOUNT}:table/{name}"}

    def _roles(self, res: dict[str, Any], logicals: list[str]) -> None:
        """Each role in moto's IAM, and (for Lambda roles) a user with its policy and an access key."""
        r = self.r
        iam = admin("iam")
        for logical in logicals:
            props = res[logical]["Properties"]
            role_name = f"{STACK_NAME}-{logical}"
            trust = json.dumps(r.value(props["AssumeRolePolicyDocument"]))
            policies = [(p["PolicyName"], r.value(p["PolicyDocument"])) for p in props.get("Policies", [])]
            try:
                iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)
            except iam.exceptions.EntityAlreadyExistsException:
                pass
            for pname, doc in policies:
                iam.put_role_policy(RoleName=role_name, PolicyName=pname, PolicyDocument=json.dumps(doc))
            if "lambda.amazonaws.com" not in trust:
                continue
            try:
                iam.create_user(UserName=role_name)
            except iam.exceptions.EntityAlreadyExistsException:
                for key in iam.list_access_keys(UserName=role_name)["AccessKeyMetadata"]:
                    iam.delete_access_key(UserName=role_name, AccessKeyId=key["AccessKeyId"])
            for pname, doc in policies:
                iam.put_user_policy(UserName=role_name, PolicyName=pname, PolicyDocument=json.dumps(for_moto(doc)))
            key = iam.create_access_key(UserName=role_name)["AccessKey"]
            self.credentials[logical] = (key["AccessKeyId"], key["SecretAccessKey"])

    def _state_machines(self, res: dict[str, Any], logicals: list[str]) -> None:
        r = self.r
        sfn = admin("stepfunctions")
        existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
        for logical in logicals:
            props = res[logical]["Properties"]
            subs = {k: r.value(v) for k, v in props.get("DefinitionSubstitutions", {}).items()}
            definition = r._sub(props["DefinitionString"], subs) if subs else r.value(props["DefinitionString"])
            json.loads(definition)
            name = r.physical[logical]["Name"]
            role = r.value(props["RoleArn"])
            if name in existing:
                sfn.update_state_machine(stateMachineArn=existing[name], definition=definition, roleArn=role)
                arn = existing[name]
            else:
                arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
            r.physical[logical].update({"Ref": arn, "Arn": arn})

    def _schedules(self, fn: LocalFunction) -> None:
        """The function's schedules as EventBridge rules targeting it (the local scheduler fires them)."""
        events = admin("events")
        for rule in fn.schedules:
            events.put_rule(Name=rule["rule"], ScheduleExpression=rule["schedule"],
                            State="ENABLED" if rule["enabled"] else "DISABLED")
            target: dict[str, Any] = {"Id": "function", "Arn": self.r.physical[fn.logical_id]["Arn"]}
            if rule["input_text"] is not None:
                target["Input"] = rule["input_text"]
            events.put_targets(Rule=rule["rule"], Targets=[target])


# services for which moto works out the resource a request acts on; for the others it checks
# against "*", so a statement naming an ARN would never match there
MOTO_RESOURCE_AWARE = ("sqs:", "s3:", "iam:", "sts:")
BATCH_ACTIONS = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
                 "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


def for_moto(doc: dict[str, Any]) -> dict[str, Any]:
    """A policy as moto can evaluate it: actions kept; resources widened to "*" where moto cannot
    tell the resource (the containers' call guard checks those ARNs itself)."""
    out = []
    for st in doc.get("Statement", []):
        actions = st.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        # moto names batch operations' actions after the operation (AWS: after the single one)
        actions = actions + [b for b, single in BATCH_ACTIONS.items() if single in actions]
        if all(str(a).lower().startswith(MOTO_RESOURCE_AWARE) for a in actions):
            out.append({**st, "Action": actions})
            if "sqs:GetQueueUrl" in actions:
                # GetQueueUrl names a queue, not its ARN: moto checks it against "*"
                out.append({**st, "Sid": f"{st.get('Sid', '')}Url", "Action": ["sqs:GetQueueUrl"], "Resource": "*"})
        else:
            out.append({**st, "Action": actions, "Resource": "*"})
    return {**doc, "Statement": out}


def with_user(url: str, user: str) -> str:
    """``url`` logging in as ``user`` (no password)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def with_sslmode(url: str, mode: str) -> str:
    """``url`` with ``sslmode=mode`` unless it names one already."""
    if "sslmode=" in url:
        return url
    return url + ("&" if "?" in url else "?") + f"sslmode={mode}"

