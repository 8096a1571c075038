"""``Runner``: one measurement run from start to cleanup, and the result it returns."""

import atexit
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from . import artifacts, attach, report
from .errors import CleanupError, GwrttError, Interrupted, PortInUseError, UsageError
from .exact import exact_stats, histogram, throughput
from .gates import evaluate_gate
from .gateway import GatewayProcess, allocate_port
from .measure import measure
from .openclaw import plan_launch, resolve_protocol
from .rpc import connect, connect_params
from .sandbox import MARKER_VARIABLE, Sandbox, default_compile_cache
from .stats import reference_stats, round_half_up
from .watchdog import Watchdog

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A port taken between allocation and bind costs a new port; this many retries, then failure.
PORT_RETRIES = 3
WORKER_JOIN_TIMEOUT = 2.0
PHASE_TEXT = {
    "starting": "starting the gateway",
    "waiting-ready": "waiting for the gateway to be ready",
    "connecting": "connecting",
    "measuring": "measuring",
    "stopping": "stopping the gateway",
}


@dataclass
class RunResult:
    """The outcome of one run.

    ``status`` is ``"pass"`` or ``"fail"``; ``details`` is the summary's details text.
    ``stats`` and ``by_method`` hold the reference statistics in whole milliseconds, and
    ``exact`` and ``exact_by_method`` the exact ones in microseconds (all ``None`` when no
    measurement finished). ``durations_ns`` maps each method to its measured round trips.
    ``artifacts`` maps ``"summary"``, ``"events"``, ``"report"``, ``"junit"`` and the log names
    to paths that exist. ``signal`` is the number of the signal that interrupted the run.
    ``phase`` is where the run ended: ``"done"`` after a full measurement. ``timings`` contains
    ``ready_s``, ``measure_s`` and ``cleanup_s`` (durations in seconds) and ``ready_at`` and
    ``connect_started_at`` (``time.monotonic()`` values), for the phases that were reached.
    """

    status: str
    details: str
    phase: str
    stats: dict | None = None
    by_method: dict | None = None
    exact: dict | None = None
    exact_by_method: dict | None = None
    throughput_rps: float | None = None
    durations_ns: dict = field(default_factory=dict)
    elapsed_ns_by_method: dict = field(default_factory=dict)
    gate_results: list = field(default_factory=list)
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

    def histogram(self, bins=10):
        """Return a histogram of all measured round trips (see :func:`gwrtt.exact.histogram`)."""
        values = [value for durations in self.durations_ns.values() for value in durations]
        return histogram(values, bins) if values else []


class Runner:
    """Start an isolated gateway (or attach to a running one), measure it, write the artifacts
    and clean everything up.

    ``run()`` raises :class:`~gwrtt.errors.UsageError` for invalid options before it creates
    anything. After that it does not raise: every failure becomes a result with
    ``status == "fail"``, and the summary is written. It never prints and never calls
    ``sys.exit``. While it runs, ``phase`` names the current phase and ``requests_done`` counts
    the responses received, for progress displays in other threads, and ``port`` is the
    gateway's port once one was chosen.

    In the main thread it handles SIGINT, SIGTERM and SIGHUP while the run is in progress. On
    one of them the run stops, cleans up, writes the summary and restores the previous handlers.
    When ``reraise_signals`` is true, it then raises the same signal again, so that the signal
    takes its usual course (``KeyboardInterrupt`` for SIGINT under Python's default handler). In other threads it
    installs no handlers; the caller then owns interruption.
    """

    def __init__(self, options, *, reraise_signals=True, environ=None, cwd=None):
        self.options = options
        self.reraise_signals = reraise_signals
        self.environ = dict(os.environ if environ is None else environ)
        self.cwd = cwd or os.getcwd()
        self.phase = "created"
        self.port = None
        self.requests_done = 0
        self.requests_total = 0
        self._signum = None
        self._tearing_down = False
        self._previous_handlers = {}
        self._gateway = None
        self._sandbox = None
        self._watchdog = None
        self._clients = []
        self._workers = []

    def run(self):
        """Run all phases and return a :class:`RunResult`."""
        options = self.options.validated()
        target = self._plan(options)
        if options.junit_path is not None:
            check_output_file("--junit", options.junit_path)
        prepare_output_dir(options.output_dir)
        remove_stale_artifacts(options)
        self._reset(options)

        started_at = artifacts.utc_now()
        previous_mask = self._block_signals()
        try:
            events = artifacts.EventLog(str(options.output_dir))
            if not options.attach:
                self._create_sandbox(options, started_at, events.temporary)
            self._install_handlers()
        finally:
            self._unblock_signals(previous_mask)

        result = RunResult(status="fail", details="", phase="starting")
        try:
            self._run_phases(options, target, result, events)
        except Interrupted as exc:
            result.signal = exc.signum
            result.error = exc
            result.details = f"interrupted by {exc.signal_name} while {PHASE_TEXT.get(result.phase, result.phase)}"
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
            self._write_artifacts(options, result, events, started_at)
            self._remove_handlers()

        if result.signal is None and self._signum is not None:
            result.signal = self._signum
        if result.signal is not None and self.reraise_signals:
            signal.raise_signal(result.signal)
        return result

    def _plan(self, options):
        if options.attach:
            host, port = attach.parse_url(options.url)
            token = attach.read_token(options.token_file, options.token_env, self.environ)
            protocol = resolve_protocol(repo_root=options.repo_root, protocol=options.protocol, environ=self.environ, cwd=self.cwd)
            return _AttachTarget(host, port, token, protocol)
        return plan_launch(
            repo_root=options.repo_root,
            node=options.node,
            protocol=options.protocol,
            gateway_command=options.gateway_command,
            environ=self.environ,
            cwd=self.cwd,
        )

    def _reset(self, options):
        self._signum = None
        self._tearing_down = False
        self._clients = []
        self._workers = []
        self.requests_done = 0
        self.requests_total = len(options.methods) * (options.warmup + options.iterations)

    def _create_sandbox(self, options, started_at, events_temporary):
        self._sandbox = Sandbox(options.output_dir)
        self._watchdog = Watchdog(
            marker_variable=MARKER_VARIABLE,
            marker=self._sandbox.marker,
            temp_root=self._sandbox.root,
            output_dir=options.output_dir,
            started_at=artifacts.iso_timestamp(started_at),
            events_temporary=events_temporary,
        )
        self._watchdog.start()

    # --- phases -------------------------------------------------------------------------------

    def _run_phases(self, options, target, result, events):
        started = time.monotonic()
        ready_deadline = started + options.ready_timeout

        # Start the gateway and wait until /readyz returns 200 (not in attach mode).
        if options.attach:
            host, port, token = target.host, target.port, target.token
            self.port = port
        else:
            host, token = "127.0.0.1", self._sandbox.token
            port = self._start_until_ready(options, target, result, ready_deadline)
            result.timings["ready_at"] = time.monotonic()
            result.timings["ready_s"] = result.timings["ready_at"] - started

        # Open the connections. The gateway may still reject connect as "starting" for a moment.
        self._set_phase(result, "connecting")
        result.timings["connect_started_at"] = time.monotonic()
        params = connect_params(target.protocol, token, sys.platform)
        connect_budget = max(options.request_timeout, ready_deadline - time.monotonic())
        for index in range(options.connections):
            client, hello = connect(host, port, params, timeout=connect_budget, request_timeout=options.request_timeout)
            self._clients.append(client)
            if index == 0:
                events.append(artifacts.connect_event(hello.duration_ns))
                first_connect_ns = hello.duration_ns

        # Measure each method in turn. The tree snapshot comes first: connecting before it keeps
        # its scan of every process's environment (15 to 35 ms on 2 cores) out of the delay
        # between readiness and connect.
        self._set_phase(result, "measuring")
        log.info("connected in %.1f ms", first_connect_ns / 1e6)
        if self._gateway is not None:
            self._gateway.snapshot()
        measuring_started = time.monotonic()
        measured = measure(
            self._clients,
            options.methods,
            options.iterations,
            warmup=options.warmup,
            concurrency=options.concurrency,
            request_timeout=options.request_timeout,
            on_sample=lambda *sample: self._record(events, *sample),
            threads=self._workers,
        )
        result.timings["measure_s"] = time.monotonic() - measuring_started
        log.info("measured %d requests in %.2f s", self.requests_done, result.timings["measure_s"])

        # Summarise and check the gates.
        self._summarise(options, measured, result)
        self._set_phase(result, "done")

    def _start_until_ready(self, options, plan, result, ready_deadline):
        """Start the gateway and wait for readiness, with a new port if the first was taken."""
        for attempt in range(PORT_RETRIES + 1):
            port = self.port = allocate_port()
            self._set_phase(result, "starting")
            self._start_gateway(plan, port)
            self._set_phase(result, "waiting-ready")
            try:
                ready_after = self._gateway.wait_ready(port, ready_deadline, options.ready_timeout)
            except PortInUseError:
                if attempt == PORT_RETRIES:
                    raise
                log.warning("port %d was taken before the gateway bound it; retrying with a new port", port)
                self._gateway.stop()
                continue
            log.info("gateway ready after %.2f s (pid %d, port %d)", ready_after, self._gateway.pid, port)
            return port

    def _start_gateway(self, plan, port):
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

    def _record(self, events, method, iteration, duration_ns, warmup):
        events.append_sample(method, iteration, duration_ns, warmup)
        self.requests_done += 1

    def _summarise(self, options, measured, result):
        result.durations_ns = {method: measurement.durations_ns for method, measurement in measured.items()}
        result.elapsed_ns_by_method = {method: measurement.elapsed_ns for method, measurement in measured.items()}
        all_ns = [value for measurement in measured.values() for value in measurement.durations_ns]
        result.stats = reference_stats([round_half_up(value / 1e6) for value in all_ns])
        result.by_method = {
            method: reference_stats([round_half_up(value / 1e6) for value in measurement.durations_ns])
            for method, measurement in measured.items()
        }
        result.exact = exact_stats(all_ns)
        result.exact_by_method = {method: exact_stats(measurement.durations_ns) for method, measurement in measured.items()}
        result.throughput_rps = throughput(len(all_ns), sum(measurement.elapsed_ns for measurement in measured.values()))
        method_rates = {method: throughput(measurement.count, measurement.elapsed_ns) for method, measurement in measured.items()}

        details = {
            "iterations": options.iterations,
            "methods": list(options.methods),
            "stats": result.stats,
            "byMethod": result.by_method,
            "warmup": options.warmup,
            "concurrency": options.concurrency,
            "connections": options.connections,
            "statsUs": result.exact,
            "byMethodUs": result.exact_by_method,
            "throughputRps": result.throughput_rps,
            "byMethodThroughputRps": method_rates,
        }
        result.gate_results = [evaluate_gate(gate, result.exact_by_method[gate.method]) for gate in options.gates]
        violations = [gate_result.message for gate_result in result.gate_results if not gate_result.passed]
        result.details = "\n".join([*violations, artifacts.compact_json(details)])
        result.status = "fail" if violations else "pass"

    # --- cleanup and artifacts ----------------------------------------------------------------

    def _clean_up(self, options, result):
        """Close the clients, stop the gateway tree, keep its logs and remove the temporary root."""
        self.phase = "stopping"
        started = time.monotonic()
        for client in self._clients:
            client.close()
        self._clients = []
        # Closing the clients fails the requests that workers still wait for, so they end now.
        for worker in self._workers:
            worker.join(WORKER_JOIN_TIMEOUT)
            if worker.is_alive():
                log.warning("worker thread %s did not stop within %.1f s", worker.name, WORKER_JOIN_TIMEOUT)
        self._workers = []

        # A failed stop or removal fails the run, as the reference does.
        if self._gateway is not None:
            _fail_on_cleanup_error(result, self._gateway.stop)
            self._gateway = None

        if self._sandbox is not None:
            try:
                copied = artifacts.copy_gateway_logs(str(self._sandbox.root), str(options.output_dir))
                result.artifacts.update({os.path.basename(path): path for path in copied})
            except OSError as exc:
                result.details = _join(result.details, f"warning: failed to copy gateway logs: {exc}")
            _fail_on_cleanup_error(result, self._sandbox.remove)
            self._sandbox = None

        if self._watchdog is not None:
            self._watchdog.disarm()
            self._watchdog = None
        result.timings["cleanup_s"] = time.monotonic() - started
        log.info("cleanup finished in %.2f s", result.timings["cleanup_s"])

    def _write_artifacts(self, options, result, events, started_at):
        """Write the events, JUnit XML if asked for, the Markdown report, and last the summary.

        The summary comes last so that its status includes a failure to write the others.
        """
        if result.signal is None and self._signum is not None:
            result.status = "fail"
            result.details = _join(result.details, f"interrupted by {signal.Signals(self._signum).name} during cleanup")
        finished_at = artifacts.utc_now()

        writers = [("events", events.finish)]
        if options.junit_path is not None:
            writers.append(("junit", lambda: self._write_junit(options, result)))
        for name, write in writers:
            try:
                result.artifacts[name] = write()
            except OSError as exc:
                result.status = "fail"
                result.details = _join(result.details, f"failed to write {name}: {exc}")

        try:
            result.artifacts["report"] = self._write_report(options, result, started_at, finished_at)
            result.artifacts["summary"] = artifacts.write_summary(
                str(options.output_dir), self._summary(options, result, started_at, finished_at)
            )
        except OSError as exc:
            result.status = "fail"
            result.details = _join(result.details, f"failed to write the summary: {exc}")

    def _summary(self, options, result, started_at, finished_at):
        measurement = None
        if result.stats is not None:
            measurement = {
                "finalMatchedReplyRttMs": result.stats["p50Ms"],
                "durationMs": result.stats["p50Ms"],
                "method": ",".join(options.methods),
                "source": "gateway-rpc",
            }
        return artifacts.build_summary(
            status=result.status,
            details=result.details,
            started_at=started_at,
            finished_at=finished_at,
            measurement=measurement,
        )

    def _write_report(self, options, result, started_at, finished_at):
        text = report.render_markdown_report(
            status=result.status,
            started_at=started_at,
            finished_at=finished_at,
            details=result.details,
            by_method_exact=result.exact_by_method,
            overall_exact=result.exact,
            throughput_rps=result.throughput_rps,
            gate_results=result.gate_results,
        )
        path = os.path.join(options.output_dir, artifacts.REPORT_FILE)
        artifacts.write_atomic(path, text)
        return path

    def _write_junit(self, options, result):
        gate_failure = any(not gate_result.passed for gate_result in result.gate_results)
        failure = None
        if result.status == "fail" and (result.exact_by_method is None or not gate_failure):
            failure = result.details or "failed"
        text = report.render_junit(
            by_method_exact=result.exact_by_method,
            seconds_by_method={method: elapsed_ns / 1e9 for method, elapsed_ns in result.elapsed_ns_by_method.items()},
            gate_results=result.gate_results,
            failure=failure,
            properties={
                "iterations": options.iterations,
                "methods": list(options.methods),
                "warmup": options.warmup,
                "concurrency": options.concurrency,
                "connections": options.connections,
            },
        )
        options.junit_path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_atomic(str(options.junit_path), text)
        return str(options.junit_path)

    def _set_phase(self, result, phase):
        result.phase = self.phase = phase

    # --- signals and atexit -------------------------------------------------------------------

    def _in_main_thread(self):
        return threading.current_thread() is threading.main_thread()

    def _block_signals(self):
        # Signals wait until the handlers are in place, so none can strike between creating the
        # temporary root and being able to clean it up.
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
        for client in self._clients:
            client.close()
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


@dataclass(frozen=True)
class _AttachTarget:
    host: str
    port: int
    token: str
    protocol: object


def prepare_output_dir(path):
    """Create the output folder if needed and check that it and its parent are writable.

    Raises :class:`~gwrtt.errors.UsageError` and removes any folder it created when a check
    fails.
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
            test_file = os.path.join(folder, f".gwrtt-write-test-{os.getpid()}")
            with open(test_file, "w"):
                pass
            os.unlink(test_file)
    except OSError as exc:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise UsageError(f"--output-dir: {path} is not writable: {exc.strerror or exc}") from exc


def check_output_file(option, path):
    """Check that ``path`` can become a file: not a folder, below folders (existing or not)."""
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder, expected a file path")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option}: {ancestor} is not a folder, so {path} cannot be created")
    if not os.access(ancestor, os.W_OK):
        raise UsageError(f"{option}: {ancestor} is not writable")


def remove_stale_artifacts(options):
    """Delete artifacts of an earlier run in the output folder, so none is mistaken for this run's."""
    names = [artifacts.EVENTS_FILE, artifacts.SUMMARY_FILE, artifacts.REPORT_FILE]
    names += [target for _, target in artifacts.GATEWAY_LOGS]
    paths = [options.output_dir / name for name in names]
    if options.junit_path is not None:
        paths.append(options.junit_path)
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(f"--output-dir: cannot remove the earlier {path}: {exc.strerror}") from exc


def describe_error(exc):
    """Return the summary's details text for an error: the message, then the stderr tail if any."""
    text = str(exc)
    tail = getattr(exc, "stderr_tail", "")
    if tail:
        text = f"{text}\ngateway stderr (last {len(tail)} characters):\n{tail.rstrip()}"
    return text


def _fail_on_cleanup_error(result, step):
    try:
        step()
    except CleanupError as exc:
        result.status = "fail"
        result.details = _join(result.details, str(exc))


def _join(first, second):
    return f"{first}\n{second}" if first else second
