"""The chaos table itself: a scenario is reported with its invariant."""

import pytest


@pytest.mark.chaos(scenario="harness self-check", invariant="the table reports each scenario")
def test_table_row_is_recorded(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("chaos")
    assert marker.kwargs["scenario"] == "harness self-check"
