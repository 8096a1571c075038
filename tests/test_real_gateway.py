"""End-to-end runs against the real OpenClaw gateway installed by scripts/install-gateway.

Each test starts a real gateway (about 15 to 20 s on 2 cores). In CI these tests never skip.
"""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TreeWatcher, wait_until_gone
from gwrtt.sandbox import STATE_LOCKS_DIR
from gwrtt.stats import reference_stats

ROOT = Path(__file__).resolve().parent.parent
GWRTT = str(ROOT / "bin" / "gwrtt")
# A closed port on loopback: any request that obeys these variables fails at once.
DEAD_PROXY = "http://127.0.0.1:9"

pytestmark = [pytest.mark.gateway, pytest.mark.timeout(240)]


def gwrtt_env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop("OPENCLAW_REPO_ROOT", None)
    env.update(extra)
    return env


def own_lock_files(homes):
    """Return the lock files in the shared folder named after a database of these gateways.

    Other gateways on the machine may hold locks there at the same time; only ours count.
    """
    hashes = set()
    for home in homes:
        state = os.path.join(os.path.dirname(home), "state", "state")
        for name in ("openclaw.sqlite", "openclaw.sqlite-wal", "openclaw.sqlite-shm"):
            hashes.add(hashlib.sha256(os.path.join(state, name).encode()).hexdigest()[:8])
    try:
        return sorted(entry.name for entry in STATE_LOCKS_DIR.iterdir() if entry.name.split(".")[1:2] and entry.name.split(".")[1] in hashes)
    except OSError:
        return []


def test_cli_run_passes_and_leaves_nothing(tmp_path, real_gateway):
    output = tmp_path / "out"
    env = gwrtt_env(tmp_path, HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY, ALL_PROXY=DEAD_PROXY, http_proxy=DEAD_PROXY)
    tmp_openclaw_before = os.path.exists("/tmp/openclaw")

    with TreeWatcher(tmp_path) as watcher:
        started = time.monotonic()
        completed = subprocess.run(
            [GWRTT, "--output-dir", str(output), "--iterations", "3"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=200,
        )
        wall = time.monotonic() - started
    print(f"wall time {wall:.1f} s\n{completed.stdout}")

    assert completed.returncode == 0, completed.stderr
    assert f"summary:  {output / 'qa-suite-summary.json'}\n" in completed.stdout
    assert f"report:   {output / 'qa-suite-report.md'}\n" in completed.stdout

    # The gateway tree was seen and is gone; nothing is left beside the output folder.
    assert len(watcher.pids) >= 3
    assert wait_until_gone(watcher.pids) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]
    assert sorted(path.name for path in output.iterdir()) == [
        "gateway.log",
        "gateway.stderr.log",
        "gateway.stdout.log",
        "qa-suite-report.md",
        "qa-suite-summary.json",
        "rpc-events.json",
    ]
    assert len(watcher.homes) == 1
    assert own_lock_files(watcher.homes) == []
    assert os.path.exists("/tmp/openclaw") == tmp_openclaw_before

    summary_text = (output / "qa-suite-summary.json").read_text()
    events_text = (output / "rpc-events.json").read_text()
    summary = json.loads(summary_text)
    events = json.loads(events_text)
    assert summary_text == json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    assert events_text == json.dumps(events, indent=2, ensure_ascii=False) + "\n"

    # Events: one connect, then 3 of each method in order.
    assert events[0]["event"] == "gateway-rpc.connect"
    assert list(events[0]["payload"]) == ["method", "ok", "durationMs", "durationUs"]
    measured = events[1:]
    assert [(event["payload"]["method"], event["payload"]["iteration"]) for event in measured] == [
        ("health", 1), ("health", 2), ("health", 3), ("config.get", 1), ("config.get", 2), ("config.get", 3),
    ]
    for event in measured:
        payload = event["payload"]
        assert event["event"] == "gateway-rpc"
        assert list(payload) == ["kind", "method", "ok", "durationMs", "iteration", "durationUs"]
        assert payload["ok"] is True
        assert type(payload["durationMs"]) is int
        assert abs(payload["durationUs"] / 1000 - payload["durationMs"]) <= 0.5

    # The summary: reference keys and values recomputed from the events.
    assert list(summary) == ["counts", "run", "scenarios"]
    assert summary["counts"] == {"total": 1, "passed": 1, "failed": 0}
    assert summary["run"]["providerMode"] == "gateway-rpc"
    assert summary["run"]["scenarioIds"] == ["rpc-gateway-smoke"]
    scenario = summary["scenarios"][0]
    assert list(scenario) == ["id", "title", "status", "details", "rttMeasurement"]
    assert scenario["status"] == "pass"
    details = json.loads(scenario["details"])
    # The reference's keys first and in its order, then the added ones.
    assert list(details) == [
        "iterations", "methods", "stats", "byMethod",
        "warmup", "concurrency", "connections", "statsUs", "byMethodUs", "throughputRps", "byMethodThroughputRps",
    ]
    assert details["iterations"] == 3
    assert details["methods"] == ["health", "config.get"]
    all_ms = [event["payload"]["durationMs"] for event in measured]
    assert details["stats"] == reference_stats(all_ms)
    for method in ("health", "config.get"):
        method_ms = [event["payload"]["durationMs"] for event in measured if event["payload"]["method"] == method]
        assert details["byMethod"][method] == reference_stats(method_ms)
    all_us = sorted(event["payload"]["durationUs"] for event in measured)
    assert details["statsUs"]["count"] == 6
    assert details["statsUs"]["minUs"] == all_us[0]
    assert details["statsUs"]["maxUs"] == all_us[-1]
    assert details["statsUs"]["p50Us"] == all_us[2]
    assert details["throughputRps"] > 0
    assert scenario["rttMeasurement"] == {
        "finalMatchedReplyRttMs": details["stats"]["p50Ms"],
        "durationMs": details["stats"]["p50Ms"],
        "method": "health,config.get",
        "source": "gateway-rpc",
    }

    # The token never reaches an artifact or gwrtt's output; the gateway's own log was captured.
    assert len(watcher.tokens) == 1
    token = watcher.tokens.pop()
    for path in output.iterdir():
        assert token not in path.read_text(errors="replace"), path
    assert token not in completed.stdout + completed.stderr
    assert (output / "gateway.log").stat().st_size > 0
    assert "\x1b[" not in (output / "gateway.stdout.log").read_text(errors="replace")


class VerboseRun:
    """bin/gwrtt -v in the background, with stderr in a file that the test can watch."""

    def __init__(self, tmp_path, iterations):
        self.tmp_path = tmp_path
        self.output = tmp_path / "out"
        self.stderr_path = tmp_path / "stderr.txt"
        self.iterations = iterations

    def __enter__(self):
        self._stderr_file = open(self.stderr_path, "w")
        self.process = subprocess.Popen(
            [GWRTT, "-v", "--output-dir", str(self.output), "--iterations", str(self.iterations), "--methods", "health"],
            cwd=self.tmp_path,
            env=gwrtt_env(self.tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr_file,
        )
        return self

    def __exit__(self, *exc_info):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr_file.close()

    def wait_for(self, text, timeout=150):
        """Wait until gwrtt's stderr contains ``text``; fail the test if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and text not in self.stderr():
            time.sleep(0.01)
        assert text in self.stderr(), self.stderr()

    def stderr(self):
        return self.stderr_path.read_text()

    def summary(self):
        return json.loads((self.output / "qa-suite-summary.json").read_text())


REAL_SIGNAL_CASES = [
    # (signal, stderr text that shows the phase was reached, iterations, details text)
    (signal.SIGINT, "gateway started", 3, "interrupted by SIGINT while waiting for the gateway to be ready"),
    (signal.SIGTERM, "connected in", 1_000_000, "interrupted by SIGTERM while measuring"),
    (signal.SIGHUP, "stopping gateway", 3, "interrupted by SIGHUP during cleanup"),
]


@pytest.mark.parametrize(
    "signum, reached_text, iterations, details_text",
    REAL_SIGNAL_CASES,
    ids=["SIGINT-before-ready", "SIGTERM-measuring", "SIGHUP-cleanup"],
)
def test_signal_real_gateway(tmp_path, real_gateway, signum, reached_text, iterations, details_text):
    with TreeWatcher(tmp_path, interval=0.02) as watcher, VerboseRun(tmp_path, iterations) as run:
        run.wait_for(reached_text)
        if signum == signal.SIGTERM:
            time.sleep(0.5)
        run.process.send_signal(signum)
        signalled = time.monotonic()
        run.process.wait(timeout=30)
        stopped_after = time.monotonic() - signalled

    assert run.process.returncode == 128 + signum, run.stderr()
    assert stopped_after < 5, stopped_after
    assert wait_until_gone(watcher.pids) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "stderr.txt"]
    scenario = run.summary()["scenarios"][0]
    assert scenario["status"] == "fail"
    assert details_text in scenario["details"]
    assert f"gwrtt: error: {details_text}" in run.stderr()


def test_sigkill_guard_stops_tree(tmp_path, real_gateway):
    with TreeWatcher(tmp_path) as watcher, VerboseRun(tmp_path, 1_000_000) as run:
        run.wait_for("connected in")
        time.sleep(0.5)
        gateway_pids = set(watcher.pids)
        run.process.kill()
        run.process.wait(timeout=10)
        killed_at = time.monotonic()
        survivors = wait_until_gone(gateway_pids, timeout=3.0)
        gone_after = time.monotonic() - killed_at

    assert run.process.returncode == -signal.SIGKILL
    assert len(gateway_pids) >= 3
    assert survivors == [], f"still alive {gone_after:.2f} s after SIGKILL: {survivors}"
    # The guard also removes the temporary root and writes a failed summary.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and list(tmp_path.glob(".rpc-rtt-*")):
        time.sleep(0.1)
    assert list(tmp_path.glob(".rpc-rtt-*")) == []
    scenario = run.summary()["scenarios"][0]
    assert scenario["status"] == "fail"
    assert "killed with SIGKILL" in scenario["details"]
    assert (run.output / "gateway.log").exists()
    # The events streamed before the kill are kept, and no temporary file is left.
    events = json.loads((run.output / "rpc-events.json").read_text())
    assert events[0]["event"] == "gateway-rpc.connect"
    assert len(events) > 1
    assert [path.name for path in run.output.glob(".*")] == []


def test_attach_mode_real_gateway(tmp_path, real_gateway):
    """Attach mode measures a running real gateway and leaves it running."""
    from gwrtt.gateway import GatewayProcess, allocate_port
    from gwrtt.openclaw import plan_launch
    from gwrtt.sandbox import MARKER_VARIABLE, Sandbox, default_compile_cache

    plan = plan_launch(repo_root=None, node=None, protocol=None, gateway_command=None, environ={}, cwd=tmp_path)
    (tmp_path / "gateway").mkdir()
    sandbox = Sandbox(tmp_path / "gateway" / "out")
    gateway = None
    try:
        port = allocate_port()
        sandbox.write_config(port)
        gateway = GatewayProcess(
            [*plan.command, "gateway", "run", "--port", str(port), "--bind", "loopback", "--allow-unconfigured"],
            cwd=plan.cwd,
            env=sandbox.environment(environ_without_gwrtt(), default_compile_cache(os.environ)),
            stdout_path=sandbox.stdout_path,
            stderr_path=sandbox.stderr_path,
            marker_variable=MARKER_VARIABLE,
            marker=sandbox.marker,
        )
        gateway.start()
        gateway.wait_ready(port, time.monotonic() + 150, 150)
        token_file = tmp_path / "token"
        token_file.write_text(sandbox.token + "\n")
        output = tmp_path / "out"

        completed = subprocess.run(
            [GWRTT, "--url", f"ws://127.0.0.1:{port}", "--token-file", str(token_file), "--output-dir", str(output),
             "--iterations", "5", "--warmup", "2"],
            cwd=tmp_path, env=gwrtt_env(tmp_path), capture_output=True, text=True, timeout=60,
        )

        assert completed.returncode == 0, completed.stderr
        assert gateway.exit_code() is None, "attach mode must leave the gateway running"
        assert sorted(path.name for path in output.iterdir()) == ["qa-suite-report.md", "qa-suite-summary.json", "rpc-events.json"]
        scenario = json.loads((output / "qa-suite-summary.json").read_text())["scenarios"][0]
        assert scenario["status"] == "pass"
        details = json.loads(scenario["details"])
        assert details["byMethodUs"]["health"]["count"] == 5
        assert details["byMethodUs"]["config.get"]["count"] == 5
        events = json.loads((output / "rpc-events.json").read_text())
        assert len(events) == 1 + 2 * (2 + 5)
        for path in output.iterdir():
            assert sandbox.token not in path.read_text(), path
        assert sandbox.token not in completed.stdout + completed.stderr
    finally:
        if gateway is not None:
            gateway.stop()
        sandbox.remove()


def environ_without_gwrtt():
    return {key: value for key, value in os.environ.items() if not key.startswith(("OPENCLAW_", "GWRTT_"))}
