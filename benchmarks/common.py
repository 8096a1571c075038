"""Helpers shared by the benchmark scripts: paths, the machine description and number formatting."""

import os
import platform
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCHMARKS_DIR.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine():
    """Return one line with the date, CPU, core count, load average and Python version."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {cpu_model()}, {os.cpu_count()} cores; load average {load}; "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def median(values):
    return statistics.median(values)


def percentile(values, fraction):
    """Return the nearest-rank percentile (``sorted[ceil(n * q) - 1]``), the rule gwrtt uses."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def verdict(met):
    return "MET" if met else "NOT MET"
