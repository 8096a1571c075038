"""The ``fake`` fixture: runs gwrtt against tests/fake_gateway.py and inspects what happened.

Import the fixture into a test module with ``from fake_fixtures import fake``.
"""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
STANDALONE_READY_TIMEOUT = 10.0
STANDALONE_STOP_TIMEOUT = 3.0


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
        self.standalone = None

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
            extra_environ=None, run_options=None, **settings):
        """Run gwrtt through the Python API; return ``(result, wall-clock seconds of run())``.

        ``run_options`` contains further :class:`~gwrtt.RunOptions` fields, such as ``warmup``.
        """
        options = RunOptions(
            output_dir=self.output_dir,
            gateway_command=(sys.executable, str(FAKE_GATEWAY)),
            protocol="4:4",
            methods=tuple(methods),
            iterations=iterations,
            ready_timeout=ready_timeout,
            request_timeout=request_timeout,
            **(run_options or {}),
        )
        environ = self.environ(mode, **settings)
        environ.update(extra_environ or {})
        runner = Runner(options, reraise_signals=False, environ=environ, cwd=str(self.tmp_path))
        started = time.monotonic()
        result = runner.run()
        return result, time.monotonic() - started

    def cli_command(self, *, methods=("health",), iterations=3, ready_timeout=10.0, request_timeout=5.0,
                    extra_args=()):
        """Return the ``bin/gwrtt`` command line that :meth:`run_cli` runs, ``extra_args`` last."""
        return [
            str(GWRTT),
            "--output-dir", str(self.output_dir),
            "--protocol", "4:4",
            "--methods", ",".join(methods),
            "--iterations", str(iterations),
            "--ready-timeout", str(ready_timeout),
            "--request-timeout", str(request_timeout),
            # One string that gwrtt splits as a shell splits words.
            "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)]),
            *extra_args,
        ]

    def run_cli(self, mode="", *, methods=("health",), iterations=3, ready_timeout=10.0, request_timeout=5.0,
                extra_args=(), **settings):
        """Run ``bin/gwrtt`` in a subprocess; return the ``CompletedProcess`` with text output."""
        command = self.cli_command(
            methods=methods,
            iterations=iterations,
            ready_timeout=ready_timeout,
            request_timeout=request_timeout,
            extra_args=extra_args,
        )
        return run_gwrtt(command, cwd=self.tmp_path, env=self.environ(mode, **settings))

    # --- a fake started by the test, for attach mode ------------------------------------------

    def start_standalone(self, token, mode="", **settings):
        """Start the fake on a free loopback port with ``token``, wait for ``/readyz``; return the port.

        The fake runs without worker children, so its one process is ``self.standalone``.
        :meth:`stop_standalone`, which the fixture also calls, stops it.
        """
        config_path = self.tmp_path / "standalone-config.json"
        config_path.write_text(json.dumps({"gateway": {"auth": {"token": token}}}), encoding="utf-8")
        env = self.environ(mode, workers=0, **settings)
        env["OPENCLAW_GATEWAY_TOKEN"] = token
        env["OPENCLAW_CONFIG_PATH"] = str(config_path)
        port = free_loopback_port()
        command = [sys.executable, str(FAKE_GATEWAY), "gateway", "run", "--port", str(port), "--bind", "loopback",
                   "--allow-unconfigured"]
        stdout_path = self.tmp_path / "standalone.stdout.log"
        stderr_path = self.tmp_path / "standalone.stderr.log"
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            self.standalone = subprocess.Popen(
                command, cwd=self.tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
            )
        wait_ready(port, self.standalone, STANDALONE_READY_TIMEOUT)
        return port

    def stop_standalone(self):
        """Stop the fake that :meth:`start_standalone` started, by its pid: SIGTERM, then SIGKILL."""
        process, self.standalone = self.standalone, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(STANDALONE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()

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


def run_gwrtt(command, *, cwd, env, **popen_options):
    """Run a ``bin/gwrtt`` command line; return the ``CompletedProcess`` with text output."""
    options = {"stdin": subprocess.DEVNULL, "capture_output": True, "text": True, "timeout": CLI_TIMEOUT}
    options.update(popen_options)
    return subprocess.run(command, cwd=cwd, env=env, **options)


def free_loopback_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(port, process, timeout):
    """Poll ``http://127.0.0.1:PORT/readyz`` until it returns 200; raise ``RuntimeError`` otherwise.

    Proxy variables are ignored, so the probe always goes straight to 127.0.0.1.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake gateway exited with code {process.returncode} before it was ready")
        try:
            with opener.open(f"http://127.0.0.1:{port}/readyz", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the fake gateway on port {port} was not ready after {timeout:g} s")


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
    gateway.stop_standalone()
    leftovers = gateway.kill_leftovers()
    if leftovers:
        warnings.warn(f"killed fake gateway processes that were still alive after the test: {leftovers}", stacklevel=1)
