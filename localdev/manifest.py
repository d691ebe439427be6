"""The manifest lives in ``infra/manifest.py``; this name stays for existing imports."""

from infra.manifest import (  # noqa: F401
    MANIFEST_PATH,
    ROOT,
    FunctionSpec,
    Manifest,
    QueueSpec,
    StateMachineSpec,
    TableSpec,
    load_manifest,
)
