"""``python -m infra.preflight`` against moto accounts: what would fail a first deploy is named
before the deploy, with the numbers; a ready account passes.

The rules come from AWS, not from this code:
- Lambda keeps 100 units of the account's concurrency unreserved: a reservation that would leave
  less is refused ("decreases account's UnreservedConcurrentExecution below its minimum value of
  [100]", Lambda's PutFunctionConcurrency; AWS Lambda Developer Guide, "Configuring reserved
  concurrency"). moto enforces the same rule in PutFunctionConcurrency under
  ``MOTO_LAMBDA_CONCURRENCY_QUOTA``: the tests use it as the oracle.
- API Gateway: "CloudWatch Logs role ARN must be set in account settings to enable logging"
  (API Gateway Developer Guide, "Set up CloudWatch logging for REST APIs": the role is an
  account-and-region setting, ``AWS::ApiGateway::Account``).
- SES sandbox: 200 messages per 24 hours, 1 per second, verified recipients only (SES Developer
  Guide, "Request production access").
- RDS certificate authorities: rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1, one root per
  region (RDS User Guide, "Using SSL/TLS to encrypt a connection to a DB instance or cluster").

moto 5.2.5 has no Lambda GetAccountSettings nor SES v2 GetAccount: ``localdev/aws/moto_account.py``
answers them from moto's backend state, which these fixtures set (the quota, production access).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import settings
from infra import preflight
from infra.preflight import FAIL, OK, WARN, Context, Finding, read_parameters
from localdev.aws import moto_account
from localdev.aws.template_artifact import load_template
from localdev.servers import moto_server
from localdev.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-southeast-3"
ACCOUNT = "123456789012"
PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
DB_PASSWORD = "s3cret-Db-Pa55"  # a test value: the report must never print it


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture
def moto_account_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process (this test's own account), with the two account reads installed."""
    moto_account.install()
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_LAMBDA_CONCURRENCY_QUOTA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # 0.7 s per account; no test reads an AMI
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


CLIENTS: dict[str, Any] = {}  # boto3 clients outlive moto's state (building one costs ~0.1 s)


def _c(service: str) -> Any:
    if service not in CLIENTS:
        CLIENTS[service] = boto3.client(service, region_name=REGION)
    return CLIENTS[service]


def _secret_value(group: str, db_host: str) -> str:
    role = settings.SECRET_GROUPS[group].role
    if role:
        return json.dumps({"engine": "postgres", "username": role, "password": DB_PASSWORD, "host": db_host,
                           "port": 5432, "dbname": "julo"})
    values = {}
    for cls in settings.ALL:
        for _attr, spec in cls.specs():
            if spec.secret == group and spec.required:
                values[spec.env] = PEM if spec.env.endswith("PRIVATE_KEY") else f"value-of-{spec.env.lower()}"
    return json.dumps(values)


def ready_account(template: dict[str, Any]) -> dict[str, str]:
    """A moto account where the stack can deploy: returns the parameters file's values."""
    ec2, rds, iam = _c("ec2"), _c("rds"), _c("iam")
    # API Gateway's CloudWatch Logs role, as dist/bootstrap.json sets it
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "apigateway.amazonaws.com"}}]}
    role = iam.create_role(RoleName="apigw-logs", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    _c("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    # a VPC with a public subnet (NAT gateway) and two private subnets in two zones
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    private = []
    for i, zone in enumerate("ab", start=1):
        sid = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=sid)
        private.append(sid)
    functions_sg = ec2.create_security_group(GroupName="functions", Description="functions", VpcId=vpc)["GroupId"]
    db_sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": functions_sg}]}])
    db = rds.create_db_instance(DBInstanceIdentifier="julo", Engine="postgres", DBInstanceClass="db.t3.micro",
                                AllocatedStorage=20, MasterUsername="postgres", MasterUserPassword="x" * 12,
                                VpcSecurityGroupIds=[db_sg], CACertificateIdentifier="rds-ca-rsa2048-g1")
    host = db["DBInstance"]["Endpoint"]["Address"]
    # SES: out of the sandbox (moto's state: a new account is in it)
    from moto.sesv2.models import sesv2_backends

    sesv2_backends[ACCOUNT][REGION].production_access_enabled = True
    params = {"SubnetIds": ",".join(private), "SecurityGroupIds": functions_sg, "SenderEmail": "no-reply@julo.co.id",
              "StaffSourceCidrs": "203.0.113.0/24,198.51.100.16/28",
              "VoiceFromNumber": "6281234567890", "WhatsAppPhoneNumberId": "987654321098765"}
    sm = _c("secretsmanager")
    for group in settings.SECRET_GROUPS.values():
        if group.parameter in template["Parameters"]:
            arn = sm.create_secret(Name=f"julo/{group.name}", SecretString=_secret_value(group.name, host))["ARN"]
            params[group.parameter] = arn
    required = [n for n, spec in template["Parameters"].items() if "Default" not in spec]
    assert set(required) <= set(params), f"the ready account lacks {set(required) - set(params)}"
    return params


def check(template: dict[str, Any], params: dict[str, str], **kw: Any) -> tuple[list[Finding], str]:
    region = kw.pop("region", REGION)
    ctx = Context(template=template, given=params, region=region, stack_name=kw.pop("stack_name", "julo-reminders"),
                  session=boto3.session.Session(), _clients=CLIENTS if region == REGION else {}, **kw)
    findings = preflight.run(ctx)
    return findings, preflight.report(ctx, findings)


def failures(findings: list[Finding], name: str | None = None) -> list[str]:
    return [f.message for f in findings if f.status == FAIL and (name is None or f.check == name)]


def test_a_ready_account_passes(template, moto_account_env):
    params = ready_account(template)
    findings, text = check(template, params)
    assert failures(findings) == [], text
    assert {f.check for f in findings if f.status == OK} >= {
        "parameters", "stack", "api-gateway-logging", "lambda-concurrency", "ses", "secrets", "vpc", "database"}
    assert DB_PASSWORD not in text and "value-of-" not in text  # never a secret's value


def test_a_concurrency_quota_of_10_is_named_with_the_numbers(template, moto_account_env):
    params = ready_account(template)
    from moto.awslambda.models import lambda_backends

    lambda_backends[ACCOUNT][REGION].account_concurrency_quota = 10
    findings, text = check(template, params)
    reserved = sum(preflight.reserved_concurrency(Context(template, params, REGION, "s", None)).values())
    assert reserved == 73  # the template's defaults: API 50, dispatch 3 × 2, the rest 17
    [message] = failures(findings, "lambda-concurrency")
    assert "quota is 10" in message and f"reserves {reserved}" in message
    assert "100 unreserved" in message and f"at least {reserved + 100}" in message
    assert "L-B99A9384" in message
    assert failures(findings) == [message], text  # nothing else is wrong with this account


@pytest.mark.parametrize("quota", [10, 172, 173, 1000])
def test_the_concurrency_verdict_is_lambdas_own(template, moto_account_env, monkeypatch, quota):
    """The oracle is moto's PutFunctionConcurrency under MOTO_LAMBDA_CONCURRENCY_QUOTA (Lambda's rule:
    100 stay unreserved): the preflight fails exactly when applying the template's reservations would."""
    params = ready_account(template)
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", str(quota))
    findings, _text = check(template, params)
    lam = _c("lambda")
    role = _c("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    refused = False
    for i, (_name, n) in enumerate(preflight.reserved_concurrency(Context(template, params, REGION, "s", None))
                                   .items()):
        lam.create_function(FunctionName=f"f{i}", Runtime="python3.11", Role=role, Handler="x.h",
                            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
        try:
            lam.put_function_concurrency(FunctionName=f"f{i}", ReservedConcurrentExecutions=n)
        except lam.exceptions.InvalidParameterValueException:
            refused = True
            break
    assert bool(failures(findings, "lambda-concurrency")) == refused


def test_no_api_gateway_logging_role_fails_with_aws_message(template, moto_account_env):
    params = ready_account(template)
    _c("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    findings, _text = check(template, params)
    [message] = failures(findings, "api-gateway-logging")
    assert "CloudWatch Logs role ARN must be set in account settings to enable logging" in message
    assert "dist/bootstrap.json" in message
    # set, but the role was deleted since
    ghost = f"arn:aws:iam::{ACCOUNT}:role/deleted-role"
    _c("apigateway").update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ghost}])
    findings, _text = check(template, params)
    assert "no longer exists" in failures(findings, "api-gateway-logging")[0]


def test_the_bootstrap_stack_sets_the_role_the_check_reads():
    from infra.package import bootstrap_template

    t = bootstrap_template()
    account = t["Resources"]["ApiGatewayAccount"]
    assert account["Type"] == "AWS::ApiGateway::Account"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = t["Resources"]["ApiGatewayCloudWatchRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert role["ManagedPolicyArns"][0]["Fn::Sub"].endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    # deleting the bootstrap stack must not leave the account setting naming a deleted role
    assert all(r["DeletionPolicy"] == "Retain" for r in t["Resources"].values())


def test_ses_sandbox_and_an_existing_identity(template, moto_account_env):
    params = ready_account(template)
    from moto.sesv2.models import sesv2_backends

    sesv2_backends[ACCOUNT][REGION].production_access_enabled = False
    findings, _text = check(template, params)
    [sandbox] = failures(findings, "ses")
    assert "sandbox" in sandbox and "200 messages a day" in sandbox and "1 a second" in sandbox
    findings, _text = check(template, params, allow_ses_sandbox=True)
    assert failures(findings, "ses") == [] and any(f.status == WARN for f in findings if f.check == "ses")
    # an identity made by hand before the first deploy: AWS::SES::EmailIdentity would fail to create it again
    sesv2_backends[ACCOUNT][REGION].production_access_enabled = True
    _c("sesv2").create_email_identity(EmailIdentity=params["SenderEmail"])
    findings, _text = check(template, params)
    assert "CreateSenderIdentity=false" in failures(findings, "ses")[0]
    findings, _text = check(template, {**params, "CreateSenderIdentity": "false"})
    assert failures(findings, "ses") == []
    assert template["Resources"]["SenderIdentity"]["Condition"] == "CreatesSenderIdentity"
    findings, _text = check(template, {**params, "SenderEmail": "no-reply@example.co.id"})
    assert "placeholder" in failures(findings, "ses")[0]


def test_secrets_missing_misshapen_weak_tls_or_under_a_customer_key(template, moto_account_env):
    params = ready_account(template)
    sm = _c("secretsmanager")
    callback = sm.create_secret(Name="julo/partial", SecretString=json.dumps({"WHATSAPP_APP_SECRET": "x"}))["ARN"]
    weak = sm.create_secret(Name="julo/weak-db",
                            SecretString=f"postgresql://julo_api:{DB_PASSWORD}@db.internal/julo?sslmode=require")["ARN"]
    other_role = sm.create_secret(Name="julo/other-role", SecretString=_secret_value("database-report", "h"))["ARN"]
    key = _c("kms").create_key()["KeyMetadata"]["KeyId"]
    under_key = sm.create_secret(Name="julo/cmk", KmsKeyId=key, SecretString=_secret_value("slack", ""))["ARN"]
    gone = params["ProviderTokensSecretArn"].replace("julo/outbound", "julo/nothing")
    findings, text = check(template, {**params, "CallbackSecretsArn": callback, "ApiDatabaseSecretArn": weak,
                                      "SlackSecretArn": under_key, "ProviderTokensSecretArn": gone,
                                      "AnalyticsDatabaseSecretArn": other_role})
    problems = "\n".join(failures(findings, "secrets"))
    assert "lacks VONAGE_SIGNATURE_SECRET, WHATSAPP_VERIFY_TOKEN" in problems
    # each function group logs in as its own role
    assert "AnalyticsDatabaseSecretArn" in problems and "not the function group's role julo_analytics" in problems
    assert "sslmode=require" in problems and "customer-managed KMS key" in problems and "does not exist" in problems
    assert DB_PASSWORD not in text
    other_region = params["SlackSecretArn"].replace(REGION, "us-east-1")
    findings, _text = check(template, {**params, "SlackSecretArn": other_region})
    assert "is in us-east-1, not ap-southeast-3" in failures(findings, "secrets")[0]


def test_public_or_routeless_subnets_and_foreign_security_groups(template, moto_account_env):
    params = ready_account(template)
    ec2 = _c("ec2")
    vpc = ec2.describe_subnets(SubnetIds=params["SubnetIds"].split(","))["Subnets"][0]["VpcId"]
    public = next(s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
                  if s["CidrBlock"] == "10.0.0.0/24")
    findings, _text = check(template, {**params, "SubnetIds": public})
    messages = failures(findings, "vpc")
    assert any("public subnet" in m for m in messages)
    assert any(f.status == WARN and "one zone" in f.message for f in findings if f.check == "vpc")
    other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    lonely = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    findings, _text = check(template, {**params, "SubnetIds": params["SubnetIds"] + "," + lonely})
    assert "span 2 VPCs" in failures(findings, "vpc")[0]
    foreign_sg = ec2.create_security_group(GroupName="x", Description="x", VpcId=other_vpc)["GroupId"]
    findings, _text = check(template, {**params, "SecurityGroupIds": foreign_sg})
    assert any(f"{foreign_sg} is in {other_vpc}" in m for m in failures(findings, "vpc"))
    assert any("admit neither" in m for m in failures(findings, "database"))


def test_the_database_ca_must_be_in_the_shipped_bundle(template, moto_account_env):
    # the bundle shipped in the artifact holds ap-southeast-3's three current roots
    assert preflight.bundle_cas() == {REGION: {"rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"}}
    params = ready_account(template)
    _c("rds").modify_db_instance(DBInstanceIdentifier="julo", CACertificateIdentifier="rds-ca-2019",
                                 ApplyImmediately=True)
    findings, _text = check(template, params)
    [message] = failures(findings, "database")
    assert "rds-ca-2019" in message and "verify-full" in message


def test_another_region_is_not_covered_by_the_bundle(template, moto_account_env):
    params = ready_account(template)
    findings, _text = check(template, params, region="eu-west-1")
    assert any("holds the roots of ap-southeast-3 only" in m for m in failures(findings, "database"))


def test_parameters_unknown_missing_or_refused_by_their_pattern(template, moto_account_env):
    params = ready_account(template)
    broken = {k: v for k, v in params.items() if k != "VoiceFromNumber"}
    broken.update({"ReminderCallbackBaseUrl": "https://x", "PublicApiBaseUrl": "http://<api-id>.example",
                   "DispatchMaxConcurrency": "1"})
    findings, _text = check(template, broken)
    problems = "\n".join(failures(findings, "parameters"))
    assert "ReminderCallbackBaseUrl is not a parameter of the template" in problems
    assert "VoiceFromNumber is required" in problems
    assert "PublicApiBaseUrl does not match its AllowedPattern" in problems
    assert "DispatchMaxConcurrency must be at least 2" in problems


def test_a_stack_left_in_rollback_complete(template, moto_account_env):
    params = ready_account(template)
    cfn = _c("cloudformation")
    cfn.create_stack(StackName="julo-reminders", TemplateBody=json.dumps({"Resources": {"Q": {
        "Type": "AWS::SQS::Queue"}}}))
    from moto.cloudformation.models import cloudformation_backends

    stack = next(iter(cloudformation_backends[ACCOUNT][REGION].stacks.values()))
    stack.status = "ROLLBACK_COMPLETE"  # what a failed first deploy leaves
    findings, _text = check(template, params)
    assert "ROLLBACK_COMPLETE" in failures(findings, "stack")[0]


def test_parameters_files_in_every_format_aws_cloudformation_deploy_reads(tmp_path):
    cfn = tmp_path / "cfn.json"
    cfn.write_text(json.dumps([{"ParameterKey": "A", "ParameterValue": "1"}, {"ParameterKey": "B",
                                                                              "ParameterValue": "x=y"}]))
    pipeline = tmp_path / "pipeline.json"
    pipeline.write_text(json.dumps({"Parameters": {"A": "1", "B": "x=y"}}))
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(["A=1", "B=x=y"]))
    for path in (cfn, pipeline, pairs):
        assert read_parameters(path) == {"A": "1", "B": "x=y"}
    assert read_parameters(cfn, ["A=2"]) == {"A": "2", "B": "x=y"}


def test_the_command_against_a_moto_server_with_a_quota_of_10(template, tmp_path):
    """``make preflight``'s command, as an operator runs it, against a moto server whose account has a
    Lambda concurrency quota of 10 (moto's own MOTO_LAMBDA_CONCURRENCY_QUOTA)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localdev.aws.moto_account", "-H", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env={**os.environ, "MOTO_LAMBDA_CONCURRENCY_QUOTA": "10"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not moto_server.is_up(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the moto server did not start"
            time.sleep(0.1)
        params = tmp_path / "params.json"
        params.write_text(json.dumps([{"ParameterKey": "SenderEmail", "ParameterValue": "no-reply@julo.co.id"}]))
        env = {**os.environ, "AWS_ENDPOINT_URL": moto_server.endpoint(port), "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
        done = subprocess.run([sys.executable, "-m", "infra.preflight", "--parameters", str(params)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "lambda-concurrency" in x)
    assert "FAIL" in line and "quota is 10" in line and "reserves 73" in line and "at least 173" in line
