"""``Runner``: one measurement run from start to cleanup, and the result it returns."""

import atexit
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from . import artifacts
from .errors import CleanupError, GwrttError, Interrupted, PortInUseError, UsageError
from .gateway import GatewayProcess, allocate_port
from .measure import measure_sequential
from .openclaw import plan_launch
from .rpc import connect, connect_params
from .sandbox import MARKER_VARIABLE, Sandbox, default_compile_cache
from .stats import reference_stats, round_half_up
from .watchdog import Watchdog

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A port taken between allocation and bind costs a new port; this many retries, then failure.
PORT_RETRIES = 3


@dataclass
class RunResult:
    """What one run produced.

    ``status`` is ``"pass"`` or ``"fail"``; ``details`` is the summary's details text.
    ``stats`` and ``by_method`` hold the reference statistics (``None`` when no measurement
    finished). ``artifacts`` maps ``"summary"``, ``"events"`` and the log names to paths that
    exist. ``signal`` is the number of the signal that interrupted the run, if one did.
    ``phase`` is where the run ended: ``"done"`` after a full measurement.
    """

    status: str
    details: str
    phase: str
    stats: dict | None = None
    by_method: dict | None = None
    samples: list = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)
    error: BaseException | None = None
    signal: int | None = None
    timings: dict = field(default_factory=dict)

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def exit_code(self):
        """The command line's exit code: 0 pass, 1 fail, 128 + n after signal n."""
        if self.signal is not None:
            return 128 + self.signal
        return 0 if self.passed else 1


class Runner:
    """Start an isolated gateway, measure it, write the artifacts and clean everything up.

    ``run()`` raises :class:`UsageError` for invalid options before it creates anything.
    After that it does not raise: every failure becomes a result with ``status == "fail"``,
    and the summary is written. It never prints and never calls ``sys.exit``.

    In the main thread it handles SIGINT, SIGTERM and SIGHUP while the gateway runs: the run
    stops, cleans up, restores the previous handlers and, when ``reraise_signals`` is true,
    raises the same signal again so that it takes its usual course (``KeyboardInterrupt`` for
    SIGINT under Python's default handler). In other threads it installs no handlers.
    """

    def __init__(self, options, *, reraise_signals=True, environ=None, cwd=None):
        self.options = options
        self.reraise_signals = reraise_signals
        self.environ = dict(os.environ if environ is None else environ)
        self.cwd = cwd or os.getcwd()
        self.phase = "created"
        self._signum = None
        self._tearing_down = False
        self._previous_handlers = {}
        self._gateway = None
        self._sandbox = None
        self._watchdog = None
        self._client = None

    def run(self):
        """Run all phases and return a :class:`RunResult`."""
        options = self.options.validated()
        self._signum = None
        self._tearing_down = False
        plan = plan_launch(
            repo_root=options.repo_root,
            node=options.node,
            protocol=options.protocol,
            gateway_command=options.gateway_command,
            environ=self.environ,
            cwd=self.cwd,
        )
        prepare_output_dir(options.output_dir)

        started_at = artifacts.utc_now()
        blocked = self._block_signals()
        try:
            self._sandbox = Sandbox(options.output_dir)
            self._watchdog = Watchdog(
                marker_variable=MARKER_VARIABLE,
                marker=self._sandbox.marker,
                temp_root=self._sandbox.root,
                output_dir=options.output_dir,
                started_at=artifacts.iso_timestamp(started_at),
            )
            self._watchdog.start()
            self._install_handlers()
        finally:
            self._unblock_signals(blocked)

        result = RunResult(status="fail", details="", phase="starting")
        events = []
        try:
            self._measure(options, plan, result, events)
        except Interrupted as exc:
            result.signal = exc.signum
            result.error = exc
            result.details = f"interrupted by {exc.signal_name} while {describe_phase(result.phase)}"
        except GwrttError as exc:
            result.error = exc
            result.details = describe_error(exc)
        except Exception as exc:  # an unexpected bug must still end in cleanup and a summary
            log.exception("unexpected error")
            result.error = exc
            result.details = f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            self._tearing_down = True
            self._clean_up(options, result)
            self._remove_handlers()

        if result.signal is None and self._signum is not None:
            result.signal = self._signum
            result.status = "fail"
            result.details = _join(result.details, f"interrupted by {signal.Signals(self._signum).name} during cleanup")
        self._write_summary(options, result, events, started_at)

        if result.signal is not None and self.reraise_signals:
            signal.raise_signal(result.signal)
        return result

    # --- phases -------------------------------------------------------------------------------

    def _measure(self, options, plan, result, events):
        started = time.monotonic()
        ready_deadline = started + options.ready_timeout

        # Start the gateway and wait for /readyz; a port taken before the gateway binds it
        # costs a new port.
        for attempt in range(PORT_RETRIES + 1):
            port = allocate_port()
            self._start_gateway(options, plan, port)
            result.phase = self.phase = "waiting-ready"
            try:
                ready_after = self._gateway.wait_ready(port, max(0.0, ready_deadline - time.monotonic()))
                break
            except PortInUseError:
                if attempt == PORT_RETRIES:
                    raise
                log.warning("port %d was taken before the gateway bound it; retrying with a new port", port)
                self._gateway.stop()
                result.phase = self.phase = "starting"
        result.timings["ready_s"] = time.monotonic() - started
        log.info("gateway ready after %.2f s (pid %d, port %d)", ready_after, self._gateway.pid, port)
        self._gateway.snapshot()

        # Connect and complete the handshake, retrying while the gateway says it is starting.
        result.phase = self.phase = "connecting"
        params = connect_params(plan.protocol, self._sandbox.token, sys.platform)
        connect_budget = max(options.request_timeout, ready_deadline - time.monotonic())
        self._client, hello = connect("127.0.0.1", port, params, timeout=connect_budget, request_timeout=options.request_timeout)
        events.append(artifacts.connect_event(round_half_up(hello.duration_ns / 1e6), round(hello.duration_ns / 1000, 3)))
        log.info("connected in %.1f ms", hello.duration_ns / 1e6)

        # Measure each method in turn.
        result.phase = self.phase = "measuring"
        measuring_started = time.monotonic()
        samples = measure_sequential(
            self._client,
            options.methods,
            options.iterations,
            request_timeout=options.request_timeout,
            on_sample=lambda sample: events.append(artifacts.sample_event(sample)),
        )
        result.timings["measure_s"] = time.monotonic() - measuring_started
        result.samples = samples

        # Summarise.
        result.stats = reference_stats([sample.duration_ms for sample in samples])
        result.by_method = {
            method: reference_stats([sample.duration_ms for sample in samples if sample.method == method])
            for method in options.methods
        }
        result.details = artifacts.compact_json(
            {"iterations": options.iterations, "methods": list(options.methods), "stats": result.stats, "byMethod": result.by_method}
        )
        result.status = "pass"
        result.phase = self.phase = "done"

    def _start_gateway(self, options, plan, port):
        self.phase = "starting"
        self._sandbox.write_config(port)
        command = [*plan.command, "gateway", "run", "--port", str(port), "--bind", "loopback", "--allow-unconfigured"]
        env = self._sandbox.environment(self.environ, default_compile_cache(self.environ))
        self._gateway = GatewayProcess(
            command,
            cwd=plan.cwd,
            env=env,
            stdout_path=self._sandbox.stdout_path,
            stderr_path=self._sandbox.stderr_path,
            marker_variable=MARKER_VARIABLE,
            marker=self._sandbox.marker,
        )
        self._watchdog.watch(self._gateway.start())

    # --- cleanup ------------------------------------------------------------------------------

    def _clean_up(self, options, result):
        """Close the client, stop the gateway tree, keep its logs and remove the temporary root."""
        self.phase = "stopping"
        if self._client is not None:
            self._client.close()
            self._client = None

        if self._gateway is not None:
            try:
                killed = self._gateway.stop()
                if killed:
                    log.warning("SIGKILL was needed for gateway pids %s", killed)
            except CleanupError as exc:
                result.status = "fail"
                result.details = _join(result.details, str(exc))

        try:
            result.artifacts.update(_name_logs(artifacts.copy_gateway_logs(self._sandbox.root, options.output_dir)))
        except OSError as exc:
            result.details = _join(result.details, f"warning: failed to copy gateway logs: {exc}")

        try:
            self._sandbox.remove()
        except CleanupError as exc:
            result.status = "fail"
            result.details = _join(result.details, str(exc))
        self._gateway = None
        self._sandbox = None
        self._watchdog.disarm()
        self._watchdog = None

    def _write_summary(self, options, result, events, started_at):
        measurement = None
        if result.status == "pass" and result.stats:
            measurement = {
                "finalMatchedReplyRttMs": result.stats["p50Ms"],
                "durationMs": result.stats["p50Ms"],
                "method": ",".join(options.methods),
                "source": "gateway-rpc",
            }
        summary = artifacts.build_summary(
            status=result.status,
            details=result.details,
            started_at=started_at,
            finished_at=artifacts.utc_now(),
            measurement=measurement,
        )
        try:
            result.artifacts.update(artifacts.write_results(options.output_dir, events, summary))
        except OSError as exc:
            result.status = "fail"
            result.details = _join(result.details, f"failed to write the summary: {exc}")
        result.phase = result.phase if result.status == "fail" else "done"

    # --- signals and atexit -------------------------------------------------------------------

    def _in_main_thread(self):
        return threading.current_thread() is threading.main_thread()

    def _block_signals(self):
        if not self._in_main_thread():
            return None
        return signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)

    def _unblock_signals(self, previous_mask):
        if previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)

    def _install_handlers(self):
        atexit.register(self._at_exit)
        if not self._in_main_thread():
            log.debug("not in the main thread: no signal handlers installed; the caller must stop the run")
            return
        for signum in HANDLED_SIGNALS:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _remove_handlers(self):
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()
        atexit.unregister(self._at_exit)

    def _on_signal(self, signum, frame):
        if self._signum is None:
            self._signum = signum
        if self._tearing_down:
            log.info("%s received during cleanup; finishing cleanup first", signal.Signals(signum).name)
            return
        self._tearing_down = True
        raise Interrupted(signum)

    def _at_exit(self):
        # Reached only when the interpreter exits while a run is still going, for example after
        # sys.exit() in another thread.
        if self._gateway is not None:
            try:
                self._gateway.stop()
            except GwrttError:
                pass
        if self._sandbox is not None:
            try:
                self._sandbox.remove()
            except GwrttError:
                pass
        if self._watchdog is not None:
            self._watchdog.disarm()


def prepare_output_dir(path):
    """Create the output folder if needed and check that it and its parent are writable.

    Raises :class:`UsageError` and removes any folder it created when a check fails.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output-dir: not a folder: {path}")
    created = []
    probe = path
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        for folder in (path, path.parent):
            with open(os.path.join(folder, f".gwrtt-write-test-{os.getpid()}"), "w"):
                pass
            os.unlink(os.path.join(folder, f".gwrtt-write-test-{os.getpid()}"))
    except OSError as exc:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise UsageError(f"--output-dir: {path} is not writable: {exc.strerror or exc}") from exc


def describe_phase(phase):
    return {
        "starting": "starting the gateway",
        "waiting-ready": "waiting for the gateway to be ready",
        "connecting": "connecting",
        "measuring": "measuring",
        "stopping": "stopping the gateway",
    }.get(phase, phase)


def describe_error(exc):
    """Return the summary's details text for an error: the message, then the stderr tail if any."""
    text = str(exc)
    tail = getattr(exc, "stderr_tail", "")
    if tail:
        text = f"{text}\ngateway stderr (last {len(tail)} characters):\n{tail.rstrip()}"
    return text


def _join(first, second):
    return f"{first}\n{second}" if first else second


def _name_logs(paths):
    return {os.path.basename(path): path for path in paths}
