"""Start one real OpenClaw gateway for a benchmark with gwrtt's own parts, and stop it again.

The gateway runs as gwrtt runs it: a sandbox (temporary HOME, state, config with token auth on
loopback), ``gateway run --port P --bind loopback --allow-unconfigured`` and a wait for
``/readyz`` 200 (polled here rather than through ``GatewayProcess.wait_ready``, whose signature
is still changing). No watchdog process is started, so a benchmark killed with SIGKILL leaves the
gateway running; SIGTERM and Ctrl-C go through the ``finally`` blocks that stop it.
"""

import contextlib
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

import common  # noqa: F401  (puts the project root on sys.path)
from common import PROJECT_ROOT

from gwrtt.gateway import GatewayProcess, allocate_port
from gwrtt.openclaw import plan_launch
from gwrtt.sandbox import MARKER_VARIABLE, Sandbox, default_compile_cache

READY_TIMEOUT = 120.0
PORT_ATTEMPTS = 4


@dataclass
class RunningGateway:
    """A started gateway: its port, token, protocol range, leader pid and a scratch folder."""

    port: int
    token: str
    protocol: object
    pid: int
    ready_after_s: float
    scratch_dir: Path


def exit_on_sigterm():
    """Turn SIGTERM into SystemExit, so that ``finally`` blocks stop the gateway."""
    signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def running_gateway():
    """Start the installed gateway and yield a :class:`RunningGateway`; stop it on exit.

    The scratch folder, the sandbox inside it and the gateway's whole process tree are removed
    on exit, whatever happened.
    """
    scratch_dir = Path(tempfile.mkdtemp(prefix="gwrtt-benchmark-"))
    sandbox = gateway = None
    try:
        plan = plan_launch(
            repo_root=None, node=None, protocol=None, gateway_command=None, environ=os.environ, cwd=str(PROJECT_ROOT)
        )
        sandbox = Sandbox(scratch_dir / "out")
        env = sandbox.environment(os.environ, default_compile_cache(os.environ))
        for attempt in range(PORT_ATTEMPTS):
            port = allocate_port()
            sandbox.write_config(port)
            command = [*plan.command, "gateway", "run", "--port", str(port), "--bind", "loopback", "--allow-unconfigured"]
            gateway = GatewayProcess(
                command,
                cwd=plan.cwd,
                env=env,
                stdout_path=sandbox.stdout_path,
                stderr_path=sandbox.stderr_path,
                marker_variable=MARKER_VARIABLE,
                marker=sandbox.marker,
            )
            gateway.start()
            try:
                ready_after_s = wait_until_ready(gateway, port, READY_TIMEOUT)
                break
            except PortTakenError:
                gateway.stop()
                gateway = None
                if attempt == PORT_ATTEMPTS - 1:
                    raise
        gateway.snapshot()
        yield RunningGateway(port, sandbox.token, plan.protocol, gateway.pid, ready_after_s, scratch_dir)
    finally:
        if gateway is not None:
            gateway.stop()
        if sandbox is not None:
            sandbox.remove()
        shutil.rmtree(scratch_dir, ignore_errors=True)


class PortTakenError(RuntimeError):
    """The gateway exited because another process took its port first."""


def wait_until_ready(gateway, port, timeout):
    """Poll ``/readyz`` every 25 ms until it returns 200; return the seconds waited.

    Raises :class:`PortTakenError` or ``RuntimeError`` (with the stderr tail) when the gateway
    exits first, and ``TimeoutError`` after ``timeout`` seconds.
    """
    started = time.monotonic()
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, ignoring proxy variables
        while time.monotonic() - started < timeout:
            if gateway.exit_code() is not None:
                tail = gateway.stderr_tail()
                error = PortTakenError if "EADDRINUSE" in tail else RuntimeError
                raise error(f"the gateway exited with {gateway.exit_code()} before it was ready:\n{tail}")
            try:
                if session.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.025)
    raise TimeoutError(f"the gateway was not ready within {timeout:g} s")


def write_private_file(path, text):
    """Write ``text`` to a new file that only the owner can read (tokens go into such files)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
