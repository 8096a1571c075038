"""SIGINT, SIGTERM and SIGHUP sent to bin/gwrtt before ready, while measuring and during cleanup."""

import json
import shlex
import signal
import subprocess
import sys
import time

import pytest

from fake_fixtures import FAKE_GATEWAY, GWRTT, fake  # noqa: F401  (fake is a fixture)

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
# phase -> (fake gateway mode and settings, stderr text that shows gwrtt reached the phase,
# the phase named in details)
PHASES = {
    "before-ready": ({"mode": "slow-ready", "ready_delay": 30}, "gateway started", "while waiting for the gateway to be ready"),
    "measuring": ({"mode": ""}, "connected in", "while measuring"),
    "cleanup": ({"mode": "ignore-sigterm"}, "stopping gateway", "during cleanup"),
}

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("signum", SIGNALS, ids=[signal.Signals(signum).name for signum in SIGNALS])
def test_signal_stops_run_cleanly(fake, phase, signum):  # noqa: F811
    settings, reached_text, details_text = PHASES[phase]
    settings = dict(settings)
    mode = settings.pop("mode")
    iterations = 2 if phase == "cleanup" else 1_000_000
    stderr_path = fake.tmp_path / "stderr.txt"
    command = [
        str(GWRTT), "-v",
        "--output-dir", str(fake.output_dir),
        "--protocol", "4:4",
        "--methods", "health",
        "--iterations", str(iterations),
        "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)]),
    ]
    with open(stderr_path, "w") as stderr_file:
        process = subprocess.Popen(
            command, cwd=fake.tmp_path, env=fake.environ(mode, **settings),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file,
        )
        try:
            deadline = time.monotonic() + 30
            while reached_text not in stderr_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert reached_text in stderr_path.read_text(), stderr_path.read_text()
            process.send_signal(signum)
            signalled = time.monotonic()
            process.wait(timeout=20)
            took = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    stderr = stderr_path.read_text()
    assert process.returncode == 128 + signum, stderr
    assert took < 5, took
    assert fake.wait_processes_gone(3.0) == []
    assert fake.temp_roots() == []
    summary = json.loads((fake.output_dir / "qa-suite-summary.json").read_text())
    scenario = summary["scenarios"][0]
    assert scenario["status"] == "fail"
    name = signal.Signals(signum).name
    assert f"interrupted by {name} {details_text}" in scenario["details"]
    if phase == "cleanup":
        # The measurement had finished: its numbers stay, the signal turns the status to fail.
        assert "rttMeasurement" in scenario
        assert f"{name} received during cleanup; finishing cleanup first" in stderr
    assert (fake.output_dir / "rpc-events.json").exists()
