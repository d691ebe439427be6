"""The local day runs from the packaged template: IAM enforced per function, Lambda limits kept.

A copy of the template with one statement taken away makes the day fail with AccessDenied
naming the function, the action and the resource; a function that overruns its Timeout is
killed and its message comes back; no more containers run than the declared concurrency.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.zones import Zone
from localdev.aws.template_artifact import packaged_template
from localdev.lambda_runtime.containers import ColdStartFailed, LocalAccessDenied
from localdev.lambda_runtime.runtime import LambdaRuntime
from localdev.reminder_day import LocalReminderStack, run_day
from tests.factories import make_loan, make_partner

BUSINESS_DATE = date(2026, 11, 20)
DUE = date(2026, 11, 23)


@pytest.fixture
def two_borrowers(conn: Any) -> None:
    make_partner(conn, 1, "Lendana P2P")
    make_loan(conn, fullname="Answers", postcode="10110", phone="081200000001", due_dates=[DUE])
    make_loan(conn, fullname="Never", postcode="10110", phone="081200000002", due_dates=[DUE])
    conn.commit()


def _template() -> dict[str, Any]:
    return json.loads(packaged_template().read_text())


def _without(template: dict[str, Any], role: str, sid: str, ref: str | None = None) -> dict[str, Any]:
    """The template with statement ``sid`` of ``role`` removed (or only its resource ``ref``)."""
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        if ref is None:
            policy["PolicyDocument"]["Statement"] = [s for s in statements if s.get("Sid") != sid]
        else:
            for s in statements:
                if s.get("Sid") == sid:
                    s["Resource"] = [r for r in s["Resource"] if r != {"Ref": ref}]
    return template


def _write(template: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return str(path)


def test_the_reminder_day_runs_from_the_template_and_every_call_is_allowed(aws: str, conn: Any,
                                                                           two_borrowers: None) -> None:
    with LocalReminderStack(seed=3, strict=True) as stack:
        stack.voice.force_outcome("6281200000001", "human")
        result = run_day(BUSINESS_DATE, stack, zones=[Zone.WIB])
        runtime = stack.runtime
        assert runtime is not None
        assert stack.voice.callbacks_failed == 0
    assert result.executions["WIB"]["status"] == "SUCCEEDED"
    assert runtime.denied == []
    by_function = {name: {c["action"] for c in calls} for name, calls in runtime.calls.items()}
    # the API wrote the callbacks' outcomes to the ledger with its own role; dispatch read its own secret
    assert "dynamodb:UpdateItem" in by_function["api"]
    assert "secretsmanager:GetSecretValue" in by_function["reminder-dispatch-robocall"]
    # each container got exactly its template environment (plus endpoint, credentials, Lambda's own)
    template = _template()
    for fn in runtime.functions.values():
        declared = set(template["Resources"][fn.logical_id]["Properties"]["Environment"]["Variables"])
        extra = set(runtime.environment(fn)) - declared - set(runtime.local_overrides(fn))
        assert extra <= {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                         "AWS_SECRET_ACCESS_KEY", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                         "AWS_LAMBDA_FUNCTION_TIMEOUT", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "TZ",
                         "PYTHONPYCACHEPREFIX", "REQUESTS_CA_BUNDLE"}, fn.name
        assert "DATABASE_URL" not in runtime.environment(fn)  # the database comes from its secret


def test_without_the_api_ledger_permission_the_day_fails_with_access_denied(aws: str, conn: Any, two_borrowers: None,
                                                                            tmp_path: Path) -> None:
    template = _write(_without(_template(), "ApiHandlerRole", "Ledger"), tmp_path)
    # "Ledger": GetItem/UpdateItem on the ledger (the replay claim, in its own statement, still goes through)
    with pytest.raises(LocalAccessDenied, match=r"api: AccessDenied: dynamodb:UpdateItem on .*table/reminder-ledger"):
        with LocalReminderStack(seed=3, strict=True, template=template) as stack:
            run_day(BUSINESS_DATE, stack, zones=[Zone.WIB])


def test_without_its_provider_secret_dispatch_fails_its_cold_start(aws: str, conn: Any, two_borrowers: None,
                                                                   tmp_path: Path) -> None:
    template = _write(_without(_template(), "ReminderDispatchRobocallRole", "Secrets", "ProviderTokensSecretArn"),
                      tmp_path)
    with pytest.raises(ColdStartFailed, match=r"AccessDenied.*secretsmanager:GetSecretValue"):
        with LocalReminderStack(seed=3, strict=True, template=template) as stack:
            run_day(BUSINESS_DATE, stack, zones=[Zone.WIB])


def _probe_template(tmp_path: Path, handler: str, *, timeout: int, concurrency: int) -> str:
    """The packaged template with disbursement-events running a probe handler."""
    t = _template()
    fn = t["Resources"]["DisbursementEventsFunction"]["Properties"]
    fn["Handler"] = handler
    fn["Timeout"] = timeout
    fn["ReservedConcurrentExecutions"] = concurrency
    fn["Events"]["Sqs0"]["Properties"]["BatchSize"] = 1
    fn["Events"]["Sqs0"]["Properties"]["ScalingConfig"]["MaximumConcurrency"] = concurrency
    fn["Environment"]["Variables"]["PROBE_LOG"] = str(tmp_path / "probe.jsonl")
    t["Resources"]["DisbursementEventsQueue"]["Properties"]["VisibilityTimeout"] = timeout + 1
    return _write(t, tmp_path)


def _send(n: int) -> None:
    sqs = settings.aws_clients().client("sqs")
    url = sqs.get_queue_url(QueueName="disbursement-events")["QueueUrl"]
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))


def _probe_log(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "probe.jsonl").read_text().splitlines()]


def test_an_invocation_past_its_timeout_is_killed_and_its_message_comes_back(aws: str, pg_url: str,
                                                                             tmp_path: Path) -> None:
    template = _probe_template(tmp_path, "tests.integration.lambda_probes.slow_first_time", timeout=1, concurrency=2)
    with LambdaRuntime(template=template, placeholders=True) as runtime:
        _send(1)
        moved = runtime.drain(["disbursement-events"])
    assert runtime.timeouts == ["disbursement-events"]
    delivered = moved["disbursement-events"]
    assert (delivered.received, delivered.failed) == (2, 1)  # received twice: once killed, once done
    runs = _probe_log(tmp_path)
    assert len(runs) == 2 and runs[0]["pid"] != runs[1]["pid"]  # the killed container was replaced


def test_no_more_containers_run_than_the_declared_concurrency(aws: str, pg_url: str, tmp_path: Path) -> None:
    template = _probe_template(tmp_path, "tests.integration.lambda_probes.overlap", timeout=10, concurrency=2)
    with LambdaRuntime(template=template, placeholders=True) as runtime:
        _send(8)
        runtime.drain(["disbursement-events"])
    runs = _probe_log(tmp_path)
    assert len(runs) == 8
    assert len({r["pid"] for r in runs}) == 2  # two containers, reused
    at_once = max(sum(1 for o in runs if o["start"] <= r["start"] < o["end"]) for r in runs)
    assert at_once <= 2
