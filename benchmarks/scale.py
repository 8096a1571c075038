"""Benchmark 4: gwrtt's time per request and its own peak memory at 10,000 to 100,000 requests.

For each count N, one full ``bin/gwrtt --methods health --iterations N --warmup 0 -q`` run
starts its own gateway, under ``/usr/bin/time -v`` when that exists. The figures:

- time per request = 1 / ``throughputRps`` from the summary: the wall time of the measuring loop
  divided by the requests, so it includes gwrtt's own work between requests (the events writer
  and the statistics bookkeeping), not only the round trips;
- RTT mean of the first and the last tenth of the run, read from ``rpc-events.json``, which
  shows whether the gateway itself slowed down during the run;
- gwrtt's peak RSS: ``VmHWM`` from ``/proc/PID/status`` of the gwrtt Python process alone,
  read every 20 ms until it exits (the last value read is at most 20 ms old);
- ``/usr/bin/time``'s "Maximum resident set size", for comparison only: it is the largest of
  gwrtt and the children it waited for, which include the gateway launcher, not gwrtt alone.

Targets: gwrtt's peak RSS is below 100 MB at 100,000 requests, and the time per request is
roughly constant, read as: the 100k / 10k ratio of the time per request is at most 1.25.

Run: .venv/bin/python benchmarks/scale.py [--counts 10000,30000,100000]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the project root on sys.path)
from common import PROJECT_ROOT, describe_machine, verdict

import psutil

GWRTT = PROJECT_ROOT / "bin" / "gwrtt"
TIME_COMMAND = "/usr/bin/time"
TARGET_PEAK_RSS_MB = 100.0
# "Roughly constant" is read as: the time per request at the largest count is at most 25 %
# above that at the smallest. A faster large run does not count against gwrtt.
MAX_PER_REQUEST_GROWTH = 1.25
SAMPLE_INTERVAL = 0.02
# Health round trips took 1 to 7 ms here, so 100,000 of them take up to about 12 minutes.
# Start-up and cleanup add under a minute.
RUN_TIMEOUT = 1200


def read_status_kb(pid, field):
    """Return ``field`` (for example ``VmHWM``) of ``/proc/PID/status`` in kB, or ``None``."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def find_gwrtt_pid(launcher):
    """Return the pid of the gwrtt Python process started by ``launcher`` (a Popen).

    Without ``/usr/bin/time`` that is the launcher itself (``bin/gwrtt`` execs Python); with it,
    it is the only child of ``/usr/bin/time``.
    """
    if launcher.args[0] != TIME_COMMAND:
        return launcher.pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            children = psutil.Process(launcher.pid).children()
        except psutil.NoSuchProcess:
            return None
        if children:
            return children[0].pid
        time.sleep(0.005)
    return None


def run_once(count, warmup, scratch_dir, use_time):
    """Run gwrtt for ``count`` requests; return a dict of its figures."""
    output_dir = scratch_dir / f"out-{count}"
    time_report = scratch_dir / f"time-{count}.txt"
    command = [str(GWRTT), "--output-dir", str(output_dir), "--methods", "health", "--iterations", str(count), "--warmup", str(warmup), "-q"]
    if use_time:
        command = [TIME_COMMAND, "-v", "-o", str(time_report), *command]

    started = time.monotonic()
    with open(scratch_dir / f"stderr-{count}.txt", "w", encoding="utf-8") as stderr:
        launcher = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            gwrtt_pid = find_gwrtt_pid(launcher)
            peak_kb = 0
            while launcher.poll() is None:
                # bin/gwrtt is a shell script that execs Python: VmHWM starts again at the exec.
                value = read_status_kb(gwrtt_pid, "VmHWM") if gwrtt_pid else None
                if value is not None:
                    peak_kb = value
                if time.monotonic() - started > RUN_TIMEOUT:
                    raise TimeoutError(f"gwrtt did not finish {count} requests within {RUN_TIMEOUT} s")
                time.sleep(SAMPLE_INTERVAL)
        finally:
            if launcher.poll() is None:
                # SIGINT makes gwrtt stop its gateway and clean up, as Ctrl-C would.
                os.kill(gwrtt_pid or launcher.pid, signal.SIGINT)
                launcher.wait(60)
    wall_s = time.monotonic() - started
    if launcher.returncode != 0:
        stderr_text = (scratch_dir / f"stderr-{count}.txt").read_text(encoding="utf-8", errors="replace")
        raise RuntimeError(f"gwrtt exited with {launcher.returncode} for {count} requests: {stderr_text.strip()[-2000:]}")

    summary = json.loads((output_dir / "qa-suite-summary.json").read_text(encoding="utf-8"))
    details = json.loads(summary["scenarios"][0]["details"].splitlines()[-1])
    health = details["byMethodUs"]["health"]
    figures = {
        "count": health["count"],
        "rtt_mean_us": health["meanUs"],
        "rtt_p50_us": health["p50Us"],
        "throughput_rps": details["throughputRps"],
        "us_per_request": 1e6 / details["throughputRps"],
        "measure_s": health["count"] / details["throughputRps"],
        "wall_s": wall_s,
        "gwrtt_peak_rss_mb": peak_kb / 1024,
        "events_mb": (output_dir / "rpc-events.json").stat().st_size / 1e6,
    }
    figures.update(rtt_drift(output_dir / "rpc-events.json"))
    if use_time:
        figures["time_max_rss_mb"] = parse_time_max_rss_kb(time_report.read_text(encoding="utf-8")) / 1024
    shutil.rmtree(output_dir)
    return figures


def rtt_drift(events_path):
    """Return the mean RTT of the first and the last tenth of the measured requests, in us."""
    events = json.loads(events_path.read_text(encoding="utf-8"))
    durations = [
        event["payload"]["durationUs"]
        for event in events
        if event.get("event") == "gateway-rpc" and not event["payload"].get("warmup")
    ]
    tenth = max(1, len(durations) // 10)
    return {
        "rtt_first_tenth_us": sum(durations[:tenth]) / tenth,
        "rtt_last_tenth_us": sum(durations[-tenth:]) / tenth,
    }


def parse_time_max_rss_kb(text):
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(match.group(1)) if match else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10000,30000,100000", help="comma-separated request counts (default 10000,30000,100000)")
    parser.add_argument("--warmup", type=int, default=0, help="unrecorded requests before each measurement (default 0)")
    args = parser.parse_args(argv)
    counts = [int(text) for text in args.counts.split(",")]

    use_time = os.access(TIME_COMMAND, os.X_OK)
    print(f"machine: {describe_machine()}")
    if not use_time:
        print(f"{TIME_COMMAND} not found: gwrtt's peak RSS comes from /proc only")
    print(f"counts {', '.join(f'{count:,}' for count in counts)}; warm-up {args.warmup}; one gateway start per count")
    print()
    header = (
        f"{'requests':>9} {'wall s':>7} {'measure s':>9} {'us/request':>10} {'RTT mean us':>11} {'first 10%':>9} "
        f"{'last 10%':>9} {'gwrtt peak MB':>13} {'events MB':>9}"
    )
    if use_time:
        header += f" {'time -v max MB':>14}"
    print(header)

    scratch_dir = Path(tempfile.mkdtemp(prefix="gwrtt-benchmark-"))
    rows = {}
    try:
        for count in counts:
            figures = run_once(count, args.warmup, scratch_dir, use_time)
            rows[count] = figures
            line = (
                f"{figures['count']:>9,} {figures['wall_s']:>7.1f} {figures['measure_s']:>9.1f} "
                f"{figures['us_per_request']:>10.1f} {figures['rtt_mean_us']:>11.1f} {figures['rtt_first_tenth_us']:>9.1f} "
                f"{figures['rtt_last_tenth_us']:>9.1f} {figures['gwrtt_peak_rss_mb']:>13.1f} {figures['events_mb']:>9.1f}"
            )
            if use_time:
                line += f" {figures['time_max_rss_mb']:>14.1f}"
            print(line, flush=True)
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)

    smallest, largest = min(rows), max(rows)
    print()
    peak_mb = rows[largest]["gwrtt_peak_rss_mb"]
    per_request_ratio = rows[largest]["us_per_request"] / rows[smallest]["us_per_request"]
    rtt_ratio = rows[largest]["rtt_mean_us"] / rows[smallest]["rtt_mean_us"]
    overhead = {count: row["us_per_request"] - row["rtt_mean_us"] for count, row in rows.items()}
    print(
        f"time per request {largest:,} / {smallest:,}: {per_request_ratio:.2f} "
        f"(RTT mean alone: {rtt_ratio:.2f}; time per request minus RTT mean: "
        + ", ".join(f"{overhead[count]:.0f} us at {count:,}" for count in sorted(overhead))
        + ")"
    )
    print(f"target: gwrtt peak RSS below {TARGET_PEAK_RSS_MB:g} MB at {largest:,}: {verdict(peak_mb < TARGET_PEAK_RSS_MB)} ({peak_mb:.1f} MB)")
    print(
        f"target: time per request roughly constant ({largest:,} / {smallest:,} at most {MAX_PER_REQUEST_GROWTH:g}): "
        f"{verdict(per_request_ratio <= MAX_PER_REQUEST_GROWTH)} ({per_request_ratio:.2f}; the gateway's own speed "
        f"varies on a shared machine, see the RTT columns)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
