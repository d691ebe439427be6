"""A bootstrap handed back by the moto server (localdev/aws/moto_state.py) is the bootstrap, only where it may be."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import settings
from localdev.aws import moto_state
from localdev.aws.bootstrap import bootstrap
from localdev.servers import moto_server


def _inventory() -> dict[str, Any]:
    """What the template's resources are, as the functions and the state machine see them."""
    clients = settings.aws_clients()
    sqs, ddb, sfn = clients.client("sqs"), clients.client("dynamodb"), clients.client("stepfunctions")
    iam, sm, events = clients.client("iam"), clients.client("secretsmanager"), clients.client("events")
    queues = {url.rsplit("/", 1)[1]: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
              for url in sqs.list_queues().get("QueueUrls", [])}
    for attrs in queues.values():  # the queues as made, not what is in them (a late message of an earlier test's
        for moving in [a for a in attrs if a.startswith("ApproximateNumber")] + ["CreatedTimestamp",  # execution)
                                                                               "LastModifiedTimestamp"]:
            attrs.pop(moving, None)
    return {
        "queues": queues,
        "tables": {t: ddb.describe_table(TableName=t)["Table"]["KeySchema"] for t in ddb.list_tables()["TableNames"]},
        "machines": {m["name"]: json.loads(
            sfn.describe_state_machine(stateMachineArn=m["stateMachineArn"])["definition"])
            for m in sfn.list_state_machines()["stateMachines"]},
        "users": {u["UserName"]: iam.list_user_policies(UserName=u["UserName"])["PolicyNames"]
                  for u in iam.list_users()["Users"]},
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "secrets": sorted(s["Name"] for s in sm.list_secrets()["SecretList"]),
        "rules": sorted(r["Name"] for r in events.list_rules()["Rules"]),
    }


def _fresh_account() -> None:
    moto_server.reset(int(settings.aws_endpoint_url().rsplit(":", 1)[1]))
    settings.forget_aws_clients()


def test_a_bootstrap_handed_back_after_a_reset_holds_what_the_bootstrap_made(aws: str) -> None:
    made = bootstrap()
    made_inventory = _inventory()
    assert made.queue_urls and made_inventory["queues"] and made_inventory["users"] and made_inventory["machines"]
    _fresh_account()
    handed_back = bootstrap()
    status = moto_state.status()
    assert status is not None and status["restored"] and status["requests"] == 0  # no resource was made again
    assert handed_back == made
    assert _inventory() == made_inventory
    # the copy is the account's own: a message sent now is not in the saved state
    url = made.queue_urls["disbursement-events"]
    settings.aws_clients().client("sqs").send_message(QueueUrl=url, MessageBody="{}")
    _fresh_account()
    bootstrap()
    attrs = settings.aws_clients().client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_an_account_in_use_is_bootstrapped_not_replaced(aws: str) -> None:
    bootstrap()
    _fresh_account()
    sqs = settings.aws_clients().client("sqs")
    mine = sqs.create_queue(QueueName="made-before-the-bootstrap")["QueueUrl"]
    bootstrap()
    status = moto_state.status()
    assert status is not None and not status["restored"] and status["requests"] > 1
    assert mine in sqs.list_queues()["QueueUrls"]
    assert "disbursement-events" in _inventory()["queues"]
