"""Node tools some tests use (Mozilla's ical.js, Redocly's CLI), installed once from npm at pinned
versions into ``.local/node`` (gitignored). Without node/npm, or when npm cannot install, the test
is skipped with the reason."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / ".local" / "node"
PACKAGES = {"ical.js": "2.2.1", "@redocly/cli": "2.77.0"}


def node_dir() -> Path:
    """The folder whose ``node_modules`` holds every pinned package (installed on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: apt-get install nodejs npm to run this check")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    with open(NODE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [f"{name}@{version}" for name, version in PACKAGES.items()
                   if not _installed(name, version)]
        if missing:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(NODE_DIR), *missing],
                capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                pytest.skip(f"npm could not install {missing}: {done.stderr.strip()[-300:]}")
    return NODE_DIR


def _installed(name: str, version: str) -> bool:
    package = NODE_DIR / "node_modules" / name / "package.json"
    return package.exists() and f'"version": "{version}"' in package.read_text()
