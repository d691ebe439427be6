"""Where a handler finds its queues, tables and state machines.

In AWS the template passes each one in an environment variable; locally (moto,
LocalStack) the same names are looked up. Names are those of ``infra/functions.yaml``.

    QUEUE_URL_<NAME>          e.g. QUEUE_URL_DISBURSEMENT_EVENTS for queue disbursement-events
    TABLE_NAME_<NAME>         e.g. TABLE_NAME_NOTIFICATION_LEDGER
    STATE_MACHINE_ARN_<NAME>  e.g. STATE_MACHINE_ARN_T3_REMINDERS
"""

from __future__ import annotations

import re
from functools import lru_cache

from chalicelib import settings


def _env_key(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def queue_url(name: str) -> str:
    return settings.resource_id(_env_key("QUEUE_URL_", name)) or _lookup_queue_url(name, settings.aws_endpoint_url())


@lru_cache(maxsize=64)
def _lookup_queue_url(name: str, _endpoint: str | None) -> str:
    return settings.aws_clients().client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def table_name(name: str) -> str:
    return settings.resource_id(_env_key("TABLE_NAME_", name)) or name


def index_name(attribute: str) -> str:
    """The global secondary index that finds a table's items by ``attribute`` (manifest ``indexes``)."""
    return f"by-{attribute}"


def state_machine_arn(name: str) -> str:
    return settings.resource_id(_env_key("STATE_MACHINE_ARN_", name)) or _lookup_state_machine(
        name, settings.aws_endpoint_url()
    )


@lru_cache(maxsize=16)
def _lookup_state_machine(name: str, _endpoint: str | None) -> str:
    paginator = settings.aws_clients().client("stepfunctions").get_paginator("list_state_machines")
    for page in paginator.paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    raise LookupError(f"state machine {name!r} not found")


def forget_lookups() -> None:
    """Drop cached look-ups (after the emulated account is reset)."""
    _lookup_queue_url.cache_clear()
    _lookup_state_machine.cache_clear()
