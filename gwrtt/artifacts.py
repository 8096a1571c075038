"""Every file gwrtt writes into the output folder, in the shapes qa-lab reads.

JSON files are formatted as JavaScript's ``JSON.stringify(value, null, 2)`` plus a final newline,
and written to a temporary file first, then moved into place, so a reader never sees half a file.
"""

import json
import os
import shutil
import tempfile
import threading
from datetime import datetime, timezone

from .stats import duration_ms, duration_us

SCENARIO_ID = "rpc-gateway-smoke"
SCENARIO_TITLE = "Gateway RPC loopback smoke"
PROVIDER_MODE = "gateway-rpc"
EVENTS_FILE = "rpc-events.json"
SUMMARY_FILE = "qa-suite-summary.json"
REPORT_FILE = "qa-suite-report.md"
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


def connect_event(duration_ns):
    """Return the ``rpc-events.json`` entry of the ``connect`` handshake."""
    return {
        "event": "gateway-rpc.connect",
        "payload": {
            "method": "connect",
            "ok": True,
            "durationMs": duration_ms(duration_ns),
            "durationUs": duration_us(duration_ns),
        },
    }


def sample_event(method, iteration, duration_ns, warmup=False):
    """Return the ``rpc-events.json`` entry of one request.

    The reference's keys come first, in its order. ``warmup: true`` marks a warm-up request,
    which no statistic includes; ``durationUs`` is the exact duration.
    """
    payload = {
        "kind": "gateway-rpc",
        "method": method,
        "ok": True,
        "durationMs": duration_ms(duration_ns),
        "iteration": iteration,
    }
    if warmup:
        payload["warmup"] = True
    payload["durationUs"] = duration_us(duration_ns)
    return {"event": "gateway-rpc", "payload": payload}


class EventLog:
    """``rpc-events.json``, written one event at a time so that memory stays flat.

    Events go to a temporary file in the output folder as they arrive, each flushed to the
    operating system at once, so a killed run loses none (see :func:`recover_events`).
    :meth:`finish` closes the JSON array and renames the file into place. The text is the same
    as ``JSON.stringify(events, null, 2)`` would give. ``append`` may be called from several
    threads.
    """

    def __init__(self, output_dir):
        self.path = os.path.join(output_dir, EVENTS_FILE)
        fd, self.temporary = tempfile.mkstemp(prefix=f".{EVENTS_FILE}.", suffix=".tmp", dir=output_dir)
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1 << 16)
        self._lock = threading.Lock()
        self.count = 0

    def append(self, event):
        text = json.dumps(event, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        with self._lock:
            self._file.write(("[\n  " if self.count == 0 else ",\n  ") + text)
            self._file.flush()
            self.count += 1

    def append_sample(self, method, iteration, duration_ns, warmup=False):
        """Append the event of one request; the same text as ``append(sample_event(...))``.

        The text is built from a template because ``json.dumps`` with ``indent`` runs the pure
        Python encoder, which cost several times more per request on the measuring path.
        """
        warmup_line = '      "warmup": true,\n' if warmup else ""
        text = (
            '{\n    "event": "gateway-rpc",\n    "payload": {\n      "kind": "gateway-rpc",\n'
            f'      "method": {json.dumps(method, ensure_ascii=False)},\n      "ok": true,\n'
            f'      "durationMs": {duration_ms(duration_ns)},\n      "iteration": {iteration},\n'
            f'{warmup_line}      "durationUs": {float(duration_us(duration_ns))!r}\n    }}\n  }}'
        )
        with self._lock:
            self._file.write(("[\n  " if self.count == 0 else ",\n  ") + text)
            self._file.flush()
            self.count += 1

    def finish(self):
        """Close the array and move the file into place; return its path. Safe to call twice."""
        with self._lock:
            if self._file is None:
                return self.path
            self._file.write("\n]\n" if self.count else "[]\n")
            self._file.close()
            self._file = None
            os.chmod(self.temporary, 0o644)
            os.replace(self.temporary, self.path)
        return self.path

    def discard(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                os.unlink(self.temporary)


def recover_events(temporary, output_dir):
    """Turn the events file of a run that was killed into ``rpc-events.json``.

    The file contains whole events followed, perhaps, by part of one. The part is cut off and the
    array closed. Nothing happens when ``rpc-events.json`` already exists. Returns the path
    written, or ``None``.
    """
    target = os.path.join(output_dir, EVENTS_FILE)
    try:
        with open(temporary, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    if not os.path.exists(target):
        # Each event ends with a brace at an indent of two spaces; inner ones are indented more.
        end = text.rfind("\n  }")
        recovered = text[: end + 4] + "\n]\n" if text.startswith("[\n  {") and end != -1 else "[]\n"
        json.loads(recovered)
        write_atomic(target, recovered)
    os.unlink(temporary)
    return target


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


def write_summary(output_dir, summary):
    """Write ``qa-suite-summary.json`` atomically; return its path."""
    path = os.path.join(output_dir, SUMMARY_FILE)
    write_atomic(path, to_json(summary))
    return path


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
