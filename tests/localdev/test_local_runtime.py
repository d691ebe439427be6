"""The local stand-in for Lambda's SQS integration behaves like Lambda."""

import json
from datetime import UTC, datetime

import pytest

from chalicelib import resources, settings
from infra.manifest import FunctionSpec, Manifest, QueueSpec, StateMachineSpec, TableSpec
from infra.package import render_definition
from localdev.aws.bootstrap import bootstrap
from localdev.lambda_runtime.events import scheduled_event
from localdev.lambda_runtime.runtime import LambdaRuntime
from tests import runtime_probe_handlers

MANIFEST = Manifest(
    queues=(QueueSpec("probe-events", dlq="probe-events-dlq", max_receive_count=3, visibility_timeout=30),),
    tables=(TableSpec("probe-ledger", hash_key="pk", range_key="sk", ttl_attribute="expires_at"),),
    state_machines=(),
    functions=(
        FunctionSpec("probe-consumer", "tests.runtime_probe_handlers.handler",
                     {"sqs": "probe-events", "batch_size": 10}, settings="AnalyticsSettings"),
        FunctionSpec("probe-daily", "tests.runtime_probe_handlers.handler",
                     {"schedule": "cron(0 2 * * ? *)", "input": {"job": "daily"}}, settings="AnalyticsSettings"),
    ),
)


def test_poison_message_goes_to_dlq_and_good_ones_are_processed_once(aws):
    runtime_probe_handlers.PROCESSED.clear()
    urls = bootstrap(MANIFEST).queue_urls
    sqs = settings.aws_clients().client("sqs")
    bodies = [{"n": 1}, {"poison": True}, {"n": 2}, {"n": 3}]
    sqs.send_message_batch(
        QueueUrl=urls["probe-events"],
        Entries=[{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies)],
    )
    totals = LambdaRuntime.in_process(MANIFEST).drain()
    assert sorted(runtime_probe_handlers.PROCESSED) == [1, 2, 3]  # no good message redone
    assert totals["probe-consumer"].failed == 3  # the poison one, tried maxReceiveCount times
    dead = sqs.receive_message(QueueUrl=urls["probe-events-dlq"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in dead] == [{"poison": True}]


def test_bootstrap_is_idempotent_and_sets_redrive_and_ttl(aws):
    first = bootstrap(MANIFEST)
    second = bootstrap(MANIFEST)
    assert first.queue_urls == second.queue_urls
    sqs = settings.aws_clients().client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=first.queue_urls["probe-events"], AttributeNames=["All"])["Attributes"]
    policy = json.loads(attrs["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 3 and policy["deadLetterTargetArn"].endswith("probe-events-dlq")
    ttl = settings.aws_clients().client("dynamodb").describe_time_to_live(TableName="probe-ledger")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert resources.queue_url("probe-events") == first.queue_urls["probe-events"]


def test_scheduled_function_gets_its_constant_input():
    spec = LambdaRuntime.in_process(MANIFEST).functions["probe-daily"]
    assert spec.schedules[0]["input"] == {"job": "daily"}  # the rule's constant input, from the template
    event = scheduled_event(spec.name, spec.schedules[0]["input"], datetime(2026, 11, 22, 2, tzinfo=UTC))
    assert event == {"job": "daily"}
    with pytest.raises(ValueError):
        scheduled_event(spec.name, spec.schedules[0]["input"], datetime(2026, 11, 22, 2))


def test_definition_placeholders_become_the_templates_substitutions():
    asl = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task", "Parameters": {
        "QueueUrl": "${QueueUrl:stage-a}"}, "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}})
    definition, subs = render_definition(asl)
    assert json.loads(definition)["States"]["A"]["Parameters"]["QueueUrl"] == "${StageAQueueUrl}"
    assert subs == {"StageAQueueUrl": {"Ref": "StageAQueue"}}  # provisioning resolves it to the queue's URL


def test_state_machine_spec_roundtrip(aws, tmp_path):
    asl = tmp_path / "probe.asl.json"
    asl.write_text(json.dumps({"StartAt": "P", "States": {"P": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True,
        "Parameters": {"QueueUrl": "${QueueUrl:probe-events}", "MessageBody": {"n": 1}}}}}))
    manifest = Manifest(MANIFEST.queues, (), (StateMachineSpec("probe-machine", str(asl)),), ())
    arn = bootstrap(manifest).state_machine_arns["probe-machine"]
    assert resources.state_machine_arn("probe-machine") == arn
