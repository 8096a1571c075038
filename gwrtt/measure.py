"""The measuring loops: each method in turn, with warm-up, concurrency and several connections.

Samples are kept as nanosecond integers in an ``array``, so the samples of a run of 100,000
requests take under a megabyte. The caller streams the per-request events to disk through
``on_sample``.
"""

import threading
import time
from array import array
from dataclasses import dataclass, field

from .artifacts import compact_json
from .errors import RpcFailedError

# Worker threads check this often whether another worker has failed.
WORKER_JOIN_INTERVAL = 0.1


@dataclass
class MethodMeasurement:
    """The measured (not warm-up) round trips of one method.

    ``durations_ns`` is in completion order. ``elapsed_ns`` is the wall time from the first
    measured request sent to the last response received, for throughput.
    """

    method: str
    durations_ns: array = field(default_factory=lambda: array("q"))
    elapsed_ns: int = 0

    @property
    def count(self):
        return len(self.durations_ns)


def measure(clients, methods, iterations, *, warmup=0, concurrency=1, request_timeout, on_sample=None, threads=None):
    """Measure every method in order and return ``{method: MethodMeasurement}``.

    ``clients`` are open :class:`~gwrtt.rpc.RpcClient` connections; each keeps ``concurrency``
    requests in flight. Each method first gets ``warmup`` unrecorded requests, then
    ``iterations`` measured ones, numbered from 1 in the order they are sent.
    ``on_sample(method, iteration, duration_ns, warmup)`` is called for every response, from
    the thread that received it. A response with ``ok: false`` raises :class:`RpcFailedError`
    with the message ``<method> failed: <error JSON>``. Worker threads are appended to
    ``threads``, so that a caller interrupted mid-batch can join them after closing the clients.
    """
    threads = [] if threads is None else threads
    results = {}
    for method in methods:
        if warmup:
            _run_batch(clients, method, warmup, concurrency, request_timeout, on_sample, None, threads, is_warmup=True)
        measurement = MethodMeasurement(method)
        _run_batch(clients, method, iterations, concurrency, request_timeout, on_sample, measurement, threads, is_warmup=False)
        results[method] = measurement
    return results


def _run_batch(clients, method, count, concurrency, request_timeout, on_sample, measurement, threads, *, is_warmup):
    workers = len(clients) * concurrency
    if workers == 1:
        _run_sequential(clients[0], method, count, request_timeout, on_sample, measurement, is_warmup)
    else:
        _run_parallel(clients, method, count, concurrency, request_timeout, on_sample, measurement, threads, is_warmup)


def _run_sequential(client, method, count, request_timeout, on_sample, measurement, is_warmup):
    first_sent = time.perf_counter_ns()
    for iteration in range(1, count + 1):
        duration_ns = _request(client, method, iteration, count, request_timeout, is_warmup)
        if measurement is not None:
            measurement.durations_ns.append(duration_ns)
        if on_sample is not None:
            on_sample(method, iteration, duration_ns, is_warmup)
    if measurement is not None:
        measurement.elapsed_ns = time.perf_counter_ns() - first_sent


def _run_parallel(clients, method, count, concurrency, request_timeout, on_sample, measurement, threads, is_warmup):
    batch = _Batch(count)
    batch_threads = []
    first_sent = time.perf_counter_ns()
    for client in clients:
        for slot in range(concurrency):
            thread = threading.Thread(
                target=batch.work,
                args=(client, method, request_timeout, on_sample, measurement, is_warmup),
                name=f"gwrtt-worker-{client.port}-{slot}",
                daemon=True,
            )
            thread.start()
            batch_threads.append(thread)
            threads.append(thread)
    try:
        for thread in batch_threads:
            # A bounded join keeps the main thread responsive to signals.
            while thread.is_alive():
                thread.join(WORKER_JOIN_INTERVAL)
    finally:
        batch.stop.set()
    if batch.error is not None:
        raise batch.error
    if measurement is not None:
        measurement.elapsed_ns = time.perf_counter_ns() - first_sent


class _Batch:
    """Hands out iteration numbers to worker threads and keeps the first error."""

    def __init__(self, count):
        self.count = count
        self.next_iteration = 1
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None

    def take(self):
        with self.lock:
            if self.stop.is_set() or self.next_iteration > self.count:
                return None
            iteration = self.next_iteration
            self.next_iteration += 1
            return iteration

    def work(self, client, method, request_timeout, on_sample, measurement, is_warmup):
        while (iteration := self.take()) is not None:
            try:
                duration_ns = _request(client, method, iteration, self.count, request_timeout, is_warmup)
            except BaseException as exc:  # handed to the main thread, which re-raises it
                with self.lock:
                    if self.error is None:
                        self.error = exc
                self.stop.set()
                return
            if measurement is not None:
                with self.lock:
                    measurement.durations_ns.append(duration_ns)
            if on_sample is not None:
                on_sample(method, iteration, duration_ns, is_warmup)


def _request(client, method, iteration, count, request_timeout, is_warmup):
    kind = "warm-up iteration" if is_warmup else "iteration"
    label = f"{method} ({kind} {iteration} of {count})"
    response = client.request(method, {}, timeout=request_timeout, label=label)
    if not response.ok:
        raise RpcFailedError(f"{method} failed: {compact_json(response.error)}", method=method, error=response.error)
    return response.duration_ns
