"""The measuring loop: each method, ``iterations`` times, one request at a time."""

from dataclasses import dataclass

from .artifacts import compact_json
from .errors import RpcFailedError
from .stats import round_half_up


@dataclass(frozen=True)
class Sample:
    """One measured request. ``duration_ns`` is exact; the other durations derive from it."""

    method: str
    iteration: int
    duration_ns: int

    @property
    def duration_ms(self):
        """The duration in whole milliseconds, rounded half up as the reference does."""
        return round_half_up(self.duration_ns / 1_000_000)

    @property
    def duration_us(self):
        """The duration in microseconds with three decimals (nanosecond resolution)."""
        return round(self.duration_ns / 1000, 3)


def measure_sequential(client, methods, iterations, *, request_timeout, on_sample=None):
    """Run every method ``iterations`` times in order and return the samples.

    A response with ``ok: false`` raises :class:`RpcFailedError` with the message
    ``<method> failed: <error JSON>``. ``on_sample`` is called with each sample as it arrives.
    """
    samples = []
    for method in methods:
        for iteration in range(1, iterations + 1):
            label = f"{method} (iteration {iteration} of {iterations})"
            response = client.request(method, {}, timeout=request_timeout, label=label)
            if not response.ok:
                raise RpcFailedError(f"{method} failed: {compact_json(response.error)}", method=method, error=response.error)
            sample = Sample(method, iteration, response.duration_ns)
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
    return samples
