"""The local day from the deployable artifact: ``dist/template.json`` run on this machine.

    with TemplateRuntime(values) as runtime:       # values: setting name -> local value
        runtime.invoke("reminder-schedule-wib", event)
        runtime.drain(["reminder-dispatch-robocall"], idle=...)

- **The artifact.** ``packaged_template()`` is ``dist/template.json``, rebuilt by ``make
  package``'s builder when a source changed (cached by a hash of the inputs), or the file in
  ``DEMO_TEMPLATE``.
- **Resources from the template**, created with the local admin key: queues with their
  redrive policy, retention and encryption attributes, tables with TTL, the state machine
  (its definition substitutions resolved) and its role, the schedules (EventBridge rules),
  the SES identity, the KMS key, the log groups, and one Secrets Manager secret per secret
  group holding the local values.
- **IAM enforced.** moto runs with access control on (``localdev/moto_iam.py``). Each
  function and the API get an IAM user whose inline policy is their template role's,
  resolved to local ARNs, and run with its access key; moto refuses the actions the role
  lacks. Each container also records every AWS call it makes (action + resource) and checks
  it against the same statements, resource ARNs included (moto matches only actions for
  DynamoDB and SQS). A refused call fails the invocation with AccessDenied, and the runtime
  stops the day with ``LocalAccessDenied`` naming the function, action and resource.
- **Lambda limits.** Each function runs in containers (``localdev/lambda_container.py``)
  with exactly its template ``Environment`` (plus endpoint, region and credentials), killed
  when an invocation runs past ``Timeout`` or grows past ``MemorySize``; an SQS message of a
  killed invocation comes back after the queue's visibility timeout, as in Lambda. At most
  ``ReservedConcurrentExecutions`` containers of a function run at once, so a provider rate
  divided among them holds across containers.
- **API Gateway's resource policy.** The API container applies the template's
  ``x-amazon-apigateway-policy`` to each request's source address (``localdev/resource_policy.py``)
  and answers a refused one with the template's ``ACCESS_DENIED`` gateway response, as API
  Gateway does before the function runs. ``StaffSourceCidrs`` is ``127.0.0.0/8`` locally unless
  the values name another range.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3

from chalicelib import config, resources, settings
from localdev.moto_iam import LOCAL_ADMIN_KEY, LOCAL_ADMIN_SECRET

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
INPUTS = ("app.py", "chalicelib", "functions", "infra", ".chalice/config.json", "requirements.txt")
ACCOUNT = "123456789012"  # moto's default account
STACK_NAME = "julo-local"
INIT_TIMEOUT = 30.0
IDLE_POLL_MIN, IDLE_POLL_MAX = 0.05, 0.4  # seconds between polls of an empty queue
LOG_DIR = ROOT / ".local" / "lambda-logs"

LOCAL_VOICE_FROM_NUMBER = "6281100000001"
# template parameters of the stack itself that have no default: their local values
LOCAL_STACK_PARAMETERS = {"StaffSourceCidrs": "127.0.0.0/8"}  # the local API's callers: this machine


# --- local values the fakes do not hand out themselves -----------------------------------------


def local_provider_settings() -> dict[str, str]:
    """Provider settings of a local run that the fakes do not hand out themselves."""
    return {"VOICE_FROM_NUMBER": LOCAL_VOICE_FROM_NUMBER}


# --- the artifact ------------------------------------------------------------------------------


def inputs_hash() -> str:
    """A hash of everything ``make package`` builds from."""
    digest = hashlib.sha1(usedforsecurity=False)
    for name in INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            digest.update(str(f.relative_to(ROOT)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


@contextmanager
def _lock(name: str) -> Iterator[None]:
    path = ROOT / ".local" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def template_path(path: str | Path | None = None) -> Path:
    """Where the template is read from (``packaged_template`` builds it there when stale)."""
    explicit = path or os.environ.get("DEMO_TEMPLATE")
    return Path(explicit).resolve() if explicit else DIST / "template.json"


def packaged_template(path: str | Path | None = None) -> Path:
    """``DEMO_TEMPLATE`` (or ``path``) if given, else ``dist/template.json`` rebuilt when stale."""
    if path or os.environ.get("DEMO_TEMPLATE"):
        return template_path(path)
    with _lock("package.lock"):
        stamp = DIST / ".inputs-hash"
        wanted = inputs_hash()
        if not (DIST / "template.json").exists() or not stamp.exists() or stamp.read_text() != wanted:
            env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-3")}
            # --local-run: the local day runs the handlers from source with this Python, whatever its version
            subprocess.run([sys.executable, "-m", "infra.package", "--out", str(DIST), "--local-run"], cwd=ROOT,
                           env=env, check=True, stdout=subprocess.DEVNULL)
            stamp.write_text(wanted)
    return DIST / "template.json"


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    p = packaged_template(path)
    with _lock("package.lock"):
        return json.loads(p.read_text())


# --- intrinsic functions -----------------------------------------------------------------------


class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join and conditions with local values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], region: str) -> None:
        self.template = template
        self.parameters = parameters
        self.region = region
        self.physical: dict[str, dict[str, Any]] = {}  # logical id -> {"Ref": ..., "Arn": ..., ...}

    def pseudo(self, name: str) -> Any:
        return {"AWS::Region": self.region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                "AWS::StackName": STACK_NAME, "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise KeyError(f"Ref {name}: not a parameter nor a resource created locally")

    def get_att(self, logical: str, attr: str) -> Any:
        try:
            return self.physical[logical][attr]
        except KeyError as exc:
            raise KeyError(f"Fn::GetAtt {logical}.{attr} is not known locally") from exc

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in extra:
                return str(extra[key])
            if "." in key:
                logical, attr = key.split(".", 1)
                return str(self.get_att(logical, attr))
            return str(self.ref(key))

        return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", one, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(x) for x in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attr)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], {k: self.value(v) for k, v in arg[1].items()})
                return self._sub(arg, {})
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Equals":
                a, b = (self.value(v) for v in arg)
                return a == b
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not None}


# --- what the template declares, resolved --------------------------------------------------------


@dataclass
class LocalFunction:
    name: str
    logical_id: str
    handler: str
    timeout: int
    memory: int
    concurrency: int
    settings: str
    environment: dict[str, str]
    statements: list[dict[str, Any]]
    role: str
    sqs_queue: str | None = None
    batch_size: int = 10
    schedules: list[dict[str, Any]] = field(default_factory=list)
    api: bool = False
    gateway: dict[str, Any] | None = None  # the API: resource policy, ARN, stage, ACCESS_DENIED response


class LocalAccessDenied(RuntimeError):
    """A function or the API made an AWS call its template role does not allow."""


class InvocationTimeout(RuntimeError):
    pass


@dataclass
class Invocation:
    result: Any = None
    error: str | None = None
    timed_out: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out


def _admin(service: str) -> Any:
    """The local admin's client (cached per endpoint: building one costs more CPU than a call)."""
    return _admin_client(service, config.aws_endpoint_url(), config.aws_region())


@lru_cache(maxsize=32)
def _admin_client(service: str, endpoint: str | None, region: str) -> Any:
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id=LOCAL_ADMIN_KEY,
                                          aws_secret_access_key=LOCAL_ADMIN_SECRET)


def _parameter_settings() -> dict[str, str]:
    """Template parameter -> the setting (environment name) it feeds."""
    out: dict[str, str] = {}
    for cls in settings.ALL:
        for _attr, spec in cls.specs():
            if spec.parameter:
                out[spec.parameter] = spec.env
    return out


def _secret_group_parameters() -> dict[str, str]:
    return {g.parameter: g.name for g in settings.SECRET_GROUPS.values()}


def _secret_names(group: str) -> list[str]:
    return sorted({spec.env for cls in settings.ALL for _a, spec in cls.specs() if spec.secret == group})


class Container:
    """One Lambda container (a process) of a function."""

    def __init__(self, fn: LocalFunction, env: dict[str, str], api_port: int | None = None) -> None:
        self.fn = fn
        self._io = threading.Lock()  # one exchange at a time (the API's is drained from several threads)
        parent, child = socket.socketpair()
        # the demo collects every container's log in its own log file (LAMBDA_LOG_FILE)
        self.log_path = Path(os.environ.get("LAMBDA_LOG_FILE") or LOG_DIR / f"{fn.name}.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localdev.lambda_container"],
            env={**env, "JULO_CONTAINER_FD": str(child.fileno())}, pass_fds=[child.fileno()], cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send({"name": fn.name, "handler": fn.handler, "timeout": fn.timeout, "memory": fn.memory,
                        "statements": fn.statements, "settings": fn.settings, "api_port": api_port,
                        "gateway": fn.gateway})
        reply = self._recv(INIT_TIMEOUT)
        if reply is None or "init_error" in reply:
            self.kill()
            reason = reply["init_error"] if reply else f"no answer in {INIT_TIMEOUT:.0f}s"
            self.init_calls = reply.get("calls", []) if reply else []
            raise ColdStartFailed(fn.name, reason, self.init_calls)

    def _recv(self, timeout: float) -> dict[str, Any] | None:
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                return None
        return None

    def invoke(self, event: dict[str, Any]) -> Invocation:
        with self._io:
            self.conn.send({"event": event})
            reply = self._recv(float(self.fn.timeout))
        if reply is None:
            self.kill()
            return Invocation(error=f"Task timed out after {self.fn.timeout} seconds", timed_out=True)
        inv = Invocation(result=reply.get("result"), error=reply.get("error"), calls=reply.get("calls", []))
        if self._rss_mb() > self.fn.memory:
            self.kill()
            inv.error = inv.error or f"Runtime exited: memory {self._rss_mb():.0f} MB > MemorySize {self.fn.memory}"
        return inv

    def drain_calls(self) -> list[dict[str, Any]]:
        with self._io:
            self.conn.send({"drain": True})
            reply = self._recv(10.0)
        return reply.get("calls", []) if reply else []

    def _rss_mb(self) -> float:
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 1e6
        except Exception:
            return 0.0

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)
        self.conn.close()


class ColdStartFailed(RuntimeError):
    def __init__(self, function: str, reason: str, calls: list[dict[str, Any]]) -> None:
        super().__init__(f"{function}: cold start failed: {reason}")
        self.function, self.reason, self.calls = function, reason, calls


class TemplateRuntime:
    """Creates the template's resources in moto and runs its functions as Lambda would."""

    def __init__(self, values: dict[str, str] | None = None, *, template: str | Path | None = None,
                 api_port: int | None = None, placeholders: bool = False) -> None:
        declared = settings.declared_names()
        # local values: the declared settings of this process's environment, then the caller's
        self.values = {k: v for k, v in os.environ.items() if k in declared and v} | dict(values or {})
        self.placeholders = placeholders
        self.template_path = packaged_template(template)
        self.template = load_template(self.template_path)
        self.region = config.aws_region()
        self.api_port = api_port
        self.functions: dict[str, LocalFunction] = {}
        self.credentials: dict[str, tuple[str, str]] = {}  # role logical id -> access key
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.denied: list[str] = []
        self._queue_urls: dict[str, str] = {}
        self.timeouts: list[str] = []
        self.cold_starts: dict[str, int] = {}
        self._idle: dict[str, list[Container]] = {}
        self._running: dict[str, int] = {}
        self._cv = threading.Condition()
        self._api: Container | None = None
        self.resolver: Resolver | None = None

    # --- provisioning --------------------------------------------------------------------------

    def _parameters(self) -> dict[str, Any]:
        by_setting = _parameter_settings()
        groups = _secret_group_parameters()
        params: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            if name in groups:
                params[name] = self._secret(groups[name])
            elif name in by_setting and by_setting[name] in self.values:
                params[name] = self.values[by_setting[name]]
            elif name in self.values:
                params[name] = self.values[name]
            elif name in LOCAL_STACK_PARAMETERS:
                params[name] = LOCAL_STACK_PARAMETERS[name]
            elif "Default" in spec:
                params[name] = spec["Default"]
            elif spec.get("Type") == "CommaDelimitedList":  # VPC subnets and groups: no VPC locally
                params[name] = [f"local-{name.lower()}"]
            elif self.placeholders:  # resources only: no function will read it
                params[name] = "https://unset.invalid" if name.endswith("Url") else "unset"
            else:
                raise KeyError(f"template parameter {name} ({by_setting.get(name, 'no setting')}) has no local value")
            if isinstance(params[name], int | float):
                params[name] = str(params[name])
            if spec.get("Type") == "CommaDelimitedList" and isinstance(params[name], str):
                params[name] = [v.strip() for v in params[name].split(",")]
        return params

    def _secret(self, group: str) -> str:
        sm = _admin("secretsmanager")
        role = settings.SECRET_GROUPS[group].role
        if role:
            # the function group's own PostgreSQL role (the local server trusts local logins, so no
            # password), with exactly the grant map's privileges; the local server speaks no TLS: the
            # local secret says so (a deployed secret without an sslmode gets verify-full)
            url = with_user(self.values.get("DATABASE_URL") or config.database_url(), role)
            value = with_sslmode(url, "disable")
        else:
            value = json.dumps({n: self.values[n] for n in _secret_names(group) if self.values.get(n)})
        name = f"{STACK_NAME}/{group}"
        try:
            return sm.create_secret(Name=name, SecretString=value)["ARN"]
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=value)
            return sm.describe_secret(SecretId=name)["ARN"]

    def provision(self) -> TemplateRuntime:
        res = self.template["Resources"]
        r = self.resolver = Resolver(self.template, self._parameters(), self.region)
        by_type: dict[str, list[str]] = {}
        for logical, spec in res.items():
            by_type.setdefault(spec["Type"], []).append(logical)
        for logical in by_type.get("AWS::KMS::Key", []):
            key = _admin("kms").create_key(Description=logical)["KeyMetadata"]
            r.physical[logical] = {"Ref": key["KeyId"], "Arn": key["Arn"]}
        for logical in by_type.get("AWS::Logs::LogGroup", []):
            props = res[logical].get("Properties", {})
            name = r.value(props["LogGroupName"]) if "LogGroupName" in props else f"/julo/{STACK_NAME}/{logical}"
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{name}:*"}
        self._queues(res, by_type.get("AWS::SQS::Queue", []))
        self._tables(res, by_type.get("AWS::DynamoDB::Table", []))
        for logical in by_type.get("AWS::IAM::Role", []):
            r.physical[logical] = {"Ref": logical, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{STACK_NAME}-{logical}"}
        for logical in by_type.get("AWS::Serverless::Api", []):
            # no API Gateway locally: the API container serves the routes; a function that would read the
            # stack's own API URL gets the local value of its setting instead (PublicApiBaseUrl)
            r.physical[logical] = {"Ref": f"local-{logical.lower()}"}
        functions = by_type.get("AWS::Serverless::Function", [])
        for logical in functions:
            name = res[logical].get("Metadata", {}).get("Name", logical)
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"}
        for logical in by_type.get("AWS::StepFunctions::StateMachine", []):
            name = res[logical].get("Metadata", {}).get("Name", logical)
            arn = f"arn:aws:states:{self.region}:{ACCOUNT}:stateMachine:{name}"
            r.physical[logical] = {"Ref": arn, "Arn": arn, "Name": name}
        self._roles(res, by_type.get("AWS::IAM::Role", []))
        self._state_machines(res, by_type.get("AWS::StepFunctions::StateMachine", []))
        for logical in functions:
            self._function(logical, res[logical])
        for logical in by_type.get("AWS::Serverless::Api", []):
            self._gateway(logical, res[logical]["Properties"])
        for logical in by_type.get("AWS::SES::EmailIdentity", []):
            if "Condition" in res[logical] and not r.condition(res[logical]["Condition"]):
                continue
            _admin("ses").verify_email_identity(EmailAddress=r.value(res[logical]["Properties"]["EmailIdentity"]))
        resources.forget_lookups()
        return self

    def _queues(self, res: dict[str, Any], logicals: list[str]) -> None:
        r = self.resolver
        assert r is not None
        sqs = _admin("sqs")
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
            r.physical[logical] = {"Ref": url, "Arn": f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}", "QueueName": name,
                                   "QueueUrl": url}

    def _tables(self, res: dict[str, Any], logicals: list[str]) -> None:
        r = self.resolver
        assert r is not None
        ddb = _admin("dynamodb")
        existing = set(ddb.list_tables().get("TableNames", []))
        for logical in logicals:
            spec = res[logical]
            name = spec.get("Metadata", {}).get("Name", logical)
            props = r.value(spec["Properties"])
            if name not in existing:
                ddb.create_table(TableName=name, KeySchema=props["KeySchema"],
                                 AttributeDefinitions=props["AttributeDefinitions"],
                                 BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"))
                ddb.get_waiter("table_exists").wait(TableName=name)
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            r.physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"}

    def _roles(self, res: dict[str, Any], logicals: list[str]) -> None:
        """Each role in moto's IAM, and (for Lambda roles) a user with its policy and an access key."""
        r = self.resolver
        assert r is not None
        iam = _admin("iam")
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
        r = self.resolver
        assert r is not None
        sfn = _admin("stepfunctions")
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

    def _function(self, logical: str, spec: dict[str, Any]) -> None:
        r = self.resolver
        assert r is not None
        props = spec["Properties"]
        meta = spec.get("Metadata", {})
        name = meta.get("Name", logical)
        role_logical = props["Role"]["Fn::GetAtt"][0]
        role = self.template["Resources"][role_logical]["Properties"]
        statements = [st for p in role.get("Policies", []) for st in r.value(p["PolicyDocument"])["Statement"]]
        env = {k: str(v) for k, v in r.value(props.get("Environment", {}).get("Variables", {})).items()}
        reserved = r.value(props.get("ReservedConcurrentExecutions", 0)) or 0
        fn = LocalFunction(
            name=name, logical_id=logical, handler=props["Handler"], timeout=int(r.value(props.get("Timeout", 3))),
            memory=int(r.value(props.get("MemorySize", 128))), concurrency=max(1, int(reserved or 1)),
            settings=meta.get("Settings", ""), environment=env, statements=statements, role=role_logical,
            api=logical == "APIHandler")
        events = _admin("events")
        for key, event in props.get("Events", {}).items():
            eprops = r.value(event.get("Properties", {}))
            if event["Type"] == "SQS":
                fn.sqs_queue = str(eprops["Queue"]).rsplit(":", 1)[-1]
                fn.batch_size = int(eprops.get("BatchSize", 10))
                maximum = eprops.get("ScalingConfig", {}).get("MaximumConcurrency")
                if maximum:
                    fn.concurrency = min(fn.concurrency, int(maximum)) if reserved else int(maximum)
            elif event["Type"] == "Schedule":
                rule = f"{name}-{key}"[:64]
                events.put_rule(Name=rule, ScheduleExpression=eprops["Schedule"],
                                State="ENABLED" if eprops.get("Enabled", True) else "DISABLED")
                target: dict[str, Any] = {"Id": "function", "Arn": r.physical[logical]["Arn"]}
                if "Input" in eprops:
                    target["Input"] = eprops["Input"]
                events.put_targets(Rule=rule, Targets=[target])
                fn.schedules.append({"rule": rule, "schedule": eprops["Schedule"],
                                     "input": json.loads(eprops["Input"]) if "Input" in eprops else None})
        self.functions[name] = fn

    def _gateway(self, logical: str, props: dict[str, Any]) -> None:
        """What API Gateway decides before the API function runs: the resource policy."""
        r = self.resolver
        assert r is not None
        body = props.get("DefinitionBody", {})
        policy = body.get("x-amazon-apigateway-policy")
        api = next((f for f in self.functions.values() if f.api), None)
        if api is None or policy is None:
            return
        denied = body.get("x-amazon-apigateway-gateway-responses", {}).get("ACCESS_DENIED", {})
        api.gateway = {
            "policy": r.value(policy), "stage": r.value(props.get("StageName", "api")),
            "api_arn": f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{r.physical[logical]['Ref']}",
            "denied_status": int(denied.get("statusCode", 403)),
            "denied_body": denied.get("responseTemplates", {}).get("application/json",
                                                                   '{"message": "Forbidden"}'),
        }

    # --- containers --------------------------------------------------------------------------------

    def local_overrides(self, fn: LocalFunction) -> dict[str, str]:
        """Local values of settings the function's class declares but the template leaves to their
        defaults (no parameter): test tuning such as provider timeouts. Never a template value."""
        if not fn.settings:
            return {}
        out = {}
        for _attr, spec in settings.by_name(fn.settings).specs():
            if spec.parameter or spec.secret or spec.resource or spec.env in fn.environment:
                continue
            if spec.env in self.values:
                out[spec.env] = self.values[spec.env]
        return out

    def environment(self, fn: LocalFunction) -> dict[str, str]:
        """Exactly the template Environment, plus what Lambda and the local endpoint add."""
        key, secret = self.credentials[fn.role]
        env = {**self.local_overrides(fn), **fn.environment}
        env.update({
            "AWS_ENDPOINT_URL": config.aws_endpoint_url() or "",
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(ROOT), "TZ": "UTC",
        })
        if self.values.get("REQUESTS_CA_BUNDLE"):  # the fakes' TLS CA: this machine's trust store
            env["REQUESTS_CA_BUNDLE"] = self.values["REQUESTS_CA_BUNDLE"]
        return env

    def _take(self, fn: LocalFunction) -> Container:
        with self._cv:
            while self._running.get(fn.name, 0) >= fn.concurrency:
                self._cv.wait()
            self._running[fn.name] = self._running.get(fn.name, 0) + 1
            idle = self._idle.setdefault(fn.name, [])
            container = idle.pop() if idle else None
        if container is not None and container.alive:
            return container
        try:
            container = Container(fn, self.environment(fn))
        except ColdStartFailed as exc:
            self._release(fn, None)
            self._record(fn.name, exc.calls)
            raise
        self.cold_starts[fn.name] = self.cold_starts.get(fn.name, 0) + 1
        return container

    def _release(self, fn: LocalFunction, container: Container | None) -> None:
        with self._cv:
            self._running[fn.name] -= 1
            if container is not None and container.alive:
                self._idle.setdefault(fn.name, []).append(container)
            self._cv.notify_all()

    def _record(self, name: str, calls: list[dict[str, Any]]) -> None:
        with self._cv:
            self.calls.setdefault(name, []).extend(calls)
            for c in calls:
                if not c["allowed"]:
                    self.denied.append(f"{name}: AccessDenied: {c['action']} on {', '.join(c['resources'] or ['*'])}")

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        fn = self.functions[name]
        container = self._take(fn)
        try:
            inv = container.invoke(event)
        finally:
            self._release(fn, container)
        self._record(name, inv.calls)
        if inv.timed_out:
            self.timeouts.append(name)
        self.raise_if_denied()
        return inv

    def raise_if_denied(self) -> None:
        if self._api is not None and self._api.alive:
            self._record("api", self._api.drain_calls())
        if self.denied:
            raise LocalAccessDenied("calls the template does not allow:\n  " + "\n  ".join(dict.fromkeys(self.denied)))

    # --- SQS delivery, as Lambda's event source mapping --------------------------------------------

    def queue_url(self, queue: str) -> str:
        url = self._queue_urls.get(queue)
        if url is None:
            url = self._queue_urls[queue] = _admin("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
        return url

    def deliver(self, name: str, wait_seconds: int = 0) -> tuple[int, int]:
        """One invocation's worth of messages from the function's queue: (received, failed).

        ``wait_seconds``: long polling, as Lambda's poller does (moto answers as soon as a message
        arrives, so a caller waiting for the next message neither spins nor misses it).
        """
        from localdev.lambda_runtime import sqs_record

        fn = self.functions[name]
        sqs = _admin("sqs")
        assert fn.sqs_queue
        url = self.queue_url(fn.sqs_queue)
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{fn.sqs_queue}"
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(fn.batch_size, 10),
                                       WaitTimeSeconds=wait_seconds,
                                       MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                                       ).get("Messages", [])
        if not messages:
            return 0, 0
        event = {"Records": [sqs_record(m, arn) for m in messages]}
        try:
            inv = self.invoke(name, event)
        except ColdStartFailed:
            for m in messages:  # back at once: the next poll tries a new cold start
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            raise
        if inv.timed_out:
            return len(messages), len(messages)  # left invisible: back after the visibility timeout
        if inv.error is not None:
            failed = {m["MessageId"] for m in messages}
        else:
            failed = {f["itemIdentifier"] for f in (inv.result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        return len(messages), len(failed)

    def queue_depth(self, queue: str) -> int:
        attrs = _admin("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, names: Iterable[str] | None = None, *, idle: Callable[[], bool] | None = None,
              timeout: float = 600.0) -> dict[str, tuple[int, int]]:
        """Deliver with up to each function's concurrency in parallel until its queues are empty."""
        chosen = [f for f in self.functions.values() if f.sqs_queue and (names is None or f.name in set(names))]
        totals = {f.name: [0, 0] for f in chosen}
        errors: list[BaseException] = []
        stop = threading.Event()
        deadline = time.monotonic() + timeout

        def done() -> bool:
            return all(self.queue_depth(f.sqs_queue or "") == 0 for f in chosen) and (idle is None or idle())

        def worker(fn: LocalFunction) -> None:
            pause = IDLE_POLL_MIN
            while not stop.is_set():
                try:
                    received, failed = self.deliver(fn.name)
                except BaseException as exc:  # denied, cold start failed: stop the day
                    errors.append(exc)
                    stop.set()
                    return
                with self._cv:
                    totals[fn.name][0] += received
                    totals[fn.name][1] += failed
                # an empty queue is polled less and less often (each poll is a request moto serves)
                pause = IDLE_POLL_MIN if received else min(pause * 2, IDLE_POLL_MAX)
                if not received:
                    stop.wait(pause)

        if done():  # nothing to deliver, nothing outstanding: no pollers to start
            return {f.name: (0, 0) for f in chosen}
        threads = [threading.Thread(target=worker, args=(f,), daemon=True)
                   for f in chosen for _ in range(f.concurrency)]
        for t in threads:
            t.start()
        try:
            while not stop.is_set():
                if done() and done():  # twice: a message in flight between two workers' polls
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"queues still not empty after {timeout:.0f}s: {[f.name for f in chosen]}")
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        self.raise_if_denied()
        return {k: (v[0], v[1]) for k, v in totals.items()}

    # --- the API ---------------------------------------------------------------------------------

    def start_api(self, port: int | None = None) -> str:
        api = next(f for f in self.functions.values() if f.api)
        port = port or self.api_port or free_port()
        self._api = Container(api, self.environment(api), api_port=port)
        self.cold_starts["api"] = 1
        return f"http://127.0.0.1:{port}"

    # --- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        with self._cv:
            containers = [c for cs in self._idle.values() for c in cs]
            self._idle.clear()
        if self._api is not None:
            containers.append(self._api)
        for c in containers:
            if c.alive:
                c.kill()

    def __enter__(self) -> TemplateRuntime:
        from localdev import lambda_runtime

        self.provision()
        lambda_runtime.activate(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from localdev import lambda_runtime

        lambda_runtime.deactivate(self)
        self.close()

    def summary(self) -> str:
        calls = sum(len(v) for v in self.calls.values())
        distinct = len({(c["action"], tuple(c["resources"] or ())) for v in self.calls.values() for c in v})
        return (f"IAM: {calls:,} AWS calls by {len(self.calls)} functions ({distinct} distinct action/resource "
                f"pairs) checked against their template roles, {len(self.denied)} denied; "
                f"cold starts {sum(self.cold_starts.values())}, timeouts {len(self.timeouts)}")


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def strip_statement(template_path: Path, role_logical_id: str, sid: str, out: Path) -> Path:
    """A copy of a template without one statement of one role (tests, ``DEMO_TEMPLATE`` drills)."""
    t = json.loads(Path(template_path).read_text())
    for policy in t["Resources"][role_logical_id]["Properties"]["Policies"]:
        policy["PolicyDocument"]["Statement"] = [s for s in policy["PolicyDocument"]["Statement"]
                                                 if s.get("Sid") != sid]
    out.write_text(json.dumps(t, indent=1))
    return out


