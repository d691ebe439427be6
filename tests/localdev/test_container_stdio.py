"""A container's log stays readable when its threads write at once (the API container serves many
requests together: access lines on stderr, JSON logs on stdout, one file)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from localdev.lambda_runtime.stdio import SerializedStream

THREADS = 16
LINES = 5_000  # without the lock, 16 threads x 5,000 lines gave undecodable bytes in 3 runs of 3 (CPython 3.11.7)


def test_lines_written_by_many_threads_reach_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "container.log"
    with open(path, "ab", buffering=0) as raw:
        lock = threading.Lock()
        # as in a container: stdout block-buffered (a file), stderr line-buffered, both on the log file
        out = SerializedStream(io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8"), lock)
        err = SerializedStream(io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True),
                               lock)

        def write(n: int) -> None:
            stream = out if n % 4 else err
            for i in range(LINES):
                stream.write(f"thread {n:02d} line {i:05d} é\n")  # a two-byte character in every line

        threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out.flush()
        err.flush()

    text = path.read_bytes().decode("utf-8")  # no NUL, no stray bytes: it decodes
    lines = text.splitlines()
    assert len(lines) == THREADS * LINES
    assert sorted(lines) == sorted(f"thread {n:02d} line {i:05d} é" for n in range(THREADS) for i in range(LINES))


def test_the_wrapper_passes_through_what_loggers_ask_of_a_stream(tmp_path: Path) -> None:
    with open(tmp_path / "x.log", "w", encoding="utf-8") as fh:
        stream = SerializedStream(fh, threading.Lock())
        assert stream.fileno() == fh.fileno() and stream.encoding == "utf-8" and not stream.isatty()
