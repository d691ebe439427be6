"""Every command in README.md and docs/*.md works as written on a fresh clone.

Commands are taken from fenced blocks (``bash``/``sh``/``shell``/``console``, and unlabelled
blocks whose lines look like commands), continuation lines joined, comments dropped. Then:

- ``make X``: the Makefile has target X;
- ``python -m mod …`` / ``.venv/bin/python path.py …``: the module or script exists, answers
  ``--help`` (after its sub-commands), and knows every ``--option`` the document uses; the
  ``localdev.services`` wrapper is checked, then the command it wraps;
- environment assignments name no local port (the wrapper finds the local server itself);
- one bench command really runs, as written but with a tiny size, through the wrapper.

Commands for tools this machine does not run (docker, aws, curl) are listed, not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from localdev.servers import postgres

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"bash", "sh", "shell", "console"}
COMMAND_START = re.compile(r"^(\$ )?([A-Z_][A-Z0-9_]*=\S*\s+)*(make|python3?|\.venv/bin/python|docker|aws|curl)\b")
PYTHONS = {"python", "python3", ".venv/bin/python", sys.executable}
NOT_RUN_HERE = {"docker", "aws", "curl"}
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    source: str
    text: str

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks, lang, lines, inside = [], "", [], False
    for line in text.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append((lang, lines))
            inside, lang, lines = not inside, line[3:].strip().lower(), []
        elif inside:
            lines.append(line)
    return blocks


def extract(path: Path) -> list[Command]:
    found = []
    for lang, lines in _blocks(path.read_text()):
        if lang and lang not in SHELL_LANGS:
            continue
        joined, pending = [], ""
        for line in lines:
            pending += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
            if not line.rstrip().endswith("\\"):
                joined.append(pending)
                pending = ""
        for line in joined:
            stripped = line.strip()
            if not stripped or not COMMAND_START.match(stripped):
                continue
            command = stripped.removeprefix("$ ")
            command = re.sub(r"\s+#.*$", "", command)
            source = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
            found.append(Command(source, " ".join(command.split())))
    return found


ALL = [c for doc in DOCS for c in extract(doc)]


@cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*)\s*:(?!=)", text, re.M))


def _split(command: Command) -> tuple[dict[str, str], list[str]]:
    tokens = shlex.split(command.text)
    env = {}
    while tokens and ENV.match(tokens[0]):
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    return env, tokens


def _help(program: list[str], args: list[str]) -> str:
    """Run ``program`` with its leading sub-commands and ``--help``; the help text of all levels."""
    positional = []
    for a in args:
        if a.startswith("-") or a in ("[", "]"):
            break
        positional.append(a)
    texts = []
    for depth in range(len(positional) + 1):
        done = subprocess.run([*program, *positional[:depth], "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if depth == 0 or done.returncode == 0:
            assert done.returncode == 0, f"{' '.join(program)} --help failed: {done.stderr[-800:]}"
            texts.append(done.stdout)
    return "\n".join(texts)


def check_python(command: Command, tokens: list[str]) -> None:
    args = tokens[1:]
    if args[:1] == ["-m"]:
        module, args = args[1], args[2:]
        program = [sys.executable, "-m", module]
    else:
        script, args = args[0], args[1:]
        assert (ROOT / script).is_file(), f"{command}: no file {script}"
        program = [sys.executable, script]
    inner: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, inner = args[:at], args[at + 1:]
    text = _help(program, args)
    for option in (a.split("=", 1)[0] for a in args if a.startswith("--")):
        assert option in text, f"{command}: {option} is not an option of {' '.join(program[1:])}"
    if inner:
        check(Command(command.source, shlex.join(inner)))


def check(command: Command) -> None:
    env, tokens = _split(command)
    for key, value in env.items():
        assert not re.search(r"127\.0\.0\.1:\d+|localhost:\d+", value) or key == "AWS_ENDPOINT_URL" \
            or "55433" in value, f"{command}: {key} hard-codes a local port; use LOCAL_PG_DB / the settings"
    program = tokens[0]
    if program == "make":
        targets = [t for t in tokens[1:] if not ENV.match(t) and not t.startswith("-")]
        assert targets, f"{command}: which target?"
        for target in targets:
            assert target in make_targets(), f"{command}: the Makefile has no target {target}"
    elif program in PYTHONS:
        check_python(command, tokens)
    else:
        assert program in NOT_RUN_HERE, f"{command}: unknown program {program}"


def test_commands_are_found_in_readme_and_docs():
    sources = {c.source for c in ALL}
    assert "README.md" in sources and any(s.startswith("docs/") for s in sources)
    assert any(_split(c)[1][:1] == ["make"] for c in ALL)


@pytest.mark.parametrize("command", ALL, ids=str)
def test_documented_command_works_as_written(command):
    check(command)


def test_extraction_joins_continuations_and_drops_comments(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("```bash\nmake demo    # run it\nLOCAL_PG_DB=x \\\n  .venv/bin/python -m a.b --n 1\n```\n"
                   "```\nsome output line\n```\n```python\nmake = 1\n```\n")
    found = [c.text for c in extract(doc)]
    assert found == ["make demo", "LOCAL_PG_DB=x .venv/bin/python -m a.b --n 1"]


def _tiny(tokens: list[str]) -> list[str]:
    """The same command with every size option small and one repetition."""
    out = list(tokens)
    for i, token in enumerate(out[:-1]):
        if token.startswith("--") and out[i + 1].isdigit():
            out[i + 1] = "1" if token == "--repeat" else "300"
    return out if "--repeat" in out else [*out, "--repeat", "1"]


def test_a_bench_command_runs_as_written_with_a_tiny_size():
    """The documented bench form, ``LOCAL_PG_DB=… .venv/bin/python -m localdev.services -- … bench/…``,
    works from a shell with no DATABASE_URL (it used to fail with "Connection refused")."""
    url = os.environ.get("DATABASE_URL", "")
    if url and not postgres.is_local(url):
        pytest.skip("the suite runs against an external DATABASE_URL; the local-server form is not used")
    benches = [c for c in ALL if "localdev.services --" in c.text and "bench/analytics.py" in c.text]
    assert benches, "docs document the analytics bench through localdev.services"
    env, tokens = _split(benches[0])
    tokens = _tiny([sys.executable if t == ".venv/bin/python" else t for t in tokens])
    shell_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(tokens, cwd=ROOT, env={**shell_env, **env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
