"""Liveness files for the long-running local loops (workers, scheduler).

    python -m localdev.loops.heartbeat PATH [--max-age SECONDS]   # exit 0 if PATH was touched recently

The compose healthchecks of ``async`` and ``scheduler`` run this.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def age_seconds(path: Path, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched, or None when it does not exist."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.loops.heartbeat")
    parser.add_argument("path", type=Path)
    parser.add_argument("--max-age", type=float, default=60.0)
    args = parser.parse_args(argv)
    age = age_seconds(args.path)
    if age is None:
        print(f"{args.path}: no heartbeat yet", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"{args.path}: last heartbeat {age:.0f}s ago (limit {args.max_age:.0f}s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
