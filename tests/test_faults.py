"""The fault matrix: gwrtt against tests/fake_gateway.py, one gateway fault per test.

Every test checks the run's status and summary, that the fake's whole process tree (including
processes that left its session) is gone within 3 s after gwrtt returns, and that the temporary
root ``.rpc-rtt-*`` beside the output folder was removed. Some tests run ``bin/gwrtt`` to check the
exit code and the error line. The others use the Python API.
"""

import json
import logging

import pytest

from fake_fixtures import fake  # noqa: F401  (a fixture)

pytestmark = pytest.mark.timeout(60)

# gwrtt waits this long between SIGTERM and SIGKILL (gwrtt.gateway.KILL_GRACE).
KILL_GRACE = 1.5
# A failed launch because of a taken port is retried this often (gwrtt.runner.PORT_RETRIES).
PORT_RETRIES = 3
TREE_GONE_TIMEOUT = 3.0
# Between its timeout and its close frame gwrtt only raises and closes, which usually takes a few ms.
REQUEST_TIMEOUT_SLACK = 0.5


# --- shared checks ------------------------------------------------------------------------------


def check_summary(fake, status):
    """Check ``qa-suite-summary.json`` for ``status`` and return its scenario's details text."""
    summary = fake.summary()
    scenario = summary["scenarios"][0]
    assert scenario["status"] == status
    assert summary["counts"] == {"total": 1, "passed": int(status == "pass"), "failed": int(status == "fail")}
    assert isinstance(scenario["details"], str)
    return scenario["details"]


def check_cleaned_up(fake):
    """Check that every process the fake recorded is gone and that the temporary root was removed."""
    assert fake.processes("gateway"), "the fake recorded no gateway process, so the process check would prove nothing"
    alive = fake.wait_processes_gone(TREE_GONE_TIMEOUT)
    assert alive == [], f"still alive {TREE_GONE_TIMEOUT:g} s after gwrtt returned: {alive}"
    assert fake.temp_roots() == []


def measured_samples(fake):
    """Return ``(method, iteration)`` of each measured request in ``rpc-events.json``."""
    return [
        (event["payload"]["method"], event["payload"]["iteration"])
        for event in fake.rpc_events()
        if event["event"] == "gateway-rpc"
    ]


def expected_samples(methods, iterations):
    return [(method, iteration) for method in methods for iteration in range(1, iterations + 1)]


# --- no fault -------------------------------------------------------------------------------------


def test_baseline_api_passes(fake, caplog):
    caplog.set_level(logging.INFO, logger="gwrtt")
    methods = ("health", "config.get", "status")

    result, _ = fake.run(methods=methods, iterations=3, extra_environ={"OPENCLAW_LEAK_PROBE": "1"})

    assert result.status == "pass", result.details
    assert result.exit_code == 0
    details = json.loads(check_summary(fake, "pass"))
    assert details["iterations"] == 3
    assert details["methods"] == list(methods)
    rpc_events = fake.rpc_events()
    assert rpc_events[0]["event"] == "gateway-rpc.connect"
    assert measured_samples(fake) == expected_samples(methods, 3)

    # One connect, with the sandbox's token and without an Origin header.
    connects = fake.events("connect")
    assert len(connects) == 1
    assert connects[0]["token_ok"] is True
    assert connects[0]["origin"] is None

    # The gateway saw an isolated environment.
    environment = fake.events("environment")[0]
    assert "OPENCLAW_LEAK_PROBE" not in environment["openclaw_variables"]
    assert environment["isolated"]["HOME"].startswith(str(fake.tmp_path / ".rpc-rtt-"))
    assert environment["isolated"]["GWRTT_RUN_ID"]

    # A graceful stop: SIGTERM reached the gateway and its worker, and no SIGKILL was needed.
    assert sorted(event["role"] for event in fake.events("sigterm")) == ["gateway", "worker"]
    assert "SIGKILL" not in caplog.text
    check_cleaned_up(fake)


def test_baseline_cli_exits_zero(fake):
    completed = fake.run_cli(methods=("health", "status"), iterations=2)

    assert completed.returncode == 0, completed.stderr
    assert "4 requests" in completed.stdout
    check_summary(fake, "pass")
    assert measured_samples(fake) == expected_samples(("health", "status"), 2)
    check_cleaned_up(fake)


# --- start-up faults ----------------------------------------------------------------------------


def test_exit_early_cli_reports_stderr(fake):
    completed = fake.run_cli("exit-early")

    assert completed.returncode == 1
    assert "gwrtt: error: gateway exited before it was ready (exit code 3)" in completed.stderr
    details = check_summary(fake, "fail")
    assert details.startswith("gateway exited before it was ready (exit code 3)")
    assert "Error: fake start-up failure (exit-early mode)" in details
    assert "at startGateway (fake_gateway.py)" in details
    stderr_log = (fake.output_dir / "gateway.stderr.log").read_text()
    assert "Error: fake start-up failure (exit-early mode)" in stderr_log
    # The worker outlived its gateway; gwrtt must have found and stopped it.
    assert fake.processes("worker")
    check_cleaned_up(fake)


def test_never_ready_honours_timeout(fake):
    result, wall = fake.run("never-ready", ready_timeout=2)

    assert result.status == "fail"
    assert 2.0 <= wall <= 3.0, f"run took {wall:.2f} s with --ready-timeout 2"
    # gwrtt gave up and sent SIGTERM about 2 s after the launch.
    launched = fake.events("launch")[0]["t"]
    stopped = fake.events("sigterm")[0]["t"]
    assert 1.7 <= stopped - launched <= 3.0
    assert fake.events("connect") == []
    check_cleaned_up(fake)
    details = check_summary(fake, "fail")
    assert 'last /readyz probe: HTTP 503 {"ready":false,"failing":["startup-sidecars"]}' in details
    # The limit is the one the user passed, not the time left of it.
    assert "gateway not ready after 2 s" in details


def test_slow_probes_keep_last_status(fake):
    result, wall = fake.run("never-ready,slow-probes", probe_delay=0.3, ready_timeout=2)

    assert result.status == "fail"
    assert 2.0 <= wall <= 3.0, f"run took {wall:.2f} s with --ready-timeout 2"
    check_cleaned_up(fake)
    details = check_summary(fake, "fail")
    # The port accepted every probe, so the details must not blame a refused connection.
    assert "connection refused" not in details
    # The deadline cuts the last probe short, so the last response received is the useful one.
    assert 'HTTP 503 {"ready":false,"failing":["startup-sidecars"]}' in details


def test_slow_ready_waits_for_readyz(fake):
    result, _ = fake.run("slow-ready", ready_delay=1.5, ready_timeout=10)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert result.timings["ready_s"] >= 1.5
    # gwrtt connected only after /readyz returned 200, so the one connect was accepted.
    connects = fake.events("connect")
    assert len(connects) == 1
    assert connects[0]["t"] - fake.events("launch")[0]["t"] >= 1.5
    check_cleaned_up(fake)


def test_port_taken_twice_then_passes(fake, caplog):
    caplog.set_level(logging.WARNING, logger="gwrtt")

    result, _ = fake.run("port-taken", count=2)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    launches = fake.events("environment")
    assert len(launches) == 3
    ports = {event["argv"][event["argv"].index("--port") + 1] for event in launches}
    assert len(ports) == 3, f"each retry must use a new port, got {ports}"
    assert caplog.text.count("was taken before the gateway bound it") == 2
    assert len(fake.processes("worker")) == 3
    check_cleaned_up(fake)


def test_port_taken_always_cli_fails(fake):
    completed = fake.run_cli("port-taken", count=99)

    assert completed.returncode == 1
    assert "gwrtt: error: gateway exited before it was ready (exit code 1)" in completed.stderr
    details = check_summary(fake, "fail")
    assert "Error: listen EADDRINUSE: address already in use 127.0.0.1:" in details
    assert len(fake.events("launch")) == PORT_RETRIES + 1
    assert len(fake.processes("worker")) == PORT_RETRIES + 1
    check_cleaned_up(fake)


# --- connect faults -----------------------------------------------------------------------------


def test_reject_connect_cli_not_retried(fake):
    completed = fake.run_cli("reject-connect")

    assert completed.returncode == 1
    details = check_summary(fake, "fail")
    assert details == 'connect failed: {"code":"UNAUTHORIZED","message":"invalid token"}'
    assert "UNAUTHORIZED" in completed.stderr
    assert "invalid token" in completed.stderr
    assert len(fake.events("connect")) == 1, "a non-retryable rejection must not be retried"
    assert fake.events("request") == []
    check_cleaned_up(fake)


def test_unavailable_first_retried(fake):
    result, _ = fake.run("unavailable-first", count=2)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    connects = fake.events("connect")
    assert len(connects) == 3
    # Each retry waited retryAfterMs (200 ms). The 20 ms of slack covers clock granularity.
    gaps = [later["t"] - earlier["t"] for earlier, later in zip(connects, connects[1:])]
    assert all(gap >= 0.18 for gap in gaps), gaps
    # Each attempt used a new WebSocket.
    assert len(fake.events("ws-open")) == 3
    assert measured_samples(fake) == expected_samples(("health",), 3)
    check_cleaned_up(fake)


# --- faults while measuring ---------------------------------------------------------------------


def test_close_frame_mid_run(fake):
    result, _ = fake.run("close-mid-run", after=2, close_style="frame", iterations=5)

    assert result.status == "fail"
    details = check_summary(fake, "fail")
    assert details.startswith("health (iteration 3 of 5): ")
    assert "gateway closed the WebSocket (code 1011)" in details
    assert measured_samples(fake) == [("health", 1), ("health", 2)]
    check_cleaned_up(fake)


def test_tcp_close_mid_run(fake):
    result, wall = fake.run("close-mid-run", after=2, close_style="tcp", iterations=5, request_timeout=10)

    assert result.status == "fail"
    details = check_summary(fake, "fail")
    assert details.startswith("health (iteration 3 of 5): ")
    assert "timeout" not in details
    # gwrtt noticed the lost connection at once instead of waiting out the 10 s request timeout.
    assert wall < 5.0
    assert measured_samples(fake) == [("health", 1), ("health", 2)]
    check_cleaned_up(fake)


def test_no_answer_times_out(fake):
    result, wall = fake.run("no-answer", method="health", iterations=3, request_timeout=1)

    assert result.status == "fail"
    details = check_summary(fake, "fail")
    assert details == "timeout waiting for health (iteration 1 of 3) after 1 s"
    # The client gave up (closed the WebSocket) about 1 s after the request reached the fake.
    unanswered = fake.events("unanswered")
    assert len(unanswered) == 1
    closed = [event for event in fake.events("ws-close") if event.get("by") == "client"]
    assert closed, "gwrtt did not close the WebSocket"
    waited = closed[0]["t"] - unanswered[0]["t"]
    assert 0.95 <= waited <= 1.0 + REQUEST_TIMEOUT_SLACK, f"waited {waited:.2f} s with --request-timeout 1"
    assert wall < 4.0
    check_cleaned_up(fake)


def test_no_answer_later_iteration(fake):
    methods = ("health", "config.get")

    result, _ = fake.run("no-answer", method="config.get", after=1, methods=methods, request_timeout=0.5)

    assert result.status == "fail"
    details = check_summary(fake, "fail")
    assert details == "timeout waiting for config.get (iteration 2 of 3) after 0.5 s"
    assert measured_samples(fake) == [("health", 1), ("health", 2), ("health", 3), ("config.get", 1)]
    unanswered = fake.events("unanswered")
    closed = [event for event in fake.events("ws-close") if event.get("by") == "client"]
    waited = closed[0]["t"] - unanswered[0]["t"]
    assert 0.45 <= waited <= 0.5 + REQUEST_TIMEOUT_SLACK, f"waited {waited:.2f} s with --request-timeout 0.5"
    check_cleaned_up(fake)


def test_method_fails_cli_exact_details(fake):
    methods = ("health", "config.get")

    completed = fake.run_cli("method-fails", method="config.get", after=1, methods=methods)

    assert completed.returncode == 1
    details = check_summary(fake, "fail")
    assert details == 'config.get failed: {"code":"INVALID_REQUEST","message":"boom"}'
    assert 'gwrtt: error: config.get failed: {"code":"INVALID_REQUEST","message":"boom"}' in completed.stderr
    assert measured_samples(fake) == [("health", 1), ("health", 2), ("health", 3), ("config.get", 1)]
    check_cleaned_up(fake)


def test_noise_frames_ignored(fake):
    methods = ("health", "config.get", "status")

    result, _ = fake.run("noise", methods=methods, iterations=4)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert {method: len(durations) for method, durations in result.durations_ns.items()} == dict.fromkeys(methods, 4)
    assert measured_samples(fake) == expected_samples(methods, 4)
    # Noise came before the connect response and before each of the 12 measured responses.
    assert len(fake.events("noise")) == 13
    check_cleaned_up(fake)


def test_noise_odd_ids_ignored(fake):
    result, _ = fake.run("noise-odd-ids", methods=("health",), iterations=3)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert measured_samples(fake) == expected_samples(("health",), 3)
    check_cleaned_up(fake)


def test_big_response_passes(fake):
    result, _ = fake.run("big-response", method="config.get", methods=("health", "config.get"), iterations=2)

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert measured_samples(fake) == expected_samples(("health", "config.get"), 2)
    big = fake.events("big-response")
    assert len(big) == 2
    assert big[0]["characters"] > 1024 * 1024
    check_cleaned_up(fake)


# --- stopping the process tree --------------------------------------------------------------------


def test_escaped_processes_killed(fake):
    result, _ = fake.run("escape")

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    gateway = fake.processes("gateway")[0]
    escapees = fake.processes("escaped-setsid") + fake.processes("escaped-double-fork")
    assert len(escapees) == 2
    for record in escapees:
        # Each escapee leads a session of its own, so a signal to the gateway's group misses it.
        assert record["sid"] == record["pid"]
        assert record["sid"] != gateway["sid"]
    check_cleaned_up(fake)


def test_escape_ignoring_sigterm_killed(fake, caplog):
    caplog.set_level(logging.WARNING, logger="gwrtt")

    result, wall = fake.run("escape,ignore-sigterm")

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert len(fake.processes()) == 4
    assert wall >= KILL_GRACE
    assert "SIGKILL" in caplog.text
    check_cleaned_up(fake)


def test_escape_during_shutdown_killed(fake):
    result, _ = fake.run("escape-on-sigterm")

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    late = fake.processes("escaped-on-sigterm")
    assert len(late) == 1
    assert late[0]["sid"] == late[0]["pid"]
    check_cleaned_up(fake)


def test_ignore_sigterm_sigkilled(fake, caplog):
    caplog.set_level(logging.WARNING, logger="gwrtt")

    result, wall = fake.run("ignore-sigterm")

    assert result.status == "pass", result.details
    check_summary(fake, "pass")
    assert fake.events("sigterm") == []
    assert wall >= KILL_GRACE, "gwrtt must give the gateway its grace period before SIGKILL"
    assert wall < KILL_GRACE + 4.0
    assert "gateway processes still alive after 1.5 s, SIGKILL: " in caplog.text
    check_cleaned_up(fake)
