"""Settings are the only way configuration arrives (issue 25 item 1): nothing under chalicelib/ but the
settings loader reads the process environment, and no chalicelib module imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOADER = "chalicelib/settings.py"  # the settings loader: the one module that reads the environment
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_reads(source: str) -> list[str]:
    """Each place ``source`` reaches the process environment: ``os.environ`` / ``os.getenv`` (also under an
    alias of ``os``), ``from os import environ``/``getenv`` (also renamed), and what such an import bound."""
    tree = ast.parse(source)
    os_names, bound, found = _imports_of_the_environment(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ENV_NAMES and isinstance(node.value, ast.Name)
                and node.value.id in os_names):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in bound:
            found.append(f"line {node.lineno}: {node.id}")
    return found


def _imports_of_the_environment(tree: ast.AST) -> tuple[set[str], set[str], list[str]]:
    """The names ``os`` is imported as; the names ``from os import environ`` (…) bound; those imports."""
    os_names = {"os"}
    bound: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    os_names.add(alias.asname or "os")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix", "nt"):
            for alias in node.names:
                if alias.name in ENV_NAMES:
                    bound.add(alias.asname or alias.name)
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return os_names, bound, found


@pytest.mark.parametrize("source", [
    "import os\nx = os.environ.get('A')",
    "import os\nx = os.environ['A']",
    "import os\nx = os.getenv('A', '')",
    "import os as o\nx = o.environ",
    "from os import environ\nx = environ.get('A')",
    "from os import getenv as read\nx = read('A')",
    "def f():\n    import os\n    return os.environ.copy()",
])
def test_the_check_sees_every_way_of_reading_the_environment(source: str) -> None:
    assert environment_reads(source)


def test_the_check_leaves_other_uses_of_os_alone() -> None:
    assert environment_reads("import os\nos.path.join('a', 'b')\nos.replace('a', 'b')\nenviron = {}") == []


def test_only_the_settings_loader_reads_the_environment() -> None:
    """Handlers hand ``ctx.settings`` (or the part a component needs) to what they build; a module that
    read a variable itself would be configuration the template's Environment and the checks at cold start
    never see."""
    readers = {}
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        name = str(path.relative_to(ROOT))
        reads = environment_reads(path.read_text())
        if reads and name != LOADER:
            readers[name] = reads
    assert readers == {}
    assert environment_reads((ROOT / LOADER).read_text())  # the loader itself does read it


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs_as_program(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: run as a program the module is ``__main__``, not itself."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def imported(path: Path, package: str) -> set[str]:
    """The chalicelib modules ``path`` imports anywhere (a function's late import included; not the block
    that runs when the module is the program)."""
    tree = ast.parse(path.read_text())
    tree.body = [n for n in tree.body if not _runs_as_program(n)]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], node.module])
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n.startswith("chalicelib")}


def test_no_chalicelib_module_imports_one_that_imports_it_back() -> None:
    """``aws`` and ``config`` imported each other (a late import hid it): a pair like that cannot be
    understood, tested or replaced alone."""
    paths = {_module(p): p for p in (ROOT / "chalicelib").rglob("*.py")}
    imports = {m: imported(p, m if p.name == "__init__.py" else m.rpartition(".")[0]) & set(paths)
               for m, p in paths.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, targets in imports.items() for b in targets
                    if b != a and a in imports.get(b, set())})
    assert pairs == []
