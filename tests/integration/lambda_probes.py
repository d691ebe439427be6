"""Handlers that stand in for a function in a copy of the template (tests of the local Lambda limits).

Each writes what it did to the file in ``PROBE_LOG`` (the test's temporary directory), so the
test reads what happened inside the containers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def _log(entry: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(os.environ["PROBE_LOG"])
    with path.open("a") as fh:
        fh.write(json.dumps(entry) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines()]


def slow_first_time(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Overruns the function's timeout on its first invocation; answers at once afterwards."""
    seen = _log({"pid": os.getpid(), "records": len(event["Records"])})
    if len(seen) == 1:
        time.sleep(30)
    return {"batchItemFailures": []}


def overlap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records when it ran, for checking how many containers ran at once."""
    start = time.time()
    time.sleep(0.3)
    _log({"pid": os.getpid(), "start": start, "end": time.time()})
    return {"batchItemFailures": []}


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What the container sees: its environment, import path, process and session."""
    import sys

    return {"env": dict(os.environ), "path": list(sys.path), "pid": os.getpid(), "sid": os.getsid(0),
            "tz": time.tzname[0]}
