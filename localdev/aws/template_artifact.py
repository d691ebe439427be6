"""The deployable artifact the local runtime runs: ``dist/template.json``.

``packaged_template()`` is ``dist/template.json``, rebuilt by ``make package``'s builder when a
source changed (cached by a hash of the inputs), or the file in ``DEMO_TEMPLATE``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
INPUTS = ("app.py", "chalicelib", "functions", "infra", ".chalice/config.json", "requirements.txt")


def inputs_hash() -> str:
    """A hash of everything ``make package`` builds from."""
    digest = hashlib.sha1(usedforsecurity=False)
    for name in INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            digest.update(str(f.relative_to(ROOT)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


@contextmanager
def _lock(name: str) -> Iterator[None]:
    path = ROOT / ".local" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def template_path(path: str | Path | None = None) -> Path:
    """Where the template is read from (``packaged_template`` builds it there when stale)."""
    explicit = path or os.environ.get("DEMO_TEMPLATE")
    return Path(explicit).resolve() if explicit else DIST / "template.json"


def packaged_template(path: str | Path | None = None) -> Path:
    """``DEMO_TEMPLATE`` (or ``path``) if given, else ``dist/template.json`` rebuilt when stale."""
    if path or os.environ.get("DEMO_TEMPLATE"):
        return template_path(path)
    with _lock("package.lock"):
        stamp = DIST / ".inputs-hash"
        wanted = inputs_hash()
        if not (DIST / "template.json").exists() or not stamp.exists() or stamp.read_text() != wanted:
            env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-3")}
            # --local-run: the local day runs the handlers from source with this Python, whatever its version
            subprocess.run([sys.executable, "-m", "infra.package", "--out", str(DIST), "--local-run"], cwd=ROOT,
                           env=env, check=True, stdout=subprocess.DEVNULL)
            stamp.write_text(wanted)
    return DIST / "template.json"


def manifest_template(manifest: Manifest | None = None) -> dict[str, Any]:
    """The template's resources for ``manifest`` (default: infra/functions.yaml), built as ``make package``
    builds them but without the Chalice API (no packaging): the LocalStack hook, and tests with a
    manifest of their own, create their resources from it."""
    from infra.manifest import load_manifest
    from infra.package import build_template

    return build_template({"Resources": {}}, manifest or load_manifest())


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    p = packaged_template(path)
    with _lock("package.lock"):
        return json.loads(p.read_text())



def strip_statement(template_path: Path, role_logical_id: str, sid: str, out: Path) -> Path:
    """A copy of a template without one statement of one role (tests, ``DEMO_TEMPLATE`` drills)."""
    t = json.loads(Path(template_path).read_text())
    for policy in t["Resources"][role_logical_id]["Properties"]["Policies"]:
        policy["PolicyDocument"]["Statement"] = [s for s in policy["PolicyDocument"]["Statement"]
                                                 if s.get("Sid") != sid]
    out.write_text(json.dumps(t, indent=1))
    return out


