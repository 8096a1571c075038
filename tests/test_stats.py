"""Reference rounding and statistics, checked against the expected vectors."""


import pytest
from vectors import COPIED_VECTORS, SHARED_VECTORS, load_vectors

from gwrtt.stats import duration_ms, nearest_rank, reference_stats, round_half_up

VECTORS = load_vectors()
CASES = VECTORS["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"case{index}" for index in range(len(CASES))])
def test_vector_rounding(case):
    assert [round_half_up(value) for value in case["rawDurationsMs"]] == case["durationMs"]


@pytest.mark.parametrize("case", CASES, ids=[f"case{index}" for index in range(len(CASES))])
def test_vector_stats(case):
    stats = reference_stats(case["durationMs"])
    assert stats == case["stats"]
    assert list(stats) == ["avgMs", "maxMs", "minMs", "p50Ms", "p95Ms"]
    assert all(type(value) is int for value in stats.values())


@pytest.mark.parametrize("case", CASES, ids=[f"case{index}" for index in range(len(CASES))])
def test_vector_samples_from_nanoseconds(case):
    # The same rounding applied to samples as gwrtt measures them, in whole nanoseconds.
    durations_ns = [round(value * 1_000_000) for value in case["rawDurationsMs"]]
    assert [duration_ms(value) for value in durations_ns] == case["durationMs"]


@pytest.mark.parametrize("value, expected", [(2.5, 3), (0.5, 1), (1.4999, 1), (-2.5, -2), (-0.5, 0), (3.0, 3), (0.49999, 0)])
def test_round_half_up(value, expected):
    assert round_half_up(value) == expected


def test_python_round_differs():
    # The reason round_half_up exists: Python rounds halves to even.
    assert round(2.5) == 2
    assert round_half_up(2.5) == 3


def test_nearest_rank_rule():
    values = list(range(1, 21))
    assert nearest_rank(values, 0.5) == 10
    assert nearest_rank(values, 0.95) == 19
    assert nearest_rank([7], 0.95) == 7
    assert nearest_rank([1, 2], 0.5) == 1


def test_empty_samples_rejected():
    with pytest.raises(ValueError):
        reference_stats([])


def test_vectors_copy_current():
    if not SHARED_VECTORS.is_file():
        pytest.skip("no shared folder beside this checkout")
    assert COPIED_VECTORS.read_text() == SHARED_VECTORS.read_text()
