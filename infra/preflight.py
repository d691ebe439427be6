"""Before a deploy: read the target AWS account and say what would fail, and why.

    python -m infra.preflight --parameters params.json [--stack-name julo-reminders] [--s3-bucket B]
    make preflight PARAMS=params.json

It reads ``dist/template.json`` (``make package``) and the stack's parameters (the same file
``aws cloudformation deploy --parameter-overrides file://params.json`` reads: CloudFormation's
``[{"ParameterKey": …, "ParameterValue": …}]``, CodePipeline's ``{"Parameters": {…}}`` or
``["Key=Value", …]``), then asks the account, with the deploying credentials (boto3's usual
chain; ``AWS_ENDPOINT_URL`` points it at moto):

- **parameters**: every required one given, each value as its ``AllowedPattern`` /
  ``AllowedValues`` / ``MinValue`` demand (CloudFormation would refuse the stack), none unknown;
- **staff-networks**: ``StaffSourceCidrs`` are networks (a host address with a prefix such as
  ``203.0.113.7/24`` is refused); a ``/0`` range (staff routes open to everyone) is a warning;
- **stack**: not left in ``ROLLBACK_COMPLETE`` (cannot be updated) nor mid-operation;
- **api-gateway-logging**: the account's API Gateway CloudWatch Logs role is set and exists
  (a stage with access logging fails to create without it: ``dist/bootstrap.json`` sets it);
- **lambda-concurrency**: the account's concurrency quota holds the template's reserved total
  plus the 100 that Lambda keeps unreserved (plus what other functions reserve already);
- **ses**: production access (the sandbox sends only to verified addresses, 200 a day) and the
  sender identity (absent: the stack creates it; present: ``CreateSenderIdentity=false``);
- **secrets**: each secret parameter exists in this account and region, is readable, is not
  under a customer-managed KMS key the function roles cannot use, and has the shape the
  functions read (database: RDS JSON or a URL verifying TLS; the JSON groups: every key the
  settings classes require). Values are never printed;
- **vpc**: the subnets exist in one VPC, are private with a NAT route (the functions call the
  providers on the internet), the security groups exist in that VPC and may reach 443;
- **database**: the RDS instance (or Aurora cluster) behind the database secret uses a CA whose
  root is in the artifact's bundle (``sslmode=verify-full`` refuses any other), and its security
  groups admit the functions' security groups on its port;
- **artifact-bucket** (with ``--s3-bucket``): it exists, in the target region.

Exit status 0 when nothing fails (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import config, settings  # noqa: E402
from infra.api_access import STAFF_CIDRS_PARAMETER  # noqa: E402

OK, WARN, FAIL = "ok", "warn", "FAIL"
LAMBDA_MIN_UNRESERVED = 100  # Lambda keeps this much of the account's concurrency unreserved
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"  # Service Quotas: AWS Lambda, Concurrent executions
DEFAULT_STACK = "julo-reminders"
BOOTSTRAP_STACK = "julo-apigateway-account"
AWS_MANAGED_SECRET_KEYS = {None, "", "alias/aws/secretsmanager"}
WEAK_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca"}
DATABASE_PORT = 5432
CA_SUBJECT = re.compile(r"Amazon RDS (?P<region>[a-z0-9-]+) Root CA (?P<alg>RSA2048|RSA4096|ECC384) (?P<gen>G\d+)")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    message: str


@dataclass
class Context:
    """What the checks share: the template, the parameters, the account and what earlier checks learnt."""

    template: dict[str, Any]
    given: dict[str, str]
    region: str
    stack_name: str
    session: Any
    allow_ses_sandbox: bool = False
    s3_bucket: str | None = None
    account_id: str = ""
    stack: dict[str, Any] | None = None
    stack_resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    database_hosts: dict[str, tuple[str, int]] = field(default_factory=dict)  # secret parameter -> (host, port)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    @property
    def parameters(self) -> dict[str, Any]:
        """Every template parameter's value: given, else its default."""
        out: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            if name in self.given:
                out[name] = self.given[name]
            elif "Default" in spec:
                out[name] = spec["Default"]
        return out

    def value(self, node: Any) -> Any:
        """A template value with ``Ref`` to a parameter resolved (what the checks need)."""
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return self.parameters.get(node["Ref"])
        return node


# --- parameters ----------------------------------------------------------------------------------


def read_parameters(path: Path | None, overrides: Iterable[str] = ()) -> dict[str, str]:
    """The parameters file in any format ``aws cloudformation deploy`` reads, then ``Key=Value`` overrides."""
    out: dict[str, str] = {}
    if path is not None:
        raw = json.loads(path.read_text())
        if isinstance(raw, dict) and isinstance(raw.get("Parameters"), dict):
            out.update({str(k): str(v) for k, v in raw["Parameters"].items()})
        elif isinstance(raw, list):
            for item in raw:
                if isinstance(item, dict):
                    out[str(item["ParameterKey"])] = str(item["ParameterValue"])
                else:
                    key, sep, value = str(item).partition("=")
                    if not sep:
                        raise ValueError(f"{path}: {item!r} is not Key=Value")
                    out[key] = value
        else:
            raise ValueError(f"{path}: not a CloudFormation, CodePipeline or Key=Value parameters file")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--parameter-overrides {item!r} is not Key=Value")
        out[key] = value
    return out


def _parameter_problem(name: str, spec: dict[str, Any], value: str) -> str | None:
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{name} must be a number, got {value!r}"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{name} must be at least {spec['MinValue']}, got {value}"
        return None
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return f"{name} must be one of {', '.join(map(str, spec['AllowedValues']))}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"{name} must not be empty"
    items = [v.strip() for v in value.split(",")] if spec.get("Type") == "CommaDelimitedList" else [value]
    for item in items:  # CloudFormation matches a list's pattern on each value
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            which = f" ({item!r})" if len(items) > 1 else ""
            return f"{name} does not match its AllowedPattern {spec['AllowedPattern']}{which}"
    return None


def check_parameters(ctx: Context) -> list[Finding]:
    specs = ctx.template.get("Parameters", {})
    problems = [f"{name} is not a parameter of the template" for name in ctx.given if name not in specs]
    for name, spec in specs.items():
        if name not in ctx.given and "Default" not in spec:
            problems.append(f"{name} is required: {spec.get('Description', '')}")
        elif name in ctx.given:
            problem = _parameter_problem(name, spec, ctx.given[name])
            if problem:
                problems.append(problem)
    if problems:
        return [Finding("parameters", FAIL, p) for p in problems]
    return [Finding("parameters", OK, f"{len(ctx.given)} given, every required one present and valid")]


# --- the staff networks ----------------------------------------------------------------------------


def check_staff_networks(ctx: Context) -> list[Finding]:
    """``StaffSourceCidrs``: the API's resource policy admits staff routes from these ranges only."""
    value = ctx.parameters.get(STAFF_CIDRS_PARAMETER)
    if STAFF_CIDRS_PARAMETER not in ctx.template.get("Parameters", {}) or not value:
        return []  # check_parameters names a missing one
    problems, everywhere = [], []
    for item in (v.strip() for v in str(value).split(",")):
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            problems.append(f"{item!r} is not a network API Gateway can match ({exc})")
            continue
        if network.prefixlen == 0:
            everywhere.append(item)
    if problems:
        return [Finding("staff-networks", FAIL, f"{STAFF_CIDRS_PARAMETER}: {p}") for p in problems]
    if everywhere:
        return [Finding("staff-networks", WARN, f"{STAFF_CIDRS_PARAMETER} includes {', '.join(everywhere)}: the "
                                                "staff routes (CRM, analytics exports) are open to the whole "
                                                "internet; give the office and VPN egress ranges")]
    return [Finding("staff-networks", OK, f"staff routes reachable from {value} only")]


# --- the stack -----------------------------------------------------------------------------------


def check_stack(ctx: Context) -> list[Finding]:
    cfn = ctx.client("cloudformation")
    try:
        ctx.stack = cfn.describe_stacks(StackName=ctx.stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return [Finding("stack", OK, f"{ctx.stack_name} is new: a first deploy")]
        raise
    status = ctx.stack["StackStatus"]
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=ctx.stack_name):
        for r in page["StackResourceSummaries"]:
            ctx.stack_resources[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
    if status == "ROLLBACK_COMPLETE":
        return [Finding("stack", FAIL, f"{ctx.stack_name} is in ROLLBACK_COMPLETE (its first deploy failed): it "
                                       "cannot be updated; delete it (aws cloudformation delete-stack), deploy again")]
    if status.endswith("_IN_PROGRESS"):
        return [Finding("stack", FAIL, f"{ctx.stack_name} is in {status}: wait until it finishes")]
    return [Finding("stack", OK, f"{ctx.stack_name} exists ({status}): an update")]


# --- API Gateway's CloudWatch Logs role ------------------------------------------------------------


def check_api_gateway_logging(ctx: Context) -> list[Finding]:
    arn = ctx.client("apigateway").get_account().get("cloudwatchRoleArn")
    fix = (f"deploy dist/bootstrap.json once per account and region: aws cloudformation deploy --template-file "
           f"dist/bootstrap.json --stack-name {BOOTSTRAP_STACK} --capabilities CAPABILITY_IAM")
    if not arn:
        return [Finding("api-gateway-logging", FAIL,
                        "API Gateway has no CloudWatch Logs role in this account and region, so the API stage "
                        "(access logging on) fails to create: \"CloudWatch Logs role ARN must be set in account "
                        f"settings to enable logging\"; {fix}")]
    try:
        role = ctx.client("iam").get_role(RoleName=arn.rsplit("/", 1)[-1])["Role"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return [Finding("api-gateway-logging", FAIL, f"API Gateway's CloudWatch Logs role {arn} no longer "
                                                         f"exists: stage logging fails; {fix}")]
        raise
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    if "apigateway.amazonaws.com" not in json.dumps(trust):
        return [Finding("api-gateway-logging", FAIL, f"{arn} does not trust apigateway.amazonaws.com; {fix}")]
    return [Finding("api-gateway-logging", OK, f"API Gateway logs through {arn}")]


# --- Lambda concurrency --------------------------------------------------------------------------------


def reserved_concurrency(ctx: Context) -> dict[str, int]:
    """Each function's reserved concurrency, with the parameters' values."""
    out: dict[str, int] = {}
    for logical, r in ctx.template["Resources"].items():
        if r["Type"] not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        value = ctx.value(r["Properties"].get("ReservedConcurrentExecutions"))
        if value not in (None, ""):
            out[r.get("Metadata", {}).get("Name", logical)] = int(float(value))
    return out


def _reserved_by_this_stack(ctx: Context) -> int:
    """What this stack's functions reserve today (an update replaces it, so it counts as available)."""
    lam = ctx.client("lambda")
    total = 0
    for logical, physical in ctx.stack_resources.items():
        if ctx.template["Resources"].get(logical, {}).get("Type") in ("AWS::Serverless::Function",
                                                                        "AWS::Lambda::Function") and physical:
            try:
                total += int(lam.get_function_concurrency(FunctionName=physical).get(
                    "ReservedConcurrentExecutions") or 0)
            except ClientError:
                continue
    return total


def check_lambda_concurrency(ctx: Context) -> list[Finding]:
    limit = ctx.client("lambda").get_account_settings()["AccountLimit"]
    quota, unreserved = int(limit["ConcurrentExecutions"]), int(limit["UnreservedConcurrentExecutions"])
    ours = reserved_concurrency(ctx)
    total = sum(ours.values())
    others = quota - unreserved - _reserved_by_this_stack(ctx)  # reserved by functions outside this stack
    needed = others + total + LAMBDA_MIN_UNRESERVED
    biggest = ", ".join(f"{name} {n}" for name, n in sorted(ours.items(), key=lambda kv: -kv[1])[:4])
    if quota < needed:
        other_text = f", other functions of the account reserve {others}" if others else ""
        return [Finding("lambda-concurrency", FAIL,
                        f"the account's Lambda concurrency quota is {quota}; this stack reserves {total} "
                        f"({biggest}, …){other_text} and Lambda keeps {LAMBDA_MIN_UNRESERVED} unreserved, so the "
                        f"quota must be at least {needed}: request an increase (Service Quotas: AWS Lambda, "
                        f"Concurrent executions, {LAMBDA_CONCURRENCY_QUOTA_CODE}) or lower "
                        "ApiReservedConcurrency / DispatchMaxConcurrency")]
    return [Finding("lambda-concurrency", OK, f"quota {quota} holds this stack's {total} reserved + "
                                              f"{LAMBDA_MIN_UNRESERVED} unreserved" +
                    (f" + {others} reserved elsewhere" if others else ""))]


# --- SES --------------------------------------------------------------------------------------------


def check_ses(ctx: Context) -> list[Finding]:
    if "SenderEmail" not in ctx.template.get("Parameters", {}):
        return []
    sesv2 = ctx.client("sesv2")
    account = sesv2.get_account()
    if account.get("ProductionAccessEnabled"):
        out = [Finding("ses", OK, "production access")]
    else:
        quota = account.get("SendQuota", {})
        text = (f"SES is in the sandbox here ({quota.get('Max24HourSend', 200):.0f} messages a day, "
                f"{quota.get('MaxSendRate', 1):.0f} a second, verified recipients only): borrowers' calendar emails "
                "would be refused; request production access (SES console: Account dashboard)")
        out = [Finding("ses", WARN, text + " (allowed: --allow-ses-sandbox)") if ctx.allow_ses_sandbox
               else Finding("ses", FAIL, text)]
    sender = str(ctx.parameters.get("SenderEmail", ""))
    if sender == ctx.template["Parameters"]["SenderEmail"].get("Default"):
        return [*out, Finding("ses", FAIL, f"SenderEmail is the template's placeholder {sender!r}: give the "
                                           "address the calendar emails come from")]
    creates = str(ctx.parameters.get("CreateSenderIdentity", "true")) == "true"
    try:
        identity = sesv2.get_email_identity(EmailIdentity=sender)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        identity = None
    if identity is None and creates:
        out.append(Finding("ses", OK, f"the stack creates the identity {sender}: confirm its verification mail "
                                      "after the deploy"))
    elif identity is None:
        out.append(Finding("ses", FAIL, f"{sender} is not an SES identity here and CreateSenderIdentity=false: "
                                        "nothing would create it"))
    elif creates and "SenderIdentity" not in ctx.stack_resources:
        out.append(Finding("ses", FAIL, f"{sender} is already an SES identity of this account: creating it again "
                                        "fails the stack; deploy with CreateSenderIdentity=false"))
    elif not identity.get("VerifiedForSendingStatus"):
        out.append(Finding("ses", WARN, f"{sender} is not verified yet: confirm its verification mail (or DNS "
                                        "records) before the first completed disbursement"))
    else:
        out.append(Finding("ses", OK, f"{sender} is verified"))
    return out


# --- secrets ---------------------------------------------------------------------------------------


def _secret_parameters(ctx: Context) -> dict[str, str]:
    """Secret parameter -> its group, for the groups the template uses."""
    return {g.parameter: g.name for g in settings.SECRET_GROUPS.values()
            if g.parameter in ctx.template.get("Parameters", {})}


def _arn_problem(ctx: Context, arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) < 7:
        return "is not a secret ARN"
    if parts[3] != ctx.region:
        return f"is in {parts[3]}, not {ctx.region}: the functions read secrets of their own region"
    if ctx.account_id and parts[4] != ctx.account_id:
        return f"belongs to account {parts[4]}, not {ctx.account_id}"
    return None


def _database_secret_problem(ctx: Context, parameter: str, value: str, role: str | None) -> str | None:
    try:
        url = config.database_url_from_secret_value(value)
    except ValueError as exc:
        return str(exc)
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if role and unquote(parts.username or "") != role:
        return (f"logs in as {unquote(parts.username or '')!r}, not the function group's role {role}: "
                "python -m chalicelib.database_roles provision-secrets writes these secrets")
    mode = parse_qs(parts.query).get("sslmode", [""])[0]
    if mode in WEAK_SSLMODES:
        return f"its URL says sslmode={mode}: the server's certificate would not be verified (remove it: verify-full)"
    if parts.hostname:
        ctx.database_hosts[parameter] = (parts.hostname, parts.port or DATABASE_PORT)
    return None


def _json_secret_problem(group: str, value: str) -> str | None:
    try:
        fields = json.loads(value)
    except ValueError:
        return "is not a JSON object (keys: the setting names)"
    if not isinstance(fields, dict):
        return "is not a JSON object (keys: the setting names)"
    specs = {spec.env: spec for cls in settings.ALL for _a, spec in cls.specs() if spec.secret == group}
    missing = sorted(name for name, spec in specs.items() if spec.required and not fields.get(name))
    if missing:
        return f"lacks {', '.join(missing)}"
    for name, spec in specs.items():
        if fields.get(name) and spec.check is not None:
            problem = spec.check(str(fields[name]))
            if problem:
                return f"{name} {problem}"
    return None


def check_secrets(ctx: Context) -> list[Finding]:
    sm = ctx.client("secretsmanager")
    out: list[Finding] = []
    for parameter, group in _secret_parameters(ctx).items():
        arn = str(ctx.parameters.get(parameter) or "")
        if not arn:
            continue  # reported by the parameters check
        problem = _arn_problem(ctx, arn)
        if problem is None:
            try:
                described = sm.describe_secret(SecretId=arn)
                value = sm.get_secret_value(SecretId=arn)["SecretString"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                problem = ("does not exist" if code == "ResourceNotFoundException"
                           else f"cannot be read with these credentials ({code})")
            else:
                if described.get("KmsKeyId") not in AWS_MANAGED_SECRET_KEYS:
                    problem = ("is encrypted with a customer-managed KMS key the function roles may not use: "
                               "use the aws/secretsmanager key")
                elif settings.SECRET_GROUPS[group].role:
                    problem = _database_secret_problem(ctx, parameter, value, settings.SECRET_GROUPS[group].role)
                else:
                    problem = _json_secret_problem(group, value)
        if problem:
            out.append(Finding("secrets", FAIL, f"{parameter} ({arn}) {problem}"))
        else:
            out.append(Finding("secrets", OK, f"{parameter}: present, readable, shaped as the functions read it"))
    return out


# --- the VPC ---------------------------------------------------------------------------------------


def _list_parameter(ctx: Context, name: str) -> list[str]:
    value = ctx.parameters.get(name) or ""
    return [v.strip() for v in (value if isinstance(value, list) else str(value).split(",")) if v.strip()]


def _route_table(ec2: Any, subnet: dict[str, Any]) -> dict[str, Any] | None:
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id",
                                                 "Values": [subnet["SubnetId"]]}])["RouteTables"]
    if not tables:  # no explicit association: the VPC's main route table
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                    {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return tables[0] if tables else None


def _internet_route(table: dict[str, Any] | None) -> str:
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("State", "active") == "active":
            if route.get("NatGatewayId") or route.get("TransitGatewayId") or route.get("NetworkInterfaceId"):
                return "nat"
            if str(route.get("GatewayId", "")).startswith("igw-"):
                return "igw"
    return "none"


def _allows_egress_443(group: dict[str, Any]) -> bool:
    for rule in group.get("IpPermissionsEgress", []):
        proto = rule.get("IpProtocol")
        wide = any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
        if wide and (proto == "-1" or (proto == "tcp" and rule.get("FromPort", 0) <= 443 <= rule.get("ToPort", 0))):
            return True
    return False


def _subnet_findings(ec2: Any, subnets: list[dict[str, Any]]) -> list[Finding]:
    out: list[Finding] = []
    zones = {s["AvailabilityZone"] for s in subnets}
    if len(zones) < 2:
        out.append(Finding("vpc", WARN, f"SubnetIds are all in {', '.join(zones)}: one zone's outage stops every "
                                        "function; give subnets in two zones"))
    for subnet in subnets:
        route = _internet_route(_route_table(ec2, subnet))
        if route == "igw":
            out.append(Finding("vpc", FAIL, f"{subnet['SubnetId']} is a public subnet (0.0.0.0/0 via an internet "
                                            "gateway): Lambda's network interfaces get no public IP there, so the "
                                            "functions could reach neither the providers nor AWS; use private "
                                            "subnets with a NAT gateway"))
        elif route == "none":
            out.append(Finding("vpc", FAIL, f"{subnet['SubnetId']} has no route to the internet (NAT gateway): "
                                            "the dispatch functions call Vonage and WhatsApp, the report Slack"))
    return out


def _group_findings(groups: list[dict[str, Any]], vpc: str) -> list[Finding]:
    out = [Finding("vpc", FAIL, f"{g['GroupId']} is in {g['VpcId']}, the subnets in {vpc}")
           for g in groups if g["VpcId"] != vpc]
    if not any(_allows_egress_443(g) for g in groups):
        out.append(Finding("vpc", FAIL, "no security group of SecurityGroupIds allows outbound HTTPS (443): "
                                        "Secrets Manager, SQS and the providers would be unreachable"))
    return out


def check_vpc(ctx: Context) -> list[Finding]:
    subnet_ids, group_ids = _list_parameter(ctx, "SubnetIds"), _list_parameter(ctx, "SecurityGroupIds")
    if not subnet_ids or not group_ids:
        return []  # reported by the parameters check
    ec2 = ctx.client("ec2")
    try:
        subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    except ClientError as exc:
        return [Finding("vpc", FAIL, f"SubnetIds: {exc.response.get('Error', {}).get('Message', exc)}")]
    vpcs = {s["VpcId"] for s in subnets}
    if len(vpcs) != 1:
        return [Finding("vpc", FAIL, f"SubnetIds span {len(vpcs)} VPCs ({', '.join(sorted(vpcs))}): one VPC only")]
    vpc = vpcs.pop()
    out = _subnet_findings(ec2, subnets)
    try:
        groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    except ClientError as exc:
        return [*out, Finding("vpc", FAIL, f"SecurityGroupIds: {exc.response.get('Error', {}).get('Message', exc)}")]
    out += _group_findings(groups, vpc)
    if not any(f.status == FAIL for f in out):
        zones = {s["AvailabilityZone"] for s in subnets}
        out.append(Finding("vpc", OK, f"{len(subnets)} private subnets of {vpc} in {len(zones)} zones with a NAT "
                                      f"route; {len(groups)} security groups"))
    return out


# --- the database: its CA and who may reach it --------------------------------------------------------


def bundle_cas(path: Path = config.RDS_CA_BUNDLE) -> dict[str, set[str]]:
    """Region -> the RDS CA identifiers (``rds-ca-rsa2048-g1`` …) whose root is in the shipped bundle."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    out: dict[str, set[str]] = {}
    for cert in x509.load_pem_x509_certificates(path.read_bytes()):
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            m = CA_SUBJECT.fullmatch(str(attr.value))
            if m:
                out.setdefault(m["region"], set()).add(f"rds-ca-{m['alg'].lower()}-{m['gen'].lower()}")
    return out


def _find_instances(rds: Any, host: str) -> list[dict[str, Any]]:
    """The RDS instances behind ``host``: the instance whose endpoint it is, or an Aurora cluster's members."""
    instances = [i for page in rds.get_paginator("describe_db_instances").paginate() for i in page["DBInstances"]]
    direct = [i for i in instances if i.get("Endpoint", {}).get("Address") == host]
    if direct:
        return direct
    for cluster in rds.describe_db_clusters().get("DBClusters", []):
        if host in (cluster.get("Endpoint"), cluster.get("ReaderEndpoint")):
            members = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])}
            return [i for i in instances if i["DBInstanceIdentifier"] in members]
    return []


def _admits(rules: list[dict[str, Any]], port: int, group_ids: set[str], cidrs: list[Any]) -> bool:
    for rule in rules:
        proto = rule.get("IpProtocol")
        if proto != "-1" and not (proto == "tcp" and rule.get("FromPort", 0) <= port <= rule.get("ToPort", 0)):
            continue
        if any(p.get("GroupId") in group_ids for p in rule.get("UserIdGroupPairs", [])):
            return True
        for r in rule.get("IpRanges", []):
            net = ipaddress.ip_network(r["CidrIp"], strict=False)
            if cidrs and all(c.subnet_of(net) for c in cidrs):
                return True
    return False


def check_database(ctx: Context) -> list[Finding]:
    cas = bundle_cas()
    if ctx.region not in cas:
        return [Finding("database", FAIL, f"the artifact's RDS CA bundle ({config.RDS_CA_BUNDLE.name}) holds the "
                                          f"roots of {', '.join(sorted(cas))} only: verify-full would refuse the "
                                          f"database in {ctx.region}; add that region's bundle to chalicelib/certs/")]
    if not ctx.database_hosts:
        return []
    rds, ec2 = ctx.client("rds"), ctx.client("ec2")
    group_ids = set(_list_parameter(ctx, "SecurityGroupIds"))
    subnet_ids = _list_parameter(ctx, "SubnetIds")
    try:
        cidrs = [ipaddress.ip_network(s["CidrBlock"]) for s in ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]]
    except ClientError:
        cidrs = []
    out: list[Finding] = []
    for host, port in sorted(set(ctx.database_hosts.values())):
        instances = _find_instances(rds, host)
        if not instances:
            out.append(Finding("database", WARN, f"{host} is no RDS instance or Aurora cluster of this account and "
                                                 "region: its CA and security groups are not checked"))
            continue
        for inst in instances:
            name, ca = inst["DBInstanceIdentifier"], inst.get("CACertificateIdentifier", "")
            if ca not in cas[ctx.region]:
                out.append(Finding("database", FAIL, f"{name} uses the CA {ca}, whose root is not in the artifact's "
                                                     f"bundle ({', '.join(sorted(cas[ctx.region]))}): sslmode="
                                                     "verify-full would refuse every connection"))
            sg_ids = [g["VpcSecurityGroupId"] for g in inst.get("VpcSecurityGroups", [])]
            groups = ec2.describe_security_groups(GroupIds=sg_ids)["SecurityGroups"] if sg_ids else []
            rules = [rule for g in groups for rule in g.get("IpPermissions", [])]
            if not _admits(rules, port, group_ids, cidrs):
                out.append(Finding("database", FAIL, f"{name}'s security groups admit neither SecurityGroupIds nor "
                                                     f"the subnets on port {port}: every connection would time out"))
            if not any(f.status == FAIL and f.message.startswith(name) for f in out):
                out.append(Finding("database", OK, f"{name}: CA {ca} in the bundle; reachable on {port} from the "
                                                   "functions' security groups"))
    return out


# --- the artifact bucket ---------------------------------------------------------------------------------


def check_artifact_bucket(ctx: Context) -> list[Finding]:
    if not ctx.s3_bucket:
        return []
    s3 = ctx.client("s3")
    try:
        location = s3.get_bucket_location(Bucket=ctx.s3_bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as exc:
        return [Finding("artifact-bucket", FAIL, f"{ctx.s3_bucket}: {exc.response.get('Error', {}).get('Code')}")]
    if location != ctx.region:
        return [Finding("artifact-bucket", FAIL, f"{ctx.s3_bucket} is in {location}: Lambda reads code from a "
                                                 f"bucket in {ctx.region}")]
    return [Finding("artifact-bucket", OK, f"{ctx.s3_bucket} in {ctx.region}")]


CHECKS: tuple[Callable[[Context], list[Finding]], ...] = (
    check_parameters, check_staff_networks, check_stack, check_api_gateway_logging, check_lambda_concurrency, check_ses,
    check_secrets, check_vpc, check_database, check_artifact_bucket,
)


def run(ctx: Context) -> list[Finding]:
    """Every check, in order; an AWS error is that check's failure (never a traceback)."""
    findings: list[Finding] = []
    try:
        ctx.account_id = ctx.client("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as exc:
        return [Finding("credentials", FAIL, f"cannot call AWS with these credentials: {exc}")]
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", "-")
        try:
            findings.extend(check(ctx))
        except (ClientError, BotoCoreError) as exc:
            findings.append(Finding(name, FAIL, f"reading the account failed: {exc}"))
    return findings


def report(ctx: Context, findings: list[Finding]) -> str:
    lines = [f"preflight: account {ctx.account_id or '?'}, region {ctx.region}, stack {ctx.stack_name}"]
    width = max((len(f.check) for f in findings), default=8)
    for f in findings:
        lines.append(f"  {f.status:<4}  {f.check:<{width}}  {f.message}")
    failed = [f for f in findings if f.status == FAIL]
    lines.append(f"{len(failed)} problem(s) would fail the deploy or the first day: fix them first" if failed
                 else "nothing found that would fail the deploy")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parameters", type=Path, help="the stack's parameters file (as aws cloudformation deploy)")
    parser.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--template", type=Path, default=ROOT / "dist" / "template.json")
    parser.add_argument("--stack-name", default=DEFAULT_STACK)
    parser.add_argument("--region", default=None, help="default: AWS_REGION / AWS_DEFAULT_REGION / ap-southeast-3")
    parser.add_argument("--s3-bucket", default=None, help="the artifact bucket of aws cloudformation package")
    parser.add_argument("--allow-ses-sandbox", action="store_true", help="a test account: the SES sandbox is a warning")
    args = parser.parse_args(argv)
    if not args.template.exists():
        print(f"preflight: {args.template} does not exist: run make package first", file=sys.stderr)
        return 2
    if args.parameters is not None and not args.parameters.exists():
        print(f"preflight: no parameters file {args.parameters} (docs/deploy.md, first deploy, step 6)",
              file=sys.stderr)
        return 2
    try:
        given = read_parameters(args.parameters, args.parameter_overrides)
    except (ValueError, KeyError) as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    ctx = Context(template=json.loads(args.template.read_text()), given=given,
                  region=args.region or settings.aws_region(), stack_name=args.stack_name,
                  session=boto3.session.Session(), allow_ses_sandbox=args.allow_ses_sandbox, s3_bucket=args.s3_bucket)
    findings = run(ctx)
    print(report(ctx, findings))
    return 1 if any(f.status == FAIL for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
