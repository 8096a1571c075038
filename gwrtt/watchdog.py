"""A guard process that stops the gateway tree if gwrtt dies without cleaning up.

Signal handlers and ``atexit`` cannot run when gwrtt is killed with SIGKILL. The guard is a small
Python process in a session of its own. It keeps the read end of a pipe open, and only gwrtt has
the write end. When gwrtt exits for any reason, the kernel closes the write end and the guard reads EOF.
If gwrtt did not first write ``done``, the guard stops every process that carries the run's
marker (and every descendant of the gateway pids it was told about), copies the gateway's logs
into the output folder, finishes the half-written events file, writes a failed summary there
unless one exists, and removes the temporary root and the gateway's lock files.

The guard runs ``main()`` of this module in a new interpreter, with ``--marker-variable``,
``--marker``, ``--temp-root``, ``--output-dir`` and ``--started-at``.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil

from . import artifacts
from .gateway import is_alive, marked_processes, send_quietly
from .sandbox import remove_tree_and_locks

# After gwrtt dies the gateway gets this long to exit on SIGTERM before SIGKILL. OpenClaw
# 2026.9.6 finished its shutdown within 0.75 s here; the whole tree must be gone within 3 s.
GUARD_GRACE = 1.0
# "python -m gwrtt.watchdog" would import this module twice (the package imports it too).
GUARD_ENTRY = "import sys; from gwrtt.watchdog import main; sys.exit(main(sys.argv[1:]))"


class Watchdog:
    """The parent's handle on the guard process.

    ``start()`` launches it, ``watch(pid)`` sends it the pid of a gateway leader, and
    ``disarm()`` reports that cleanup is done, then reaps it. If the parent dies before ``disarm()``, the
    guard cleans up alone.
    """

    def __init__(self, *, marker_variable, marker, temp_root, output_dir, started_at, events_temporary):
        self.marker_variable = marker_variable
        self.marker = marker
        self.temp_root = temp_root
        self.output_dir = output_dir
        self.started_at = started_at
        self.events_temporary = events_temporary
        self._process = None
        self._pipe = None

    def start(self):
        read_end, write_end = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(_import_roots() + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    GUARD_ENTRY,
                    "--marker-variable",
                    self.marker_variable,
                    "--marker",
                    self.marker,
                    "--temp-root",
                    str(self.temp_root),
                    "--output-dir",
                    str(self.output_dir),
                    "--started-at",
                    self.started_at,
                    "--events-temporary",
                    str(self.events_temporary),
                ],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(read_end)
        # The write end is not inheritable, so no other child keeps the pipe open after we die.
        self._pipe = os.fdopen(write_end, "w", buffering=1)

    def watch(self, pid):
        self._send(f"pid {pid}")

    def disarm(self):
        """Tell the guard that cleanup is done and wait for it to exit; safe to call twice."""
        if self._process is None:
            return
        self._send("done")
        try:
            self._pipe.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        self._pipe = None

    def _send(self, line):
        try:
            self._pipe.write(line + "\n")
        except (OSError, ValueError):
            pass


def _import_roots():
    """Folders that hold the gwrtt and psutil packages, for the guard's import path."""
    import gwrtt

    roots = []
    for module in (gwrtt, psutil):
        root = str(Path(module.__file__).resolve().parent.parent)
        if root not in roots:
            roots.append(root)
    return roots


def guard(args, stream):
    """Read ``stream`` until EOF; clean up unless ``done`` came first. Returns the exit code."""
    marker_variable, marker = args.marker_variable, args.marker
    pids = []
    for line in stream:
        command = line.strip()
        if command == "done":
            return 0
        if command.startswith("pid "):
            pids.append(int(command[4:]))

    processes = _find_tree(marker_variable, marker, pids)
    for process in processes:
        send_quietly(process, signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=GUARD_GRACE)
    alive = [process for process in alive if is_alive(process)] + [
        process for process in _find_tree(marker_variable, marker, pids) if process not in alive
    ]
    for process in alive:
        send_quietly(process, signal.SIGKILL)

    _wait_until_gone(marker_variable, marker)
    _save_what_remains(args)
    remove_tree_and_locks(Path(args.temp_root))
    return 1


def _find_tree(marker_variable, marker, pids):
    found = {}
    for pid in pids:
        try:
            leader = psutil.Process(pid)
            for process in [leader, *leader.children(recursive=True)]:
                found.setdefault(process.pid, process)
        except psutil.Error:
            continue
    for process in marked_processes(marker_variable, marker, skip=found):
        found[process.pid] = process
    return [process for process in found.values() if is_alive(process)]


def _wait_until_gone(marker_variable, marker, timeout=1.0):
    # Killed processes may still hold files open for a moment.
    deadline = time.monotonic() + timeout
    while _find_tree(marker_variable, marker, []) and time.monotonic() < deadline:
        time.sleep(0.05)


def _save_what_remains(args):
    """Copy the gateway logs, finish the events file and write a failed summary unless gwrtt did."""
    try:
        artifacts.copy_gateway_logs(args.temp_root, args.output_dir)
        artifacts.recover_events(args.events_temporary, args.output_dir)
        summary_path = Path(args.output_dir) / artifacts.SUMMARY_FILE
        if summary_path.exists():
            return
        started_at = datetime.fromisoformat(args.started_at.replace("Z", "+00:00"))
        details = "gwrtt exited while the gateway was running (for example killed with SIGKILL); its guard process stopped the gateway"
        summary = artifacts.build_summary(status="fail", details=details, started_at=started_at, finished_at=artifacts.utc_now())
        artifacts.write_atomic(str(summary_path), artifacts.to_json(summary))
    except (OSError, ValueError):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gwrtt-guard")
    parser.add_argument("--marker-variable", required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--temp-root", required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--started-at", required=True)
    parser.add_argument("--events-temporary", required=True)
    args = parser.parse_args(argv)
    # The guard must outlive the terminal signals that stop gwrtt itself.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    return guard(args, sys.stdin)


if __name__ == "__main__":
    sys.exit(main())
