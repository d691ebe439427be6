"""The RFM tie rule, on whole populations: what an analyst relies on whatever the data's shape."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.analytics import rfm

populations = st.lists(st.integers(0, 60), min_size=1, max_size=80)
# real-shaped frequencies: most buyers order once, a few many times
frequencies = st.lists(st.one_of(st.just(1), st.just(1), st.just(1), st.integers(1, 12)), min_size=1, max_size=80)


def scores_of(values: list[int], *, lower_is_better: bool = False) -> list[int]:
    q1, q3 = rfm.quartiles(values)
    return [rfm.score(v, q1, q3, min(values), max(values), lower_is_better=lower_is_better) for v in values]


@given(populations)
def test_the_smallest_value_always_scores_the_bottom_bin(values):
    low = min(values)
    assert {s for v, s in zip(values, scores_of(values), strict=True) if v == low} == {1}
    # recency: the fewest days since the last order always scores 3
    assert {s for v, s in zip(values, scores_of(values, lower_is_better=True), strict=True) if v == low} == {3}


@given(populations)
def test_the_largest_value_scores_the_top_bin_whenever_values_differ(values):
    high = min(values) < max(values) and max(values)
    if high:
        assert {s for v, s in zip(values, scores_of(values), strict=True) if v == high} == {3}


@given(populations)
def test_scores_never_decrease_with_the_value_and_equal_values_score_alike(values):
    pairs = sorted(zip(values, scores_of(values), strict=True))
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(pairs))
    reversed_pairs = sorted(zip(values, scores_of(values, lower_is_better=True), strict=True))
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(reversed_pairs))


@given(populations)
def test_the_rule_is_the_same_for_every_dimension(values):
    # recency is frequency's rule mirrored: same bins, score 4 - bin
    assert scores_of(values, lower_is_better=True) == [4 - s for s in scores_of(values)]


@given(frequencies, st.integers(1, 3), st.integers(1, 3))
def test_a_one_order_buyer_is_never_loyal_or_a_champion(counts, r, m):
    counts = [1, *counts]  # at least one one-order buyer
    for count, f in zip(counts, scores_of(counts), strict=True):
        if count == 1:
            assert f == 1
            assert rfm.SEGMENTS[(r, f, m)] in ("New customers", "About to sleep", "Hibernating")


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=60))
def test_quartiles_are_percentile_cont(values):
    q1, q3 = rfm.quartiles(values)
    ordered = sorted(values)
    assert ordered[0] <= q1 <= q3 <= ordered[-1]
    if len(values) % 4 == 1:  # positions land on elements exactly
        n = len(values) - 1
        assert (q1, q3) == (ordered[n // 4], ordered[3 * n // 4])


def test_slugs_name_every_segment_once():
    assert rfm.SEGMENT_BY_SLUG["cant-lose-them"] == "Can't lose them"
    assert rfm.SEGMENT_BY_SLUG["new-customers"] == "New customers"
    assert len(rfm.SEGMENT_BY_SLUG) == len(rfm.SEGMENT_ORDER)
