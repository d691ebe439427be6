"""Create the local AWS resources: from the packaged template, or from a manifest.

    python -m localdev.bootstrap_aws        # against AWS_ENDPOINT_URL

``bootstrap()`` creates what ``dist/template.json`` declares (``localdev/template_provisioning.py``:
queues with redrive and encryption attributes, tables with TTL, the state machine and its
role, schedules, the SES identity). ``bootstrap(manifest)`` creates a manifest's queues,
tables and state machines directly (tests of the runtime with a manifest of their own; the
LocalStack init hook), with a state-machine role allowed to send to those queues.
Idempotent: existing resources are kept (state machines get the current definition).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib import resources, settings
from chalicelib.emails.ses import sender_address
from infra.manifest import ROOT, Manifest
from localdev.lambda_events import LOCAL_ACCOUNT

LOCAL_ROLE_NAME = "julo-local-stepfunctions"
LOCAL_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{LOCAL_ROLE_NAME}"
PLACEHOLDER = re.compile(r"\$\{QueueUrl:([A-Za-z0-9_.-]+)\}")


@dataclass
class Bootstrapped:
    queue_urls: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    ses_identities: list[str] = field(default_factory=list)


def render_definition(path: Path, queue_urls: dict[str, str]) -> str:
    """The ASL with every ``${QueueUrl:<name>}`` replaced by that queue's URL."""
    text = path.read_text()

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in queue_urls:
            raise KeyError(f"{path.name} refers to queue {name!r}, which the manifest does not declare")
        return queue_urls[name]

    rendered = PLACEHOLDER.sub(sub, text)
    json.loads(rendered)  # fail here, not in Step Functions, on a broken definition
    return rendered


def bootstrap(manifest: Manifest | None = None) -> Bootstrapped:
    if manifest is None:
        return from_template()
    clients = settings.aws_clients()
    sqs, ddb, sfn = clients.client("sqs"), clients.client("dynamodb"), clients.client("stepfunctions")
    out = Bootstrapped()

    dlq_names = {q.dlq for q in manifest.queues if q.dlq}
    for name in sorted(dlq_names):
        out.queue_urls[name] = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "1209600"})[
            "QueueUrl"
        ]
    for q in manifest.queues:
        attributes = {"VisibilityTimeout": str(q.visibility_timeout)}
        if q.dlq:
            dlq_arn = sqs.get_queue_attributes(QueueUrl=out.queue_urls[q.dlq], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(q.max_receive_count)}
            )
        url = sqs.create_queue(QueueName=q.name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        out.queue_urls[q.name] = url

    existing_tables = set(ddb.list_tables().get("TableNames", []))
    for t in manifest.tables:
        name = resources.table_name(t.name)
        if name not in existing_tables:
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **t.key_schema())
            ddb.get_waiter("table_exists").wait(TableName=name)
            if t.ttl_attribute:
                ddb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": t.ttl_attribute}
                )
        out.tables.append(name)

    existing_machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    if manifest.state_machines:
        _states_role(sorted(out.queue_urls))
    for sm in manifest.state_machines:
        definition = render_definition(ROOT / sm.definition, out.queue_urls)
        if sm.name in existing_machines:
            arn = existing_machines[sm.name]
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            arn = sfn.create_state_machine(name=sm.name, definition=definition, roleArn=LOCAL_ROLE_ARN)[
                "stateMachineArn"
            ]
        out.state_machine_arns[sm.name] = arn
    if any(f.permissions.get("ses_send") for f in manifest.functions):
        # SES (and moto) refuse to send from an unverified identity
        settings.aws_clients().client("ses").verify_email_identity(EmailAddress=sender_address())
        out.ses_identities.append(sender_address())
    resources.forget_lookups()
    return out


def _states_role(queues: list[str]) -> None:
    """The role the manifest's state machines run as (moto enforces it: localdev/moto_iam.py)."""
    iam = settings.aws_clients().client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    try:
        iam.create_role(RoleName=LOCAL_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    arns = [f"arn:aws:sqs:{settings.aws_region()}:*:{q}" for q in queues]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"],
                                                      "Resource": arns}]}
    iam.put_role_policy(RoleName=LOCAL_ROLE_NAME, PolicyName="SendStageMessages", PolicyDocument=json.dumps(policy))


def from_template(template: str | Path | None = None, values: dict[str, str] | None = None) -> Bootstrapped:
    """The template's resources (no function runs: settings it cannot know get placeholders)."""
    from localdev.lambda_runtime import IN_PROCESS, LambdaRuntime

    runtime = LambdaRuntime(values, template=template, mode=IN_PROCESS, placeholders=True).provision()
    r = runtime.resolver
    assert r is not None
    out = Bootstrapped()
    for logical, spec in runtime.template["Resources"].items():
        name = spec.get("Metadata", {}).get("Name")
        if spec["Type"] == "AWS::SQS::Queue":
            out.queue_urls[name] = r.physical[logical]["Ref"]
        elif spec["Type"] == "AWS::DynamoDB::Table":
            out.tables.append(name)
        elif spec["Type"] == "AWS::StepFunctions::StateMachine":
            out.state_machine_arns[name] = r.physical[logical]["Ref"]
        elif spec["Type"] == "AWS::SES::EmailIdentity":
            out.ses_identities.append(r.value(spec["Properties"]["EmailIdentity"]))
    return out


def main() -> int:
    if not settings.aws_endpoint_url():
        print("AWS_ENDPOINT_URL is not set: refusing to create resources in a real AWS account", file=sys.stderr)
        return 2
    done = bootstrap()
    print(f"queues: {len(done.queue_urls)}, tables: {len(done.tables)}, state machines: {len(done.state_machine_arns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
