"""The provider-rate grid on DynamoDB: ``DynamoLaneStore`` implements ``LaneStore``.

Table ``provider-rate``: one item per channel and contract (``pk = <channel>#<interval>#<lanes>``,
so a deploy that changes the rate starts a fresh grid instead of reading slot numbers of another
interval). Attributes: ``l<j>`` the next free slot number of lane ``j``; ``paused_until``,
``slow_until``, ``skip`` (the 429 feedback); ``expires_at`` (TTL: a contract nobody uses any
more disappears). Each claim is one ``UpdateItem`` with a condition and ``ReturnValues=ALL_NEW``,
so its answer also tells the container where every other lane stands and whether a pause is on;
a claim of several lanes is one ``UpdateItem`` too (every lane's condition, all or none).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from chalicelib import resources, settings
from chalicelib.reminders.provider_rate import GridView, LaneClaim, RateContract
from chalicelib.reminders.stages import Channel

PROVIDER_RATE_TABLE = "provider-rate"
RETENTION_SECONDS = 7 * 86_400


def grid_key(channel: Channel, contract: RateContract) -> str:
    return f"{channel}#{contract.interval:.9g}#{contract.lanes}"


def _view(item: dict[str, Any]) -> GridView:
    def num(name: str, default: float = 0.0) -> float:
        cell = item.get(name)
        return float(Decimal(cell["N"])) if cell else default

    lanes = {int(k[1:]): int(Decimal(v["N"])) for k, v in item.items() if k[:1] == "l" and k[1:].isdigit()}
    return GridView(lanes, num("paused_until"), num("slow_until"), int(num("skip")))


class DynamoLaneStore:
    def __init__(self, channel: Channel, contract: RateContract, *, table: str | None = None) -> None:
        self.contract = contract
        self.table = table or resources.table_name(PROVIDER_RATE_TABLE)
        self.key = {"pk": {"S": grid_key(channel, self.contract)}}
        self.ddb = settings.aws_clients().client("dynamodb")
        self.calls = 0

    def _expires(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + RETENTION_SECONDS)}

    def _update(self, expression: str, condition: str | None, names: dict[str, str],
                values: dict[str, Any]) -> dict[str, Any] | None:
        self.calls += 1
        args: dict[str, Any] = {"TableName": self.table, "Key": self.key, "UpdateExpression": expression,
                                "ExpressionAttributeValues": values, "ReturnValues": "ALL_NEW"}
        if names:
            args["ExpressionAttributeNames"] = names
        if condition:
            args["ConditionExpression"] = condition
        try:
            return dict(self.ddb.update_item(**args)["Attributes"])
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None

    def claim(self, lanes: dict[int, LaneClaim], advance: int) -> tuple[dict[int, int], GridView] | None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":exp": self._expires()}
        sets, adds, conditions = ["expires_at = :exp"], [], []
        for lane, c in lanes.items():
            names[f"#l{lane}"] = f"l{lane}"
            values[f":f{lane}"] = {"N": str(c.floor)}
            if c.busy:
                values[":adv"] = {"N": str(advance)}
                adds.append(f"#l{lane} :adv")
                conditions.append(f"#l{lane} >= :f{lane}")
            else:
                values[f":n{lane}"] = {"N": str(c.floor + advance)}
                sets.append(f"#l{lane} = :n{lane}")
                conditions.append(f"(attribute_not_exists(#l{lane}) OR #l{lane} < :f{lane})")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        item = self._update(expression, " AND ".join(conditions), names, values)
        if item is None:
            return None
        view = _view(item)
        return {lane: view.lanes[lane] - advance if c.busy else c.floor for lane, c in lanes.items()}, view

    def throttle(self, paused_until: float, slow_until: float, skip: int) -> GridView:
        item = self._update("SET paused_until = :p, slow_until = :s, skip = :sk, expires_at = :exp",
                            "attribute_not_exists(paused_until) OR paused_until < :p", {},
                            {":p": {"N": f"{paused_until:.6f}"}, ":s": {"N": f"{slow_until:.6f}"},
                             ":sk": {"N": str(skip)}, ":exp": self._expires()})
        return _view(item) if item is not None else self.read()

    def read(self) -> GridView:
        self.calls += 1
        item = self.ddb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get("Item")
        return _view(item or {})
