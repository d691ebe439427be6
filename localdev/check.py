"""``make test``: ruff, then mypy and the packaged artifact beside pytest; one table of where the time went.

    python -m localdev.check [pytest arguments ...]

- ruff first (a second or less; a lint error stops the run before anything starts);
- mypy and the artifact the local day runs from (``dist/``, ``localdev.aws.template_artifact.packaged_template``:
  ``chalice package`` downloads the Lambda wheels on a fresh clone, which is mostly waiting on the network)
  start in the background, while pytest starts its servers and collects: on a fresh clone neither has a
  cache, and both would otherwise run before the first test. The tests that need the artifact wait for it
  (they take the same lock);
- pytest under ``localdev.services`` (own PostgreSQL), ``-n`` workers (``PYTEST_WORKERS``, default 2),
  every test not marked ``slow``.

mypy's report is printed once pytest is done; the exit code is non-zero when any of the three failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BUILD_ARTIFACT = "from localdev.aws.template_artifact import packaged_template; packaged_template()"


@dataclass
class Job:
    name: str
    argv: list[str]
    seconds: float = 0.0
    code: int = 0
    output: str = ""
    _thread: threading.Thread | None = None

    def run(self, capture: bool = False) -> int:
        started = time.perf_counter()
        done = subprocess.run(self.argv, cwd=ROOT, capture_output=capture, text=True, errors="replace")
        self.seconds = time.perf_counter() - started
        self.code, self.output = done.returncode, (done.stdout or "") + (done.stderr or "")
        return self.code

    def start(self) -> Job:
        """Run in the background (its output kept for later); ``wait`` joins it."""
        self._thread = threading.Thread(target=self.run, kwargs={"capture": True}, daemon=True)
        self._thread.start()
        return self

    def wait(self) -> int:
        if self._thread is not None:
            self._thread.join()
        return self.code


def main(argv: list[str] | None = None) -> int:
    pytest_args = list(sys.argv[1:] if argv is None else argv)
    total = time.perf_counter()
    ruff = Job("ruff", [PY, "-m", "ruff", "check", "."])
    if ruff.run() != 0:
        return ruff.code
    mypy = Job("mypy", [PY, "-m", "mypy"]).start()
    artifact = Job("artifact", [PY, "-c", BUILD_ARTIFACT]).start()
    workers = os.environ.get("PYTEST_WORKERS", "2")
    pytest = Job("pytest", [PY, "-m", "localdev.services", "--", PY, "-m", "pytest", "-n", workers,
                            "-m", "not slow", *pytest_args])
    pytest.run()
    for job in (mypy, artifact):
        job.wait()
        if job is mypy or job.code != 0:
            print(f"\n--- {job.name} ---\n{job.output.rstrip()}")
    print(f"\nmake test: ruff {ruff.seconds:.1f}s; beside pytest: mypy {mypy.seconds:.1f}s, "
          f"artifact {artifact.seconds:.1f}s; pytest {pytest.seconds:.1f}s; total {time.perf_counter() - total:.1f}s")
    failed = [job.name for job in (ruff, mypy, artifact, pytest) if job.code != 0]
    if failed:
        print(f"make test FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
