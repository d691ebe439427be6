"""Chaos suite plumbing: each scenario declares what it breaks and which invariant must hold.

    @pytest.mark.chaos(scenario="provider answer lost (10%)", invariant="no (payment, stage) called twice")
    def test_...(...): ...

At the end of the run a table is printed: scenario, invariant, held / broken (a failed or
erroring test is "broken"). ``make chaos`` runs every scenario; ``make test`` runs the ones
not marked ``slow``.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("chaos") is None and "tests/chaos/" in item.nodeid:
            raise pytest.UsageError(f"{item.nodeid}: every chaos test needs @pytest.mark.chaos(scenario=, invariant=)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("chaos")
    if marker is not None:
        report.user_properties.append(
            ("chaos", (marker.kwargs.get("scenario", item.name), marker.kwargs.get("invariant", ""))))
