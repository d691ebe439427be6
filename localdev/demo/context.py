"""What every demo step is given: the ``DemoContext`` (database, business day, output, the console).

Its own module, so the steps (``localdev/demo/*.py``) and the demo that runs them
(``localdev/demo/run.py``) import it and not each other.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, TextIO

import psycopg2.extensions
from tqdm import tqdm

from localdev.aws.bootstrap import bootstrap

LOG_FILE = "demo.log"


class Console(io.TextIOBase):
    """The terminal, for ``print``: a line printed while a bar runs goes above the bar."""

    def __init__(self, raw: IO[str]) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        with tqdm.external_write_mode(file=self.raw):
            self.raw.write(text)
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()



@dataclass
class DemoContext:
    conn: psycopg2.extensions.connection
    business_date: date
    loans: int
    seed: int
    out_dir: Path
    console: TextIO | Console = field(default_factory=lambda: sys.stdout)
    # the AWS resources of the template exist once this returns (the demo creates them while the
    # book loads; a step run on its own creates them itself)
    aws_ready: Callable[[], object] = field(default=bootstrap)
    # progress bars on a terminal console (off for a step whose output is held while another step runs)
    bars: bool = True

    @property
    def log_path(self) -> Path:
        return self.out_dir / "logs" / LOG_FILE

    def bar(self, desc: str, total: int | None = None, unit: str = "it") -> tqdm:
        """A progress bar on a terminal console (never in the logs, nor in a pipe); closed by the caller."""
        wanted = os.environ.get("DEMO_PROGRESS", "auto")
        shown = self.bars and (wanted == "1" or (wanted == "auto" and self.console.isatty()))
        return tqdm(total=total, desc=f"  {desc}", unit=unit, file=self.console, leave=False, mininterval=0.5,
                    dynamic_ncols=True, disable=not shown)

    @contextmanager
    def progress(self, desc: str, count: Callable[[], int], unit: str = "it",
                 total: int | None = None) -> Iterator[None]:
        """A bar that follows ``count()`` while the block runs (for work that reports no progress)."""
        bar = self.bar(desc, total=total, unit=unit)
        done = threading.Event()

        def follow() -> None:
            while not done.wait(0.5):
                bar.n = count()
                bar.refresh()

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            bar.close()
