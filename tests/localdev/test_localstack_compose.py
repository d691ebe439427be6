"""localstack/: the compose file, the one multi-stage image, the ready.d hook and the scheduler's cron.

There is no Docker engine here, so the compose file and Dockerfile are checked by structure;
the generated hook is run for real (aws CLI as ``awslocal``) against the test endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import settings
from infra.manifest import ROOT, FunctionSpec, Manifest, QueueSpec, StateMachineSpec, TableSpec, load_manifest
from localdev.aws import localstack_hooks
from localdev.aws.template_artifact import manifest_template
from localdev.loops import cron

COMPOSE = ROOT / "localstack" / "docker-compose.yml"
DOCKERFILE = ROOT / "localstack" / "Dockerfile"
APP_SERVICES = ("api", "async", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _one_shot(services: dict) -> set[str]:
    """Services others wait for to *complete* (not to be healthy)."""
    return {
        dep
        for svc in services.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_healthcheck(compose):
    services = compose["services"]
    assert {"db", "broker", *APP_SERVICES} <= set(services)
    one_shot = _one_shot(services)
    assert one_shot == {"migrate"}
    for name, svc in services.items():
        if name in one_shot:
            assert "healthcheck" not in svc and svc.get("restart") == "no"
            continue
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "http://localhost:4566/_localstack/health" in " ".join(services["broker"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["api"]["healthcheck"]["test"])


def test_app_services_start_only_after_db_broker_and_migrations(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["db"] == {"condition": "service_healthy"}, name
        assert deps["broker"] == {"condition": "service_healthy"}, name
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["python", "-m", "chalicelib.db", "migrate"]


def test_app_services_share_one_dockerfile_with_different_targets_and_commands(compose):
    services = compose["services"]
    builds = [services[n]["build"] for n in (*APP_SERVICES, "migrate")]
    assert {b["dockerfile"] for b in builds} == {"localstack/Dockerfile"}
    assert {b["context"] for b in builds} == {".."}
    assert len({b["target"] for b in builds}) == len(builds)
    commands = [tuple(services[n]["command"]) for n in APP_SERVICES]
    assert len(set(commands)) == 3
    assert services["api"]["command"][:2] == ["chalice", "local"]
    assert "0.0.0.0" in services["api"]["command"] and "8000" in services["api"]["command"]  # noqa: S104
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "http://broker:4566"
        assert env["AWS_DEFAULT_REGION"] == "ap-southeast-3"
        assert env["DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]


def test_broker_runs_the_needed_services_and_mounts_the_hooks_and_infra(compose):
    broker = compose["services"]["broker"]
    assert broker["image"].startswith("localstack/localstack:")
    services = set(broker["environment"]["SERVICES"].split(","))
    assert services == {"sqs", "stepfunctions", "dynamodb", "ses", "secretsmanager"}
    volumes = broker["volumes"]
    assert "./ready.d:/etc/localstack/init/ready.d:ro" in volumes
    assert f"../infra:{broker['environment']['JULO_ROOT']}/infra:ro" in volumes
    assert compose["services"]["db"]["image"] == "postgres:15"


def _stages(text: str) -> dict[str, dict]:
    stages: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.IGNORECASE)
        if m:
            current = m.group(2) or f"stage{len(stages)}"
            stages[current] = {"base": m.group(1), "lines": []}
        elif current and line and not line.startswith("#"):
            stages[current]["lines"].append(line)
    return stages


def _effective_user(stages: dict[str, dict], name: str) -> str:
    stage = stages[name]
    users = [line.split()[1] for line in stage["lines"] if line.upper().startswith("USER ")]
    if users:
        return users[-1]
    return _effective_user(stages, stage["base"]) if stage["base"] in stages else "root"


def test_dockerfile_is_multi_stage_and_the_runner_is_not_root(compose):
    stages = _stages(DOCKERFILE.read_text())
    assert "builder" in stages and "runtime" in stages
    builder, runtime = stages["builder"]["lines"], stages["runtime"]["lines"]
    assert any("pip install -r requirements.txt" in line for line in builder)
    assert not any("pip install" in line for line in runtime)  # the runner only copies what was built
    assert any(line.startswith("COPY --from=builder /opt/venv") for line in runtime)
    assert not any(re.match(r"COPY\s+\.\s", line) for line in runtime)  # no blanket copy of the repo
    for target in ("runtime", *(compose["services"][n]["build"]["target"] for n in APP_SERVICES)):
        user = _effective_user(stages, target)
        assert user.split(":")[0] not in {"root", "0"}, f"{target} runs as {user}"


def test_committed_hook_matches_the_template_of_the_manifest(tmp_path):
    generated = localstack_hooks.write_hook(tmp_path)
    committed = localstack_hooks.HOOK_DIR / localstack_hooks.HOOK_NAME
    assert committed.exists(), "run: python -m localdev.aws.localstack_hooks"
    assert committed.read_text() == generated.read_text(), (
        "localstack/ready.d/10-resources.sh is out of date with infra/functions.yaml: "
        "run python -m localdev.aws.localstack_hooks and commit the result"
    )
    assert committed.stat().st_mode & stat.S_IXUSR, "LocalStack only runs executable hooks"
    manifest = load_manifest()
    text = committed.read_text()
    for q in manifest.queues:
        assert f"ensure_queue {q.name} " in text
    for t in manifest.tables:
        assert f"ensure_table {t.name} " in text
    for sm in manifest.state_machines:
        assert f"ensure_state_machine {sm.name} " in text


ASL = {
    "StartAt": "Stage",
    "States": {
        "Stage": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "${QueueUrl:hook-stage}", "MessageBody": {"n": 1}},
            "End": True,
        }
    },
}


def _probe_manifest(root: Path, suffix: str) -> Manifest:
    (root / "infra").mkdir(parents=True, exist_ok=True)
    (root / "infra" / "probe.asl.json").write_text(json.dumps(ASL).replace("hook-stage", f"hook-stage-{suffix}"))
    return Manifest(
        queues=(QueueSpec(f"hook-stage-{suffix}", dlq=f"hook-stage-{suffix}-dlq", max_receive_count=4,
                          visibility_timeout=45),
                QueueSpec(f"hook-plain-{suffix}", visibility_timeout=30)),
        tables=(TableSpec(f"hook-ledger-{suffix}", hash_key="pk", range_key="sk", ttl_attribute="expires_at"),),
        state_machines=(StateMachineSpec(f"hook-machine-{suffix}", str(root / "infra" / "probe.asl.json")),),
        functions=(FunctionSpec("hook-fn", "tests.runtime_probe_handlers.handler", {"sqs": f"hook-stage-{suffix}"},
                                settings="AnalyticsSettings"),),
    )


def test_hook_refuses_an_asl_that_names_an_undeclared_queue(tmp_path):
    manifest = _probe_manifest(tmp_path, "x")
    (tmp_path / "infra" / "probe.asl.json").write_text(json.dumps(ASL).replace("hook-stage", "nowhere"))
    with pytest.raises(KeyError, match="NowhereQueue"):
        localstack_hooks.render_hook(manifest_template(manifest))


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the aws CLI to stand in for awslocal")
def test_generated_hook_creates_everything_and_can_run_twice(tmp_path, aws):
    suffix = datetime.now(UTC).strftime("%H%M%S%f")  # unique names: the endpoint may be a shared LocalStack
    manifest = _probe_manifest(tmp_path, suffix)
    hook = tmp_path / "10-resources.sh"
    hook.write_text(localstack_hooks.render_hook(manifest_template(manifest)))
    hook.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "awslocal"
    shim.write_text('#!/usr/bin/env bash\nexec aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "JULO_ROOT": str(tmp_path),
           "AWS_ENDPOINT_URL": aws, "AWS_DEFAULT_REGION": "ap-southeast-3"}
    for _ in range(2):  # idempotent: a restarted container runs it again
        run = subprocess.run([str(hook)], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "julo resources ready" in run.stdout

    sqs = settings.aws_clients().client("sqs")
    stage_url = sqs.get_queue_url(QueueName=f"hook-stage-{suffix}")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=stage_url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    policy = json.loads(attrs["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(f":hook-stage-{suffix}-dlq")
    assert int(policy["maxReceiveCount"]) == 4
    plain = sqs.get_queue_url(QueueName=f"hook-plain-{suffix}")["QueueUrl"]
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]

    ddb = settings.aws_clients().client("dynamodb")
    table = ddb.describe_table(TableName=f"hook-ledger-{suffix}")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    ttl = ddb.describe_time_to_live(TableName=f"hook-ledger-{suffix}")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"

    sfn = settings.aws_clients().client("stepfunctions")
    machines = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == f"hook-machine-{suffix}"]
    assert len(machines) == 1  # the second run updated, not duplicated
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])["definition"])
    assert definition["States"]["Stage"]["Parameters"]["QueueUrl"] == stage_url


# --- the scheduler's cron subset


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    dom_form=st.booleans(),
)
def test_next_fire_time_is_the_crons_utc_time_within_a_day(minute, hour, moment, dom_form):
    expression = f"cron({minute} {hour} * * ? *)" if dom_form else f"cron({minute} {hour} ? * * *)"
    nxt = cron.parse(expression).next_after(moment)
    assert nxt.tzinfo is not None
    assert moment < nxt <= moment + timedelta(hours=24)
    assert (nxt.hour, nxt.minute, nxt.second, nxt.microsecond) == (hour, minute, 0, 0)
    assert nxt.utcoffset() == timedelta(0)


@given(
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    days=st.integers(0, 5),
)
def test_a_daily_cron_fires_once_per_day_over_any_window(moment, days):
    daily = cron.parse("cron(0 1 * * ? *)")
    fires = daily.fires_between(moment, moment + timedelta(days=days))
    assert len(fires) == days
    assert all(f.hour == 1 and f.minute == 0 for f in fires)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 1 * * ? 2027)",     # a year
        "cron(0 1 1 * ? *)",        # a day of month
        "cron(0 1 ? * MON-FRI *)",  # weekdays
        "cron(0/5 * * * ? *)",      # steps
        "cron(0 1,13 * * ? *)",     # lists
        "cron(60 1 * * ? *)",       # minute out of range
        "cron(0 24 * * ? *)",       # hour out of range
        "cron(0 1 * * *)",          # five fields (Unix cron)
        "rate(5 minutes)",
        "0 1 * * ? *",
    ],
)
def test_unsupported_expressions_are_refused_with_what_is_supported(expression):
    with pytest.raises(cron.UnsupportedCron, match=re.escape("cron(M H * * ? *)")):
        cron.parse(expression)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.parse("cron(0 1 * * ? *)").next_after(datetime(2026, 11, 22, 0, 0))


def test_every_schedule_in_the_manifest_is_supported():
    from localdev.loops import scheduler

    for s in scheduler.schedules(load_manifest()):
        assert s.cron.hour is None or 0 <= s.cron.hour <= 23  # None: hourly


def test_app_containers_never_call_real_providers_by_default(compose):
    env = compose["x-app-env"]
    for key in ("VOICE_API_URL", "WHATSAPP_API_URL", "SLACK_API_URL"):
        default = re.fullmatch(r"\$\{" + key + r":-(.+)\}", env[key])
        assert default, f"{key} must be overridable from the environment"
        assert ".invalid" in default.group(1)


def test_build_context_sends_only_what_the_image_copies():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"  # allow-list: .venv, .local (database files), backups never leave the machine
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not parts[1].startswith("--from"):
            sources += [p.rstrip("/") for p in parts[1:-1]]
    assert sources and set(sources) <= allowed, set(sources) - allowed
    for path in sources:
        assert (ROOT / path).exists(), path
