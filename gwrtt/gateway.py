"""``GatewayProcess``: one gateway child process and the tree of processes it starts."""

import http.client
import logging
import os
import signal
import socket
import subprocess
import time

import psutil

from .errors import CleanupError, GatewayNotReadyError, GatewayStartError, PortInUseError

log = logging.getLogger(__name__)

# The reference gives the gateway 1.5 s between SIGTERM and SIGKILL. OpenClaw 2026.9.6 logged
# "completed cleanly" 0.1 to 0.3 s after SIGTERM on a 2-core machine, so this leaves room.
KILL_GRACE = 1.5
# How long to wait for processes to vanish after SIGKILL before calling the cleanup failed.
KILL_WAIT = 1.5
PROBE_TIMEOUT = 1.0
# A probe with less time than this left cannot tell anything new.
MIN_PROBE_TIME = 0.01
# Readiness is polled this often, so gwrtt notices /readyz turning 200 within about 25 ms.
PROBE_INTERVAL = 0.025
STDERR_TAIL_CHARS = 4000


def allocate_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Another process can take it before the gateway binds it; :class:`PortInUseError` reports that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GatewayProcess:
    """A gateway started in a session of its own, with liveness and stop for its whole tree.

    ``command`` is the full argument list. ``marker`` is the value of an environment variable
    that ``env`` sets only for this gateway. It finds descendants that left the session, for
    example a spawn broker that calls ``setsid``, or a double fork. ``stop()`` is safe to call
    more than once and from cleanup paths.
    """

    def __init__(self, command, *, cwd, env, stdout_path, stderr_path, marker_variable, marker):
        self.command = list(command)
        self.cwd = cwd
        self.env = env
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.marker_variable = marker_variable
        self.marker = marker
        self._popen = None
        self._known = {}

    @property
    def pid(self):
        return self._popen.pid if self._popen else None

    def start(self):
        """Start the gateway with stdout and stderr going to their log files."""
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            try:
                self._popen = subprocess.Popen(
                    self.command,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            except OSError as exc:
                raise GatewayStartError(f"cannot start the gateway ({self.command[0]}): {exc.strerror}") from exc
        self._remember(psutil.Process(self._popen.pid))
        log.info("gateway started: pid %d", self._popen.pid)
        return self._popen.pid

    def exit_code(self):
        """Return the leader's exit code, or ``None`` while it runs (negative: killed by a signal)."""
        return self._popen.poll() if self._popen else None

    def wait_ready(self, port, deadline, timeout):
        """Poll ``/readyz`` until it returns 200, and return the seconds waited.

        ``deadline`` is a ``time.monotonic()`` value; ``timeout`` is the configured limit that
        error messages name. ``/healthz`` answering 200 means live, not ready: a ``connect`` sent
        before ``/readyz`` answers 200 is rejected as ``UNAVAILABLE``. Probes go to 127.0.0.1
        directly, whatever proxy variables are set. Raises :class:`GatewayStartError` as soon as the
        gateway exits and :class:`GatewayNotReadyError` at the deadline.
        """
        started = time.monotonic()
        last_answer = None
        last_error = "no answer yet"
        while True:
            self._raise_if_exited()
            remaining = deadline - time.monotonic()
            if remaining < MIN_PROBE_TIME:
                # Report the last HTTP response rather than a probe that the deadline cut short.
                raise GatewayNotReadyError(
                    f"gateway not ready after {timeout:g} s: last /readyz probe: {last_answer or last_error}"
                )

            probe_timeout = min(PROBE_TIMEOUT, remaining)
            try:
                status, body = probe_readyz(port, probe_timeout)
            except TimeoutError:
                last_error = f"no answer within {probe_timeout:.3g} s"
            except ConnectionRefusedError:
                last_error = "connection refused"
            except (OSError, http.client.HTTPException) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    return time.monotonic() - started
                last_answer = f"HTTP {status} {body.strip()[:200]}"

            time.sleep(max(0.0, min(PROBE_INTERVAL, deadline - time.monotonic())))

    def _raise_if_exited(self):
        code = self.exit_code()
        if code is None:
            return
        tail = self.stderr_tail()
        error_class = PortInUseError if _mentions_port_in_use(tail) else GatewayStartError
        raise error_class(
            f"gateway exited before it was ready ({_describe_exit(code)})",
            exit_code=code,
            stderr_tail=tail,
        )

    def stderr_tail(self, limit=STDERR_TAIL_CHARS):
        """Return the last ``limit`` characters of the gateway's stderr log."""
        try:
            with open(self.stderr_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - limit * 4))
                return handle.read().decode("utf-8", errors="replace")[-limit:]
        except OSError:
            return ""

    def snapshot(self):
        """Record every live process of the gateway's tree and return them.

        The tree is the leader, its descendants by parent id, and every process whose environment
        carries this gateway's marker. Take a snapshot while the tree is intact: once a parent
        exits, its children are re-parented and ``children()`` no longer finds them.
        """
        if self._popen is None:
            return []
        for process in list(self._known.values()):
            try:
                for child in process.children(recursive=True):
                    self._remember(child)
            except psutil.Error:
                pass
        for process in marked_processes(self.marker_variable, self.marker, skip=self._known):
            self._remember(process)
        return [process for process in self._known.values() if is_alive(process)]

    def _remember(self, process):
        self._known.setdefault(process.pid, process)

    def stop(self, grace=KILL_GRACE):
        """Stop the whole tree: SIGTERM, up to ``grace`` seconds, then SIGKILL to the survivors.

        Returns the pids that needed SIGKILL. Raises :class:`CleanupError` when a process of the
        tree is still alive afterwards. Zombies count as gone: their parent or init reaps them.
        """
        if self._popen is None:
            return []
        tree = self.snapshot()
        if tree:
            # One SIGTERM each: the gateway counts repeated SIGTERMs as a sign of a competing
            # supervisor. The group signal reaches the leader and its workers; processes that
            # left the group get their own.
            log.info("stopping gateway: %d processes, SIGTERM", len(tree))
            self._signal_group(signal.SIGTERM)
            for process in self._outside_group(tree):
                send_quietly(process, signal.SIGTERM)
        survivors = self._wait_gone(tree, grace)

        # Processes started during shutdown are caught by this second snapshot.
        survivors = _unique(survivors + self.snapshot())
        killed = [process.pid for process in survivors]
        if survivors:
            log.warning("gateway processes still alive after %.1f s, SIGKILL: %s", grace, killed)
            self._signal_group(signal.SIGKILL)
            for process in survivors:
                send_quietly(process, signal.SIGKILL)
        remaining = self._wait_gone(survivors, KILL_WAIT)
        remaining = _unique(remaining + self.snapshot())

        self._reap_leader()
        if remaining:
            pids = ", ".join(str(process.pid) for process in remaining)
            raise CleanupError(f"gateway processes still alive after SIGKILL: {pids}")
        return killed

    def _outside_group(self, processes):
        outside = []
        for process in processes:
            try:
                if os.getpgid(process.pid) != self._popen.pid:
                    outside.append(process)
            except OSError:
                continue
        return outside

    def _signal_group(self, signum):
        try:
            os.killpg(self._popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_gone(self, processes, timeout):
        deadline = time.monotonic() + timeout
        alive = list(processes)
        while True:
            self._popen.poll()
            alive = [process for process in alive if is_alive(process)]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.02)

    def _reap_leader(self):
        try:
            self._popen.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            pass


def marked_processes(variable, marker, skip=()):
    """Yield the processes, other than this one and the pids in ``skip``, whose environment has
    ``variable`` set to ``marker``. Processes whose environment cannot be read are passed over."""
    own_pid = os.getpid()
    for process in psutil.process_iter():
        if process.pid == own_pid or process.pid in skip:
            continue
        try:
            if process.environ().get(variable) == marker:
                yield process
        except (psutil.Error, OSError):
            continue


def is_alive(process):
    """Tell whether a psutil process still runs; a zombie counts as gone."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def send_quietly(process, signum):
    """Send ``signum`` to a psutil process, ignoring a process that is already gone."""
    try:
        process.send_signal(signum)
    except psutil.Error:
        pass


def _unique(processes):
    seen = {}
    for process in processes:
        if is_alive(process):
            seen.setdefault(process.pid, process)
    return list(seen.values())


def _describe_exit(code):
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def probe_readyz(port, timeout):
    """Send one ``GET /readyz`` to 127.0.0.1 and return ``(status, body text)``.

    Each probe opens and closes its own connection, so no socket outlives it. ``http.client``
    reads no proxy variables.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/readyz", headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read(4096).decode("utf-8", errors="replace")
    finally:
        connection.close()


def _mentions_port_in_use(text):
    lowered = text.lower()
    return "eaddrinuse" in lowered or "address already in use" in lowered
