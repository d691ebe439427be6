"""Static checks of the packaged template: cfn-lint and checkov (``make package`` runs both).

    python -m infra.checks dist/template.json dist/bootstrap.json

checkov runs from its own virtualenv (``.venv-checkov``, pinned in requirements-checkov.txt):
it pins boto3 to a version older than the project's. Skipped checks and their reasons are in
``infra/checkov_skips.txt``; a skip without a reason fails the check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPS = ROOT / "infra" / "checkov_skips.txt"


def checkov_skips(path: Path = SKIPS) -> dict[str, str]:
    skips: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        check, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path.name}: {check} has no reason")
        skips[check] = reason.strip()
    return skips


def run_checkov(template: Path, checkov: Path) -> int:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    cmd = [str(checkov), "-f", str(template), "--framework", "cloudformation", "--compact", "--quiet",
           "--skip-download", "--skip-check", ",".join(checkov_skips())]
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    templates = [Path(a) for a in args] or [ROOT / "dist" / "template.json", ROOT / "dist" / "bootstrap.json"]
    venv = Path(sys.executable).parent
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    for template in templates:
        lint = subprocess.run([str(venv / "cfn-lint"), str(template)]).returncode
        if lint:
            print(f"cfn-lint found problems in {template.name}", file=sys.stderr)
            return lint
        rc = run_checkov(template, checkov)
        if rc:
            print(f"checkov found problems in {template.name} (fix them, or skip with a reason in "
                  "infra/checkov_skips.txt)", file=sys.stderr)
            return rc
        print(f"{template.name}: cfn-lint clean, checkov clean apart from {len(checkov_skips())} justified skips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
