"""Benchmark 3: how long after /readyz first returns 200 gwrtt starts to connect.

Each run executes gwrtt's Runner in a worker thread of this process against the installed
gateway (one health request). A second thread waits for ``runner.port``, then polls
``http://127.0.0.1:PORT/readyz`` about every 2 ms and records ``time.monotonic()`` right after
the first 200 response. After the run:

- delay = ``timings["connect_started_at"]`` - first 200, the figure the target applies to,
- split into: poll lag = the moment ``GatewayProcess.wait_ready`` returned - first 200 (gwrtt
  polls every 25 ms), and after-ready work = ``connect_started_at`` - that moment, of which
  ``GatewayProcess.snapshot`` (a walk over every process on the machine) takes the part shown.

To get the split, this script wraps ``GatewayProcess.wait_ready`` and ``snapshot`` in its own
process with functions that record the ``time.monotonic()`` when they return. gwrtt's code is
unchanged.

The poller's own resolution is one probe interval plus one probe (2 to 3 ms), and it takes some
CPU from the starting gateway on a 2-core machine.

Target: the median delay is at most 60 ms.

Run: .venv/bin/python benchmarks/ready_delay.py [--runs 5]
"""

import argparse
import http.client
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import common  # noqa: F401  (puts the project root on sys.path)
from common import PROJECT_ROOT, describe_machine, median, verdict

from gwrtt import Runner, RunOptions
from gwrtt.gateway import GatewayProcess

TARGET_DELAY_MS = 60.0
POLL_INTERVAL = 0.002
PROBE_TIMEOUT = 0.5


class ReadyzPoller(threading.Thread):
    """Polls ``/readyz`` on the runner's port and records when it first returns 200."""

    def __init__(self, runner):
        super().__init__(name="readyz-poller", daemon=True)
        self.runner = runner
        self.stop = threading.Event()
        self.first_200_at = None
        self.probes = 0

    def run(self):
        connection = None
        port = None
        while not self.stop.is_set() and self.first_200_at is None:
            # The runner picks a new port when the first one was taken, so follow it.
            if self.runner.port != port:
                port = self.runner.port
                if connection is not None:
                    connection.close()
                connection = None
            if port is None:
                time.sleep(0.001)
                continue
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
            try:
                connection.request("GET", "/readyz")
                response = connection.getresponse()
                response.read()
                answered_at = time.monotonic()
                self.probes += 1
                if response.status == 200:
                    self.first_200_at = answered_at
                    break
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
            time.sleep(POLL_INTERVAL)
        if connection is not None:
            connection.close()


class CallClock:
    """Records when calls of a ``GatewayProcess`` method start and return (``time.monotonic()``)."""

    def __init__(self, name):
        self.name = name
        self.calls = []

    def install(self):
        original = getattr(GatewayProcess, self.name)

        def timed(*args, **kwargs):
            started = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls.append((started, time.monotonic()))

        setattr(GatewayProcess, self.name, timed)

    def last_return(self):
        return self.calls[-1][1] if self.calls else None

    def seconds_between(self, start, end):
        """Return the seconds spent in calls that started between ``start`` and ``end``."""
        return sum(returned - started for started, returned in self.calls if start <= started <= end)


WAIT_READY_CLOCK = CallClock("wait_ready")
SNAPSHOT_CLOCK = CallClock("snapshot")


def measure_once(scratch_dir, number):
    """Run gwrtt once; return ``(result, poller)``."""
    options = RunOptions(output_dir=scratch_dir / f"run-{number}", iterations=1, methods=("health",))
    runner = Runner(options, reraise_signals=False, cwd=str(PROJECT_ROOT))
    poller = ReadyzPoller(runner)
    outcome = {}
    # A non-daemon thread: after Ctrl-C the interpreter waits for the run to finish its own
    # cleanup, which stops the gateway.
    worker = threading.Thread(target=lambda: outcome.setdefault("result", runner.run()), name="gwrtt-runner")
    poller.start()
    worker.start()
    worker.join()
    poller.stop.set()
    poller.join(2)
    return outcome.get("result"), poller


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="gwrtt runs, each with its own gateway (default 5)")
    args = parser.parse_args(argv)

    print(f"machine: {describe_machine()}")
    print(f"{args.runs} runs; /readyz polled every {POLL_INTERVAL * 1000:g} ms by this script, every 25 ms by gwrtt")
    print()
    print(
        f"{'run':>3} {'status':>6} {'ready s':>8} {'probes':>6} {'poll lag ms':>11} {'after-ready ms':>14} "
        f"{'of it snapshot':>14} {'delay ms':>9}"
    )
    WAIT_READY_CLOCK.install()
    SNAPSHOT_CLOCK.install()
    scratch_dir = Path(tempfile.mkdtemp(prefix="gwrtt-benchmark-"))
    delays_ms = []
    try:
        for number in range(1, args.runs + 1):
            result, poller = measure_once(scratch_dir, number)
            timings = result.timings if result is not None else {}
            if poller.first_200_at is None or "connect_started_at" not in timings:
                details = result.details.splitlines()[0] if result is not None and result.details else "no result"
                print(f"{number:>3} failed: no /readyz 200 seen or no connect started ({details})")
                continue
            seen_ready_at = WAIT_READY_CLOCK.last_return()
            poll_lag_ms = (seen_ready_at - poller.first_200_at) * 1000
            after_ready_ms = (timings["connect_started_at"] - seen_ready_at) * 1000
            snapshot_ms = SNAPSHOT_CLOCK.seconds_between(seen_ready_at, timings["connect_started_at"]) * 1000
            delay_ms = (timings["connect_started_at"] - poller.first_200_at) * 1000
            delays_ms.append(delay_ms)
            print(
                f"{number:>3} {result.status:>6} {timings['ready_s']:>8.1f} {poller.probes:>6} {poll_lag_ms:>11.1f} "
                f"{after_ready_ms:>14.1f} {snapshot_ms:>14.1f} {delay_ms:>9.1f}"
            )
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)

    if not delays_ms:
        print("no run produced a delay")
        return 1
    median_ms = median(delays_ms)
    print()
    print(f"median delay {median_ms:.1f} ms over {len(delays_ms)} runs (range {min(delays_ms):.1f} to {max(delays_ms):.1f} ms)")
    print(f"target: median delay at most {TARGET_DELAY_MS:g} ms: {verdict(median_ms <= TARGET_DELAY_MS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
