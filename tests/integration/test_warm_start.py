"""A container forked from the warm process (``localdev/lambda_runtime/warm_start.py``) is what a fresh interpreter was:
exactly its function's environment, nothing of the parent's, its own session, the checkout on its path;
and a container of the same function started twice is two processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from localdev.aws.template_resolution import LocalFunction
from localdev.lambda_runtime.containers import Container

ROOT = Path(__file__).resolve().parents[2]


def _function() -> LocalFunction:
    return LocalFunction(name="probe", logical_id="Probe", handler="tests.integration.lambda_probes.environment",
                         timeout=30, memory=512, concurrency=1, settings="", environment={}, statements=[],
                         role="ProbeRole")


@pytest.mark.parametrize("fork", ["1", "0"])
def test_a_container_has_exactly_its_environment(fork: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_LAMBDA_FORK", fork)
    monkeypatch.setenv("JULO_ONLY_IN_THE_PARENT", "leaked")
    monkeypatch.setenv("LAMBDA_LOG_FILE", str(tmp_path / "container.log"))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "TZ": "UTC", "PROBE_SETTING": "its own"}
    containers = [Container(_function(), env), Container(_function(), env)]
    try:
        seen = [c.invoke({}).result for c in containers]
    finally:
        for c in containers:
            c.kill()
    for got in seen:
        assert got["env"].get("PROBE_SETTING") == "its own"
        assert "JULO_ONLY_IN_THE_PARENT" not in got["env"]
        assert not {k for k in got["env"] if k.startswith(("JULO_", "PYTEST_"))}
        assert got["sid"] == got["pid"]  # its own session: the runtime kills its process group
        assert got["path"][0] == str(ROOT)
        assert got["tz"] == "UTC"
        if fork == "1":  # nothing of the test runner's import path; only the interpreter's own directories
            assert all(p == str(ROOT) or p.startswith((sys.prefix, sys.base_prefix)) for p in got["path"])
    assert seen[0]["pid"] != seen[1]["pid"] and os.getpid() not in {s["pid"] for s in seen}
    assert all(not c.alive for c in containers)
