"""Reads infra/functions.yaml, the one declaration of queues, tables, state machines and functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chalicelib.resources import index_name
from chalicelib.settings import Settings
from chalicelib.settings import by_name as settings_by_name

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = ROOT / "infra" / "functions.yaml"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    dlq: str | None = None
    max_receive_count: int = 5
    visibility_timeout: int = 60
    pii: bool = False  # carries phone numbers or names: encrypted with the stack's customer-managed key


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table (string keys, on demand). ``indexes``: string attributes, each with a
    global secondary index of its own (``index_name``, keys only) to find items by that value."""

    name: str
    hash_key: str
    range_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "indexes", tuple(self.indexes))

    def key_schema(self) -> dict[str, Any]:
        """KeySchema, AttributeDefinitions and GlobalSecondaryIndexes (create_table's and the template's
        shape): the template, the local runtime and the bootstrap create the same table."""
        keys = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        names = [self.hash_key]
        if self.range_key:
            keys.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
            names.append(self.range_key)
        names += [a for a in self.indexes if a not in names]
        out: dict[str, Any] = {"KeySchema": keys,
                               "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names]}
        if self.indexes:
            out["GlobalSecondaryIndexes"] = [
                {"IndexName": index_name(a), "KeySchema": [{"AttributeName": a, "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}} for a in self.indexes]
        return out




@dataclass(frozen=True)
class StateMachineSpec:
    name: str
    definition: str


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function. ``trigger`` is one trigger; ``triggers`` lists all (YAML may give a list)."""

    name: str
    handler: str
    trigger: dict[str, Any] = field(default_factory=dict)
    timeout: int = 60
    memory: int = 512
    settings: str = ""  # the settings class (chalicelib.settings) the function reads
    concurrency: int | str = 0  # reserved concurrency: a number, or a template parameter name
    permissions: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.triggers and self.trigger:
            object.__setattr__(self, "triggers", (self.trigger,))

    @property
    def settings_class(self) -> type[Settings]:
        if not self.settings:
            raise ValueError(f"function {self.name} declares no settings class")
        return settings_by_name(self.settings)

    @property
    def sqs_queue(self) -> str | None:
        return next((t["sqs"] for t in self.triggers if "sqs" in t), None)

    @property
    def schedule(self) -> str | None:
        return next((t["schedule"] for t in self.triggers if "schedule" in t), None)


@dataclass(frozen=True)
class ApiSpec:
    """The Chalice HTTP API's settings class and permissions (its routes come from app.py)."""

    settings: str = "ApiSettings"
    permissions: dict[str, Any] = field(default_factory=dict)

    @property
    def settings_class(self) -> type[Settings]:
        return settings_by_name(self.settings)


@dataclass(frozen=True)
class Manifest:
    queues: tuple[QueueSpec, ...]
    tables: tuple[TableSpec, ...]
    state_machines: tuple[StateMachineSpec, ...]
    functions: tuple[FunctionSpec, ...]
    api: ApiSpec = field(default_factory=ApiSpec)

    def function(self, name: str) -> FunctionSpec:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"no function {name!r} in {MANIFEST_PATH.name}")


def _function(raw: dict[str, Any]) -> FunctionSpec:
    trigger = raw.get("trigger") or {}
    triggers = tuple(trigger) if isinstance(trigger, list) else ((trigger,) if trigger else ())
    return FunctionSpec(
        name=raw["name"], handler=raw["handler"], trigger=triggers[0] if triggers else {},
        timeout=int(raw.get("timeout", 60)), memory=int(raw.get("memory", 512)),
        settings=str(raw.get("settings") or ""), concurrency=raw.get("concurrency") or 0,
        permissions=dict(raw.get("permissions") or {}), triggers=triggers,
    )


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    raw = yaml.safe_load(path.read_text()) or {}
    return Manifest(
        queues=tuple(QueueSpec(**q) for q in raw.get("queues") or []),
        tables=tuple(TableSpec(**t) for t in raw.get("tables") or []),
        state_machines=tuple(StateMachineSpec(**s) for s in raw.get("state_machines") or []),
        functions=tuple(_function(f) for f in raw.get("functions") or []),
        api=ApiSpec(**(raw.get("api") or {})),
    )
