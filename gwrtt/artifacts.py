"""Every file gwrtt writes into the output folder, in the shapes qa-lab reads.

JSON files are formatted as JavaScript's ``JSON.stringify(value, null, 2)`` plus a final newline,
and written to a temporary file first, then moved into place, so a reader never sees half a file.
"""

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone

SCENARIO_ID = "rpc-gateway-smoke"
SCENARIO_TITLE = "Gateway RPC loopback smoke"
PROVIDER_MODE = "gateway-rpc"
EVENTS_FILE = "rpc-events.json"
SUMMARY_FILE = "qa-suite-summary.json"
# Files copied from the temporary root into the output folder: (source name, target name).
GATEWAY_LOGS = (
    ("gateway.stdout.log", "gateway.stdout.log"),
    ("gateway.stderr.log", "gateway.stderr.log"),
    ("gateway.log", "gateway.log"),
)


def iso_timestamp(moment):
    """Format an aware datetime as JavaScript's ``Date.toISOString()``: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now():
    return datetime.now(timezone.utc)


def to_json(value):
    """Serialise as ``JSON.stringify(value, null, 2)`` followed by a newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def compact_json(value):
    """Serialise as ``JSON.stringify(value)``: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def connect_event(duration_ms, duration_us):
    return {
        "event": "gateway-rpc.connect",
        "payload": {"method": "connect", "ok": True, "durationMs": duration_ms, "durationUs": duration_us},
    }


def sample_event(sample):
    """Return the ``rpc-events.json`` entry of one measured request."""
    payload = {
        "kind": "gateway-rpc",
        "method": sample.method,
        "ok": True,
        "durationMs": sample.duration_ms,
        "iteration": sample.iteration,
        "durationUs": sample.duration_us,
    }
    return {"event": "gateway-rpc", "payload": payload}


def build_summary(*, status, details, started_at, finished_at, measurement=None):
    """Return the ``qa-suite-summary.json`` object with the reference's keys and key order."""
    passed = status == "pass"
    scenario = {"id": SCENARIO_ID, "title": SCENARIO_TITLE, "status": status, "details": details}
    if measurement:
        scenario["rttMeasurement"] = measurement
    return {
        "counts": {"total": 1, "passed": 1 if passed else 0, "failed": 0 if passed else 1},
        "run": {
            "startedAt": iso_timestamp(started_at),
            "finishedAt": iso_timestamp(finished_at),
            "providerMode": PROVIDER_MODE,
            "scenarioIds": [SCENARIO_ID],
        },
        "scenarios": [scenario],
    }


def write_results(output_dir, events, summary):
    """Write ``rpc-events.json`` and ``qa-suite-summary.json``; return their paths."""
    os.makedirs(output_dir, exist_ok=True)
    events_path = os.path.join(output_dir, EVENTS_FILE)
    summary_path = os.path.join(output_dir, SUMMARY_FILE)
    write_atomic(events_path, to_json(events))
    write_atomic(summary_path, to_json(summary))
    return {"events": events_path, "summary": summary_path}


def copy_gateway_logs(sandbox_root, output_dir):
    """Copy the gateway's log files that exist into the output folder; return the copies."""
    os.makedirs(output_dir, exist_ok=True)
    copied = []
    for source_name, target_name in GATEWAY_LOGS:
        source = os.path.join(sandbox_root, source_name)
        target = os.path.join(output_dir, target_name)
        try:
            shutil.copyfile(source, target)
        except FileNotFoundError:
            continue
        copied.append(target)
    return copied
