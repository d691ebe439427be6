"""The Lambda artifact holds the runtime code only: no demo or data generator, no local emulation.

``infra/package.py`` builds ``chalice/deployment.zip`` (the API: app.py + chalicelib +
dependencies) and ``functions.zip`` (the same plus functions/). Whatever sits in chalicelib
ships, so generators live in ``localdev/datagen`` and must stay out of both zips.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.package import package

# Our own top-level packages; everything else in the zip is a pinned dependency.
OWN = ("app.py", "chalicelib/", "functions/", "localdev/", "bench/", "tests/", "infra/")
NOT_SHIPPED = ("localdev/", "bench/", "tests/", "infra/")
GENERATOR = re.compile(r"(^|[/_])(demo|datagen|fake|bench|generat)", re.IGNORECASE)


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    out = tmp_path_factory.mktemp("dist")
    package(out)
    names: dict[str, list[str]] = {}
    for label, path in {"api": out / "chalice" / "deployment.zip", "functions": out / "functions.zip"}.items():
        with zipfile.ZipFile(path) as z:
            names[label] = [n for n in z.namelist() if n.startswith(OWN)]
    yield names


@pytest.mark.parametrize("label", ["api", "functions"])
def test_the_artifact_ships_no_generator_and_no_local_tooling(zips: dict[str, list[str]], label: str) -> None:
    own = zips[label]
    assert "chalicelib/__init__.py" in own  # the runtime code is there ...
    assert not [n for n in own if n.startswith(NOT_SHIPPED)]  # ... the local tooling is not
    assert not [n for n in own if n.endswith(".py") and GENERATOR.search(Path(n).stem)]


def test_the_handlers_ship_with_their_code(zips: dict[str, list[str]]) -> None:
    handlers = {n for n in zips["functions"] if n.startswith("functions/") and n.endswith(".py")}
    assert {Path(n).name for n in handlers} >= {"disbursement_events.py", "reminder_dispatch.py", "reminder_stage.py"}
    assert "app.py" in zips["api"]
