"""The Python API inside a long-lived process: threads, repeated runs, handlers, descriptors."""

import atexit
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from gwrtt import RunOptions, Runner

FAKE_GATEWAY = Path(__file__).resolve().parent / "fake_gateway.py"

pytestmark = pytest.mark.timeout(120)


def fake_options(output_dir, **overrides):
    settings = dict(
        output_dir=output_dir,
        gateway_command=(sys.executable, str(FAKE_GATEWAY)),
        protocol="4:4",
        methods=("health", "config.get"),
        iterations=5,
        ready_timeout=20,
        request_timeout=5,
    )
    settings.update(overrides)
    return RunOptions(**settings)


def fake_environ(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENCLAW_", "FAKE_GATEWAY_"))}
    env["FAKE_GATEWAY_LIFETIME"] = "60"
    return env


def open_descriptors():
    return sorted(int(name) for name in os.listdir("/proc/self/fd"))


def gwrtt_threads():
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("gwrtt")]


def handlers():
    return {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def test_two_runs_leave_no_threads_descriptors_or_handlers(tmp_path):
    def custom_handler(signum, frame):
        pass

    previous_hup = signal.signal(signal.SIGHUP, custom_handler)
    try:
        runner_env = fake_environ(tmp_path)
        before_handlers = handlers()
        # A first run warms up lazy imports and logging, which open descriptors once.
        Runner(fake_options(tmp_path / "warm"), reraise_signals=False, environ=runner_env).run()
        before_fds = open_descriptors()
        before_threads = threading.active_count()

        results = [
            Runner(fake_options(tmp_path / f"run{index}", concurrency=2), reraise_signals=False, environ=runner_env).run()
            for index in range(2)
        ]

        assert [result.status for result in results] == ["pass", "pass"], [result.details for result in results]
        assert gwrtt_threads() == []
        assert threading.active_count() == before_threads
        assert open_descriptors() == before_fds
        assert handlers() == before_handlers
        assert signal.getsignal(signal.SIGHUP) is custom_handler
        assert list(tmp_path.glob(".rpc-rtt-*")) == []
    finally:
        signal.signal(signal.SIGHUP, previous_hup)


def test_run_from_worker_thread_installs_no_handlers(tmp_path, caplog):
    seen = {}

    def spy(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, spy)
    try:

        def work():
            runner = Runner(fake_options(tmp_path / "out"), reraise_signals=False, environ=fake_environ(tmp_path))
            seen["result"] = runner.run()

        with caplog.at_level(logging.DEBUG, logger="gwrtt"):
            worker = threading.Thread(target=work)
            worker.start()
            # While the run is in progress, the main thread's handler stays the caller's.
            while worker.is_alive():
                seen.setdefault("handlers", set()).add(signal.getsignal(signal.SIGTERM))
                worker.join(0.05)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert seen["result"].status == "pass", seen["result"].details
    assert seen["handlers"] == {spy}
    assert "not in the main thread: no signal handlers installed" in caplog.text
    assert gwrtt_threads() == []


def test_atexit_handler_unregistered_after_run(tmp_path, monkeypatch):
    registered = []
    monkeypatch.setattr(atexit, "register", lambda function: registered.append(function) or function)
    unregistered = []
    monkeypatch.setattr(atexit, "unregister", lambda function: unregistered.append(function))
    result = Runner(fake_options(tmp_path / "out"), reraise_signals=False, environ=fake_environ(tmp_path)).run()
    assert result.status == "pass", result.details
    assert len(registered) == 1
    assert unregistered == registered


def test_sigint_reraised_as_keyboard_interrupt(tmp_path):
    runner = Runner(fake_options(tmp_path / "out", iterations=1_000_000, methods=("health",)), environ=fake_environ(tmp_path))
    timer = threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run()
    finally:
        timer.cancel()
    summary = (tmp_path / "out" / "qa-suite-summary.json").read_text()
    assert '"status": "fail"' in summary
    assert "interrupted by SIGINT while" in summary
    assert list(tmp_path.glob(".rpc-rtt-*")) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
