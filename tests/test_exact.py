import math

import pytest

from gwrtt.exact import HistogramBin, exact_stats, histogram, throughput

MS = 1_000_000  # nanoseconds per millisecond
US = 1_000  # nanoseconds per microsecond

KEY_ORDER = ["count", "minUs", "meanUs", "stdevUs", "p50Us", "p90Us", "p95Us", "p99Us", "maxUs"]


# --- exact_stats ------------------------------------------------------------------------------


def test_exact_stats_key_order():
    assert list(exact_stats([1 * MS, 2 * MS])) == KEY_ORDER


def test_exact_stats_one_to_ten_ms():
    stats = exact_stats([k * MS for k in range(1, 11)])

    assert stats["count"] == 10
    assert stats["minUs"] == 1000.0
    assert stats["meanUs"] == 5500.0
    # Sample variance of 1..10 is 55/6 ms², so the deviation is sqrt(55/6) = 3.027650354... ms.
    assert stats["stdevUs"] == 3027.650
    assert stats["p50Us"] == 5000.0  # rank ceil(10 * 0.5) = 5
    assert stats["p90Us"] == 9000.0  # rank ceil(10 * 0.9) = 9
    assert stats["p95Us"] == 10000.0  # rank ceil(9.5) = 10
    assert stats["p99Us"] == 10000.0  # rank ceil(9.9) = 10
    assert stats["maxUs"] == 10000.0


def test_exact_stats_sample_stdev():
    # Deviations from the mean 2.5 µs are ±1.5 and ±0.5, so the variance is 5 / 3 µs² and the
    # deviation 1.29099... µs, which is 1291 ns.
    stats = exact_stats([1 * US, 2 * US, 3 * US, 4 * US])

    assert stats["meanUs"] == 2.5
    assert stats["stdevUs"] == 1.291


def test_exact_stats_single_sample():
    stats = exact_stats([1_234_567])

    assert stats == {
        "count": 1,
        "minUs": 1234.567,
        "meanUs": 1234.567,
        "stdevUs": 0.0,
        "p50Us": 1234.567,
        "p90Us": 1234.567,
        "p95Us": 1234.567,
        "p99Us": 1234.567,
        "maxUs": 1234.567,
    }


def test_exact_stats_all_equal():
    stats = exact_stats([5 * US] * 4)

    assert stats["count"] == 4
    assert stats["stdevUs"] == 0.0
    for key in KEY_ORDER[1:]:
        if key != "stdevUs":
            assert stats[key] == 5.0, key


def test_exact_stats_keeps_nanoseconds():
    # The reference rounds these to 1 ms and 2 ms, but the exact statistics keep every nanosecond.
    stats = exact_stats([1_499_999, 1_500_000])

    assert stats["minUs"] == 1499.999
    assert stats["maxUs"] == 1500.0
    assert stats["p50Us"] == 1499.999  # rank ceil(2 * 0.5) = 1: no interpolation
    assert stats["meanUs"] == 1500.0  # 1499999.5 ns rounds half to even: 1500000 ns


def test_exact_stats_mean_rounds_half_to_even():
    assert exact_stats([1_234_567, 1_234_568])["meanUs"] == 1234.568  # 1234567.5 ns -> ...568
    assert exact_stats([1_234_566, 1_234_567])["meanUs"] == 1234.566  # 1234566.5 ns -> ...566


def test_exact_stats_nearest_rank_quantiles():
    twenty = exact_stats([k * US for k in range(1, 21)])
    hundred = exact_stats([k * US for k in range(1, 101)])
    hundred_one = exact_stats([k * US for k in range(1, 102)])

    assert twenty["p95Us"] == 19.0  # rank ceil(19.0) = 19
    assert twenty["p99Us"] == 20.0  # rank ceil(19.8) = 20
    assert twenty["p90Us"] == 18.0
    assert hundred["p50Us"] == 50.0
    assert hundred["p99Us"] == 99.0
    assert hundred_one["p50Us"] == 51.0  # rank ceil(50.5) = 51
    assert hundred_one["p99Us"] == 100.0  # rank ceil(99.99) = 100


def test_exact_stats_ignores_input_order():
    values = [7 * US, 1 * US, 5 * US, 3 * US]
    original = list(values)

    assert exact_stats(values) == exact_stats(sorted(values))
    assert values == original


def test_exact_stats_accepts_generator_and_zero():
    stats = exact_stats(value for value in [0, 2 * US])

    assert stats["minUs"] == 0.0
    assert stats["meanUs"] == 1.0


def test_exact_stats_rejects_empty():
    with pytest.raises(ValueError, match="at least one duration"):
        exact_stats([])


def test_exact_stats_rejects_negative():
    with pytest.raises(ValueError, match="-5"):
        exact_stats([10, -5])


@pytest.mark.parametrize("bad", [1.5, True, "10"])
def test_exact_stats_rejects_non_integer(bad):
    with pytest.raises(TypeError):
        exact_stats([bad])


# --- throughput -------------------------------------------------------------------------------


def test_throughput_requests_per_second():
    assert throughput(20, 2_000_000_000) == 10.0
    assert throughput(10, 3_000_000_000) == 3.3
    assert throughput(2, 3_000_000_000) == 0.7
    assert throughput(1, 1_000) == 1_000_000.0
    assert throughput(0, 1) == 0.0


@pytest.mark.parametrize("elapsed_ns", [0, -1, math.nan])
def test_throughput_rejects_non_positive_elapsed(elapsed_ns):
    with pytest.raises(ValueError, match="elapsed"):
        throughput(10, elapsed_ns)


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_throughput_rejects_invalid_count(count):
    with pytest.raises(ValueError, match="count"):
        throughput(count, 1_000)


# --- histogram --------------------------------------------------------------------------------


def test_histogram_linear_bins():
    bins = histogram([k * US for k in range(0, 11)], bins=5)

    assert bins == [
        (0.0, 2.0, 2),  # 0, 1
        (2.0, 4.0, 2),  # 2, 3
        (4.0, 6.0, 2),  # 4, 5
        (6.0, 8.0, 2),  # 6, 7
        (8.0, 10.0, 3),  # 8, 9 and the maximum 10
    ]


def test_histogram_returns_named_bins():
    first = histogram([0, 10 * US], bins=2)[0]

    assert isinstance(first, HistogramBin)
    assert first.lower_us == 0.0
    assert first.upper_us == 5.0
    assert first.count == 1


def test_histogram_value_on_inner_edge_goes_up():
    assert histogram([0, 5 * US, 10 * US], bins=2) == [(0.0, 5.0, 1), (5.0, 10.0, 2)]


def test_histogram_fractional_edges_round_up_to_ns():
    # Exact edges 10/3 and 20/3 ns become 4 and 7 ns, and 3 ns stays below the first one.
    assert histogram([0, 3, 4, 10], bins=3) == [(0.0, 0.004, 2), (0.004, 0.007, 1), (0.007, 0.01, 1)]


def test_histogram_range_narrower_than_bins():
    # A 2 ns range in 3 bins: edges 0, 1, 2 and 2 ns, so the last bin holds only the maximum.
    assert histogram([0, 1, 2, 2], bins=3) == [(0.0, 0.001, 1), (0.001, 0.002, 1), (0.002, 0.002, 2)]
    # A 1 ns range in 4 bins: edges 0, 1, 1, 1 and 1 ns, so the middle bins are empty.
    assert histogram([0, 1], bins=4) == [(0.0, 0.001, 1), (0.001, 0.001, 0), (0.001, 0.001, 0), (0.001, 0.001, 1)]


def test_histogram_default_has_ten_bins_and_all_samples():
    durations = [(k * 7919) % 1000 * US + 500 * US for k in range(1, 200)]
    bins = histogram(durations)

    assert len(bins) == 10
    assert sum(count for _, _, count in bins) == len(durations)
    assert bins[0][0] == min(durations) / US
    assert bins[-1][1] == max(durations) / US
    for left, right in zip(bins, bins[1:]):
        assert left[1] == right[0]


def test_histogram_all_equal_is_one_bin():
    assert histogram([7 * US] * 3) == [(7.0, 7.0, 3)]


def test_histogram_single_sample():
    assert histogram([1_234_567], bins=4) == [(1234.567, 1234.567, 1)]


def test_histogram_empty_bins_stay():
    assert histogram([0, 9 * US], bins=3) == [(0.0, 3.0, 1), (3.0, 6.0, 0), (6.0, 9.0, 1)]


@pytest.mark.parametrize("bins", [0, -1, True, 2.0])
def test_histogram_rejects_invalid_bins(bins):
    with pytest.raises(ValueError, match="bin"):
        histogram([1, 2], bins=bins)


def test_histogram_rejects_empty():
    with pytest.raises(ValueError, match="at least one duration"):
        histogram([])
