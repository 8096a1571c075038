"""Exact statistics over unrounded round-trip samples, in microseconds.

The inputs are whole nanoseconds, as ``Sample.duration_ns`` stores them. Quantiles follow the same
nearest-rank rule as the reference statistics (:func:`gwrtt.stats.nearest_rank`), but on the exact
values instead of whole milliseconds. Every result in microseconds has three decimals, which is
nanosecond resolution.
"""

import bisect
import math
import statistics
from fractions import Fraction
from typing import NamedTuple

from .stats import nearest_rank

QUANTILES = (("p50Us", 0.50), ("p90Us", 0.90), ("p95Us", 0.95), ("p99Us", 0.99))


class HistogramBin(NamedTuple):
    """One bin of :func:`histogram`: its edges in microseconds and the number of samples in it."""

    lower_us: float
    upper_us: float
    count: int


def exact_stats(durations_ns):
    """Compute count, min, mean, sample standard deviation, p50/p90/p95/p99 and max.

    Returns a dict with the keys ``count``, ``minUs``, ``meanUs``, ``stdevUs``, ``p50Us``,
    ``p90Us``, ``p95Us``, ``p99Us`` and ``maxUs``, in that order. ``count`` is an ``int`` and the
    other values are ``float`` microseconds rounded to the nearest nanosecond (halves to even).
    Quantiles are nearest-rank without interpolation, so each one is a measured value. The
    standard deviation divides by n - 1 and is 0.0 for a single sample.

    Raises ``ValueError`` for an empty sequence or a negative duration, and ``TypeError`` for a
    duration that is not a whole number of nanoseconds.
    """
    ordered = _sorted_durations(durations_ns, "exact_stats")
    count = len(ordered)
    stdev_ns = statistics.stdev(ordered) if count > 1 else 0

    result = {
        "count": count,
        "minUs": _to_us(ordered[0]),
        "meanUs": _to_us(Fraction(sum(ordered), count)),
        "stdevUs": _to_us(stdev_ns),
    }
    for key, fraction in QUANTILES:
        result[key] = _to_us(nearest_rank(ordered, fraction))
    result["maxUs"] = _to_us(ordered[-1])
    return result


def throughput(count, elapsed_ns):
    """Return ``count`` requests over ``elapsed_ns`` nanoseconds as requests per second.

    The result is rounded to one decimal. For sequential requests, pass the wall-clock time of
    the whole measuring loop, which includes the client's own overhead between requests, rather
    than the sum of the round trips. Raises ``ValueError`` for a negative count or a duration
    that is not greater than zero.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"throughput() needs a count of 0 or more, got {count!r}")
    if not elapsed_ns > 0:
        raise ValueError(f"throughput() needs an elapsed time greater than 0 ns, got {elapsed_ns!r}")
    return round(count * 1_000_000_000 / elapsed_ns, 1)


def histogram(durations_ns, bins=10):
    """Count the durations in ``bins`` bins of nearly equal width from the minimum to the maximum.

    Returns a list of :class:`HistogramBin` tuples ``(lower_us, upper_us, count)`` in ascending
    order. Each bin includes its lower edge and excludes its upper edge, except the last one,
    which includes the maximum, so the counts add up to the number of durations. Edges are whole
    nanoseconds, rounded up from the exact fractions of the range, so widths may differ by 1 ns
    and a range of fewer nanoseconds than ``bins`` leaves some bins with no width. When all
    durations are equal (including a single one), the result is one bin whose edges are both
    that value.

    Raises ``ValueError`` for an empty sequence, a negative duration or ``bins`` below 1, and
    ``TypeError`` for a duration that is not a whole number of nanoseconds.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"histogram() needs at least 1 bin, got {bins!r}")
    ordered = _sorted_durations(durations_ns, "histogram")
    low, high = ordered[0], ordered[-1]
    span = high - low
    if span == 0:
        return [HistogramBin(_to_us(low), _to_us(high), len(ordered))]

    # Integer edges keep the bins that samples land in identical to the edges shown.
    edges = [low + math.ceil(Fraction(span * i, bins)) for i in range(bins + 1)]
    counts = [0] * bins
    for value in ordered:
        # bisect_right skips the bins of no width that equal edges make. Only the maximum lands
        # past the last bin, and it belongs to the last bin.
        index = min(bisect.bisect_right(edges, value) - 1, bins - 1)
        counts[index] += 1
    return [HistogramBin(_to_us(edges[i]), _to_us(edges[i + 1]), counts[i]) for i in range(bins)]


def _sorted_durations(durations_ns, caller):
    ordered = sorted(durations_ns)
    if not ordered:
        raise ValueError(f"{caller}() needs at least one duration")
    for value in ordered:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{caller}() needs durations in whole nanoseconds, got {value!r}")
    if ordered[0] < 0:
        raise ValueError(f"{caller}() needs durations of 0 ns or more, got {ordered[0]}")
    return ordered


def _to_us(value_ns):
    # Rounding to whole nanoseconds first makes the microsecond value exactly three decimals
    # (an int divided by 1000 is the float closest to that decimal).
    return round(Fraction(value_ns)) / 1000
