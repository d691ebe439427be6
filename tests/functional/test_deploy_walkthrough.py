"""docs/deploy.md's first-deploy walk-through: complete, in order, and consistent with what
``make package`` builds and what ``make preflight`` checks.

Its commands are also run through tests/localdev/test_documented_commands.py (make targets
exist, python modules answer ``--help`` with every option used); this adds what a first deploy
depends on: the order of the steps, the files each ``aws`` command reads, and the example
parameters file, checked by the preflight's own parameter check against the built template.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from infra import preflight
from infra.preflight import FAIL, Context
from localdev.aws.template_artifact import load_template
from tests.localdev.test_documented_commands import _blocks, extract

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"


def _section() -> str:
    text = GUIDE.read_text()
    start = text.index("## 2. First deploy, step by step")
    return text[start:text.index("\n## ", start + 10)]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory) -> list[str]:
    path = tmp_path_factory.mktemp("doc") / "walkthrough.md"
    path.write_text(_section())
    return [c.text for c in extract(path)]


def _index(commands: list[str], pattern: str) -> int:
    found = [i for i, c in enumerate(commands) if re.search(pattern, c)]
    assert found, f"the walk-through has no command matching {pattern!r}"
    return found[0]


def test_the_steps_come_in_the_order_a_first_deploy_needs(walkthrough):
    order = [r"^make package$", r"--template-file dist/bootstrap\.json", r"chalicelib\.db migrate",
             r"secretsmanager create-secret", r"^make preflight", r"cloudformation package",
             r"cloudformation deploy .*--template-file dist/packaged\.json", r"describe-stacks"]
    positions = [_index(walkthrough, p) for p in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))


def test_each_deploy_reads_what_the_steps_before_it_built(walkthrough):
    built = {"dist/template.json", "dist/bootstrap.json"}  # make package
    for command in walkthrough:
        tokens = shlex.split(command)
        if "--output-template-file" in tokens:
            source = tokens[tokens.index("--template-file") + 1]
            assert source in built, command
            built.add(tokens[tokens.index("--output-template-file") + 1])
        elif tokens[:3] == ["aws", "cloudformation", "deploy"]:
            assert tokens[tokens.index("--template-file") + 1] in built, command
            assert "CAPABILITY_IAM" in tokens, command  # both stacks create unnamed roles
    bootstrap = next(c for c in walkthrough if "dist/bootstrap.json" in c and "deploy" in c)
    # the preflight's advice names the same stack
    assert f"--stack-name {preflight.BOOTSTRAP_STACK}" in bootstrap


def test_the_preflight_and_the_deploy_read_the_same_parameters_file(walkthrough):
    make = walkthrough[_index(walkthrough, r"^make preflight")]
    deploy = walkthrough[_index(walkthrough, r"cloudformation deploy .*packaged")]
    name = re.search(r"PARAMS=(\S+)", make)
    assert name and f"--parameter-overrides file://{name.group(1)}" in deploy
    bucket = re.search(r"--s3-bucket (\S+?)\"?$", make)
    assert bucket and f"--s3-bucket {bucket.group(1)}" in walkthrough[_index(walkthrough, "cloudformation package")]


def test_the_example_parameters_file_passes_the_preflights_parameter_check():
    blocks = [lines for lang, lines in _blocks(_section()) if lang == "json"]
    assert len(blocks) == 1, "one example parameters file"
    example = json.loads("\n".join(blocks[0]))
    given = {p["ParameterKey"]: p["ParameterValue"] for p in example}
    template = load_template()
    findings = preflight.check_parameters(Context(template=template, given=given, region="ap-southeast-3",
                                                  stack_name="julo-reminders", session=None))
    assert [f.message for f in findings if f.status == FAIL] == []
    # every parameter it names is explained in the guide's table
    table = GUIDE.read_text()
    assert all(f"| `{name}` |" in table for name in given)
