"""Statistics over round-trip samples.

Two families live here. The reference family reproduces the qa-lab script exactly: each sample is
rounded to whole milliseconds half up (JavaScript's ``Math.round``), the statistics are computed
over those integers, quantiles are nearest-rank, and every result is rounded half up again. The
exact family works on the unrounded samples in microseconds.
"""

import math


def round_half_up(value):
    """Round a number to an integer, halves upward, as JavaScript's ``Math.round`` does.

    Python's ``round()`` rounds halves to even, so ``round(2.5) == 2`` while ``Math.round(2.5)``
    is 3. Negative halves also go upward: ``round_half_up(-2.5) == -2``.
    """
    floor = math.floor(value)
    if value - floor >= 0.5:
        return floor + 1
    return floor


def duration_ms(duration_ns):
    """Return a duration in whole milliseconds, rounded half up as the reference rounds samples."""
    return round_half_up(duration_ns / 1_000_000)


def duration_us(duration_ns):
    """Return a duration in microseconds with three decimals (nanosecond resolution)."""
    return round(duration_ns / 1000, 3)


def nearest_rank(sorted_values, fraction):
    """Return the nearest-rank quantile of an ascending, non-empty sequence.

    The rank is ``ceil(n * fraction)``, clamped to ``1..n``, so p50 of ``[1, 2]`` is 1 and p95 of
    twenty values is the nineteenth. No interpolation takes place.
    """
    count = len(sorted_values)
    index = math.ceil(count * fraction) - 1
    return sorted_values[min(count - 1, max(0, index))]


def reference_stats(durations_ms):
    """Compute the reference statistics of integer millisecond samples.

    Returns a dict with the reference's keys and key order: ``avgMs``, ``maxMs``, ``minMs``,
    ``p50Ms`` and ``p95Ms``, each an ``int``. Raises ``ValueError`` for an empty sequence.
    """
    if not durations_ms:
        raise ValueError("reference_stats() needs at least one sample")
    ordered = sorted(durations_ms)
    return {
        "avgMs": round_half_up(sum(ordered) / len(ordered)),
        "maxMs": round_half_up(ordered[-1]),
        "minMs": round_half_up(ordered[0]),
        "p50Ms": round_half_up(nearest_rank(ordered, 0.5)),
        "p95Ms": round_half_up(nearest_rank(ordered, 0.95)),
    }
