"""sys.stdout and sys.stderr behind one lock, for local processes whose threads log together.

CPython 3.11's ``TextIOWrapper`` is not safe for writes from many threads at once: a block-buffered
stream interleaves them and can write uninitialized memory (python/cpython#118138). The demo's log
got NUL bytes and pointers when the API container's handler threads logged together. Lambda gives
each invocation one thread; the local API container, and the demo process with its pollers, run many.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class SerializedStream:
    """A text stream whose writes and flushes take one lock (shared by the streams that write one file)."""

    def __init__(self, stream: Any, lock: threading.Lock) -> None:
        self._stream = stream
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            return int(self._stream.write(text))

    def writelines(self, lines: Any) -> None:
        with self._lock:
            self._stream.writelines(lines)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def serialize_stdio() -> None:
    """sys.stdout and sys.stderr (one file in a container) behind one lock, before any logger holds them."""
    if not isinstance(sys.stdout, SerializedStream):
        lock = threading.Lock()
        sys.stdout = SerializedStream(sys.stdout, lock)
        sys.stderr = SerializedStream(sys.stderr, lock)
