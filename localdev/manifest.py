"""Reads infra/functions.yaml, the one declaration of queues, tables, state machines and functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = ROOT / "infra" / "functions.yaml"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    dlq: str | None = None
    max_receive_count: int = 5
    visibility_timeout: int = 60


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None = None
    ttl_attribute: str | None = None


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
    env: tuple[str, ...] = ()
    permissions: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.triggers and self.trigger:
            object.__setattr__(self, "triggers", (self.trigger,))

    @property
    def sqs_queue(self) -> str | None:
        return next((t["sqs"] for t in self.triggers if "sqs" in t), None)

    @property
    def schedule(self) -> str | None:
        return next((t["schedule"] for t in self.triggers if "schedule" in t), None)


@dataclass(frozen=True)
class Manifest:
    queues: tuple[QueueSpec, ...]
    tables: tuple[TableSpec, ...]
    state_machines: tuple[StateMachineSpec, ...]
    functions: tuple[FunctionSpec, ...]

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
        env=tuple(raw.get("env") or ()), permissions=dict(raw.get("permissions") or {}), triggers=triggers,
    )


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    raw = yaml.safe_load(path.read_text()) or {}
    return Manifest(
        queues=tuple(QueueSpec(**q) for q in raw.get("queues") or []),
        tables=tuple(TableSpec(**t) for t in raw.get("tables") or []),
        state_machines=tuple(StateMachineSpec(**s) for s in raw.get("state_machines") or []),
        functions=tuple(_function(f) for f in raw.get("functions") or []),
    )
