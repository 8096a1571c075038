"""The ``fake`` fixture: runs gwrtt against tests/fake_gateway.py and inspects what happened.

Import the fixture into a test module with ``from fake_fixtures import fake``.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest

from gwrtt import RunOptions, Runner

TESTS_DIR = Path(__file__).resolve().parent
FAKE_GATEWAY = TESTS_DIR / "fake_gateway.py"
GWRTT = TESTS_DIR.parent / "bin" / "gwrtt"
# Every fake process exits on its own after this many seconds, even if gwrtt and the fixture
# both fail to stop it.
FAKE_LIFETIME = 60
CLI_TIMEOUT = 60


class FakeGateway:
    """One test's fake gateway setup: its files, the environment that selects its faults, and runs.

    The output folder is ``tmp_path/out``, so gwrtt creates its temporary root ``.rpc-rtt-*``
    directly in ``tmp_path``.
    """

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.output_dir = tmp_path / "out"
        self.pidfile = tmp_path / "fake-pids.jsonl"
        self.event_log = tmp_path / "fake-events.jsonl"

    def environ(self, mode="", **settings):
        """Return gwrtt's environment with ``FAKE_GATEWAY_MODE=mode`` and ``FAKE_GATEWAY_<KEY>`` settings.

        Inherited ``OPENCLAW_*`` and ``FAKE_GATEWAY_*`` variables are dropped, so neither a
        developer's OpenClaw nor an outer fake changes the run.
        """
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENCLAW_", "FAKE_GATEWAY_"))}
        env.update(
            {
                "FAKE_GATEWAY_MODE": mode,
                "FAKE_GATEWAY_PIDFILE": str(self.pidfile),
                "FAKE_GATEWAY_LOG": str(self.event_log),
                "FAKE_GATEWAY_LIFETIME": str(FAKE_LIFETIME),
            }
        )
        for key, value in settings.items():
            env[f"FAKE_GATEWAY_{key.upper()}"] = str(value)
        return env

    def run(self, mode="", *, methods=("health",), iterations=3, ready_timeout=10.0, request_timeout=5.0,
            extra_environ=None, **settings):
        """Run gwrtt through the Python API; return ``(result, wall-clock seconds of run())``."""
        options = RunOptions(
            output_dir=self.output_dir,
            gateway_command=(sys.executable, str(FAKE_GATEWAY)),
            protocol="4:4",
            methods=tuple(methods),
            iterations=iterations,
            ready_timeout=ready_timeout,
            request_timeout=request_timeout,
        )
        environ = self.environ(mode, **settings)
        environ.update(extra_environ or {})
        runner = Runner(options, reraise_signals=False, environ=environ, cwd=str(self.tmp_path))
        started = time.monotonic()
        result = runner.run()
        return result, time.monotonic() - started

    def run_cli(self, mode="", *, methods=("health",), iterations=3, ready_timeout=10.0, request_timeout=5.0,
                **settings):
        """Run ``bin/gwrtt`` in a subprocess; return the ``CompletedProcess`` with text output."""
        command = [
            str(GWRTT),
            "--output-dir", str(self.output_dir),
            "--protocol", "4:4",
            "--methods", ",".join(methods),
            "--iterations", str(iterations),
            "--ready-timeout", str(ready_timeout),
            "--request-timeout", str(request_timeout),
            # One string that gwrtt splits as a shell splits words.
            "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)]),
        ]
        return subprocess.run(
            command,
            cwd=self.tmp_path,
            env=self.environ(mode, **settings),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )

    # --- what the fake recorded -------------------------------------------------------------

    def processes(self, role=None):
        """Return the fake's process records (``role``, ``pid``, ``sid``, ``pgid``), optionally of one role."""
        records = _read_json_lines(self.pidfile)
        return [record for record in records if role is None or record["role"] == role]

    def events(self, name=None):
        """Return the fake's event log records, optionally only those named ``name``."""
        records = _read_json_lines(self.event_log)
        return [record for record in records if name is None or record["event"] == name]

    def summary(self):
        with open(self.output_dir / "qa-suite-summary.json", encoding="utf-8") as handle:
            return json.load(handle)

    def rpc_events(self):
        with open(self.output_dir / "rpc-events.json", encoding="utf-8") as handle:
            return json.load(handle)

    def temp_roots(self):
        return sorted(self.output_dir.parent.glob(".rpc-rtt-*"))

    # --- processes --------------------------------------------------------------------------

    def is_live(self, pid):
        """Tell whether ``pid`` is a live, non-zombie process of this test's fake.

        A pid whose process lacks this test's ``FAKE_GATEWAY_PIDFILE`` in its environment was
        reused by another process, so the fake's process is gone.
        """
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            return process.environ().get("FAKE_GATEWAY_PIDFILE") == str(self.pidfile)
        except psutil.NoSuchProcess:
            return False

    def wait_processes_gone(self, timeout=3.0):
        """Wait up to ``timeout`` seconds for every recorded process to end; return the live records."""
        deadline = time.monotonic() + timeout
        while True:
            alive = [record for record in self.processes() if self.is_live(record["pid"])]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.05)

    def kill_leftovers(self):
        """SIGKILL every recorded process of this test's fake that is still alive; return their records."""
        leftovers = [record for record in self.processes() if self.is_live(record["pid"])]
        for record in leftovers:
            try:
                os.kill(record["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers


def _read_json_lines(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


@pytest.fixture
def fake(tmp_path):
    """A :class:`FakeGateway` in ``tmp_path`` that kills, after the test, what gwrtt left alive.

    The tests themselves assert that nothing was left (``check_cleaned_up``), so a leftover here
    only adds a warning instead of a second failure.
    """
    gateway = FakeGateway(tmp_path)
    yield gateway
    leftovers = gateway.kill_leftovers()
    if leftovers:
        warnings.warn(f"killed fake gateway processes that were still alive after the test: {leftovers}", stacklevel=1)
