"""Measurement features against tests/fake_gateway.py: warm-up, load, gates, output and attach mode.

Each test checks what a user or CI gets: the artifacts byte for byte where their format is fixed,
the exit code and the text on stdout and stderr. Statistics are recomputed from rpc-events.json,
and the fake's event log shows what reached the gateway.
"""

import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest

from fake_fixtures import GWRTT, fake, free_loopback_port, run_gwrtt  # noqa: F401  (fake is a fixture)
from gwrtt import RunOptions, Runner, UsageError
from gwrtt.exact import exact_stats, histogram
from gwrtt.report import format_histogram
from gwrtt.stats import reference_stats

pytestmark = pytest.mark.timeout(60)

SUMMARY_FILE = "qa-suite-summary.json"
EVENTS_FILE = "rpc-events.json"
REPORT_FILE = "qa-suite-report.md"
SAMPLE_KEYS = ["kind", "method", "ok", "durationMs", "iteration", "durationUs"]
WARMUP_KEYS = ["kind", "method", "ok", "durationMs", "iteration", "warmup", "durationUs"]
TABLE_HEADER = re.compile(r"^method +count +min +p50 +p95 +p99 +max  \(ms\)$")
GATE_VALUE_ERROR = "expected METHOD=MS with MS a number greater than 0, got"


# --- shared helpers ---------------------------------------------------------------------------


def scenario(fake):
    return fake.summary()["scenarios"][0]


def pass_details(fake):
    """Return the parsed ``details`` JSON of a run that passed."""
    entry = scenario(fake)
    assert entry["status"] == "pass", entry["details"]
    return json.loads(entry["details"])


def sample_payloads(fake, warmup=None):
    """Return the payloads of the ``gateway-rpc`` events, optionally only warm-up or measured ones."""
    payloads = [event["payload"] for event in fake.rpc_events() if event["event"] == "gateway-rpc"]
    if warmup is None:
        return payloads
    return [payload for payload in payloads if payload.get("warmup", False) is warmup]


def duration_ns(payload):
    """Return an event's exact duration in nanoseconds; ``durationUs`` has nanosecond resolution."""
    return round(payload["durationUs"] * 1000)


def expected_ms_text(value_us):
    """Format microseconds as milliseconds with three decimals, halves rounded up, as gwrtt prints."""
    milliseconds = Decimal(str(value_us)) / 1000
    return str(milliseconds.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def table_cells(label, stats):
    return [label, str(stats["count"]), *(expected_ms_text(stats[key]) for key in ("minUs", "p50Us", "p95Us", "p99Us", "maxUs"))]


def check_usage_error(completed, expected_line):
    """Check exit code 2, one error line on stderr and nothing on stdout."""
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr == f"gwrtt: error: {expected_line}\n"


def artifact_lines(output):
    """Return the lines that list the artifacts at the end of the default output."""
    return (
        f"summary:  {output / SUMMARY_FILE}\n"
        f"events:   {output / EVENTS_FILE}\n"
        f"report:   {output / REPORT_FILE}\n"
    )


# --- warm-up ------------------------------------------------------------------------------------


def test_warmup_events_and_statistics(fake):
    methods = ("health", "config.get")
    # The first 3 requests of each method take 60 ms more, so any warm-up that leaked into a
    # statistic would show as a maximum of 60 ms or more.
    completed = fake.run_cli(
        "slow-first", count=3, slow_ms=60, methods=methods, iterations=5, extra_args=["--warmup", "3"]
    )

    assert completed.returncode == 0, completed.stderr
    details = pass_details(fake)
    assert details["warmup"] == 3
    assert details["iterations"] == 5

    events = fake.rpc_events()
    assert events[0]["event"] == "gateway-rpc.connect"
    assert len(events) == 1 + len(methods) * (3 + 5)
    order = [(payload["method"], payload.get("warmup", False), payload["iteration"]) for payload in sample_payloads(fake)]
    expected_order = [
        (method, warmup, iteration)
        for method in methods
        for warmup, count in ((True, 3), (False, 5))
        for iteration in range(1, count + 1)
    ]
    assert order == expected_order

    for payload in sample_payloads(fake, warmup=True):
        assert list(payload) == WARMUP_KEYS
        assert payload["warmup"] is True
        assert payload["durationMs"] >= 60, payload
    for payload in sample_payloads(fake, warmup=False):
        assert list(payload) == SAMPLE_KEYS
        assert payload["durationMs"] < 60, payload

    # The statistics are exactly those of the measured events.
    measured = sample_payloads(fake, warmup=False)
    assert details["stats"] == reference_stats([payload["durationMs"] for payload in measured])
    assert details["statsUs"] == exact_stats([duration_ns(payload) for payload in measured])
    assert details["statsUs"]["count"] == 10
    assert details["stats"]["maxMs"] < 60
    for method in methods:
        of_method = [payload for payload in measured if payload["method"] == method]
        assert details["byMethod"][method] == reference_stats([payload["durationMs"] for payload in of_method])
        assert details["byMethodUs"][method] == exact_stats([duration_ns(payload) for payload in of_method])
        assert details["byMethodUs"][method]["count"] == 5

    # The gateway received the warm-up requests too: 8 per method.
    received = Counter(event["method"] for event in fake.events("request"))
    assert received == dict.fromkeys(methods, 8)

    # Throughput leaves the warm-up out as well: with the 3 slow warm-ups (180 ms or more) in
    # its time, a method's rate could not exceed 5 / 0.18 s, about 28 requests/s.
    for method in methods:
        assert details["byMethodThroughputRps"][method] > 5 / (3 * 0.060), details["byMethodThroughputRps"]


# --- load -----------------------------------------------------------------------------------------


def test_reverse_order_matched_by_id(fake):
    methods = ("health", "status")
    batch, delay_ms, iterations = 4, 100, 8
    # What a round trip may take beyond the time the fake held its request: the write, the read
    # and thread wake-ups (up to 40 ms seen with a load average of 6 on 2 cores). The hold times
    # of a batch differ by at least one delay, so a response matched to another request of the
    # batch is off by more than this.
    slack_ms = delay_ms / 2

    result, _ = fake.run(
        "reverse-order",
        batch=batch,
        delay_ms=delay_ms,
        methods=methods,
        iterations=iterations,
        request_timeout=5,
        run_options={"concurrency": batch},
    )

    assert result.status == "pass", result.details
    details = pass_details(fake)
    assert details["concurrency"] == batch
    assert details["connections"] == 1
    for method in methods:
        assert details["byMethodUs"][method]["count"] == iterations
        assert len(result.durations_ns[method]) == iterations

    # Every iteration appears exactly once per method.
    measured = sample_payloads(fake, warmup=False)
    assert Counter((payload["method"], payload["iteration"]) for payload in measured) == Counter(
        (method, iteration) for method in methods for iteration in range(1, iterations + 1)
    )

    # The fake responded to every request exactly once, each batch newest first.
    requests = fake.events("request")
    assert len(requests) == len(methods) * iterations
    assert fake.events("unanswered") == []
    batches = fake.events("batch")
    assert len(batches) == len(methods) * iterations // batch
    responded = [request_id for entry in batches for request_id in entry["responded"]]
    assert sorted(responded) == sorted(event["id"] for event in requests)
    for entry in batches:
        assert len(set(entry["methods"])) == 1, "a batch mixed methods"
        assert entry["responded"] == entry["arrived"][::-1]

    # gwrtt logs each response as it arrives, so each group of 4 events of a method is one batch
    # in the fake's response order. Each response came one delay or more after the one before
    # (checked with half a delay of tolerance), and the last one, to the request sent first,
    # took longest.
    for method in methods:
        method_events = [payload for payload in measured if payload["method"] == method]
        method_batches = [entry for entry in batches if entry["methods"][0] == method]
        for index, entry in enumerate(method_batches):
            group = method_events[index * batch:(index + 1) * batch]
            measured_ms = [payload["durationUs"] / 1000 for payload in group]
            gaps = [later - earlier for earlier, later in zip(measured_ms, measured_ms[1:])]
            assert all(gap >= delay_ms / 2 for gap in gaps), (method, index, measured_ms)
            assert max(measured_ms) == measured_ms[-1]
            # Each round trip took as long as the fake held the request, plus transport.
            for own_ms, held_ms in zip(measured_ms, entry["held_ms"]):
                assert held_ms <= own_ms <= held_ms + slack_ms, (method, index, measured_ms, entry["held_ms"])


def test_three_connections_two_in_flight(fake):
    methods = ("health", "config.get")
    iterations, delay_ms = 30, 20

    completed = fake.run_cli(
        delay_ms=delay_ms,
        methods=methods,
        iterations=iterations,
        extra_args=["--connections", "3", "--concurrency", "2", "--warmup", "4"],
    )

    assert completed.returncode == 0, completed.stderr
    details = pass_details(fake)
    assert details["concurrency"] == 2
    assert details["connections"] == 3
    assert details["throughputRps"] > 0
    assert set(details["byMethodThroughputRps"]) == set(methods)
    assert all(rate > 0 for rate in details["byMethodThroughputRps"].values())
    assert details["statsUs"]["count"] == len(methods) * iterations
    for method in methods:
        assert details["byMethodUs"][method]["count"] == iterations

    measured = sample_payloads(fake, warmup=False)
    assert Counter((payload["method"], payload["iteration"]) for payload in measured) == Counter(
        (method, iteration) for method in methods for iteration in range(1, iterations + 1)
    )
    # The warm-up requests of a method all finish before its first measured request is sent.
    for method in methods:
        of_method = [payload for payload in sample_payloads(fake) if payload["method"] == method]
        assert sorted(payload["iteration"] for payload in of_method[:4]) == [1, 2, 3, 4]
        assert all(payload.get("warmup") is True for payload in of_method[:4])
        assert all("warmup" not in payload for payload in of_method[4:])

    # Three WebSocket connections, each authenticated and each used for measuring.
    sessions = [event["session"] for event in fake.events("ws-open")]
    assert sorted(sessions) == [1, 2, 3]
    assert len(fake.events("connect")) == 3
    assert all(event["token_ok"] for event in fake.events("connect"))
    per_session = Counter(event["session"] for event in fake.events("request"))
    assert set(per_session) == {1, 2, 3}
    assert sum(per_session.values()) == len(methods) * (4 + iterations)
    # The fake handles a connection's requests one at a time, so one connection gets at most
    # 1000 / 20 = 50 responses/s. A higher rate shows that the connections ran in parallel.
    assert details["throughputRps"] > 1000 / delay_ms


# --- gates ----------------------------------------------------------------------------------------


def test_gate_fails_run_and_junit(fake, tmp_path):
    junit = tmp_path / "reports" / "junit.xml"

    completed = fake.run_cli(
        methods=("health", "config.get"),
        extra_args=["--max-p95-ms", "health=0.000001", "--max-p50-ms", "config.get=10000", "--junit", str(junit)],
    )

    assert completed.returncode == 1
    entry = scenario(fake)
    assert entry["status"] == "fail"
    assert fake.summary()["counts"] == {"total": 1, "passed": 0, "failed": 1}
    assert set(entry["rttMeasurement"]) == {"finalMatchedReplyRttMs", "durationMs", "method", "source"}
    assert entry["rttMeasurement"]["method"] == "health,config.get"

    first_line, statistics_json = entry["details"].split("\n")
    details = json.loads(statistics_json)
    health_p95 = expected_ms_text(details["byMethodUs"]["health"]["p95Us"])
    gate_message = f"health p95 is {health_p95} ms, above the limit of 0.000001 ms (--max-p95-ms health=0.000001)"
    assert first_line == gate_message
    assert completed.stderr == f"gwrtt: error: {gate_message}\n"
    # The table is still printed, because the measurement itself finished.
    assert "latency histogram" in completed.stdout

    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    testcases = suite.findall("testcase")
    assert [testcase.get("name") for testcase in testcases] == ["health", "config.get"]
    assert testcases[0].find("failure").get("message") == gate_message
    assert testcases[1].find("failure") is None

    report = (fake.output_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert "- Status: fail" in report
    assert f"- fail: {gate_message}" in report
    config_p50 = expected_ms_text(details["byMethodUs"]["config.get"]["p50Us"])
    within = f"- pass: config.get p50 is {config_p50} ms, within the limit of 10000 ms (--max-p50-ms config.get=10000)"
    assert within in report


def test_generous_gate_passes(fake, tmp_path):
    junit = tmp_path / "junit.xml"

    completed = fake.run_cli(extra_args=["--max-p95-ms", "health=10000", "--junit", str(junit)])

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    details = pass_details(fake)
    assert scenario(fake)["details"].startswith("{")
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "1"
    assert suite.get("failures") == "0"
    assert suite.find("testcase").get("name") == "health"
    health_p95 = expected_ms_text(details["byMethodUs"]["health"]["p95Us"])
    report = (fake.output_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert f"- pass: health p95 is {health_p95} ms, within the limit of 10000 ms (--max-p95-ms health=10000)" in report
    assert f"junit:    {junit}" in completed.stdout.splitlines()


def test_gate_on_unmeasured_method_rejected(fake, tmp_path):
    completed = fake.run_cli(methods=("health",), extra_args=["--max-p95-ms", "status=5"])

    check_usage_error(
        completed,
        "--max-p95-ms: method 'status' is not one of the measured methods (health). "
        "Fix the name or add the method to --methods.",
    )
    assert not fake.output_dir.exists()
    assert fake.events() == [], "the gateway must not start for invalid options"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["health", "health=abc", "health=-1", "=5", "health=0", "health=nan", "health=inf"])
def test_invalid_gate_value_rejected(fake, tmp_path, value):
    completed = fake.run_cli(extra_args=["--max-p95-ms", value])

    check_usage_error(completed, f"--max-p95-ms: {GATE_VALUE_ERROR} {value!r}")
    assert list(tmp_path.iterdir()) == []


# --- output modes ---------------------------------------------------------------------------------


def test_default_output_table_and_paths(fake):
    methods = ("health", "config.get")

    completed = fake.run_cli(methods=methods, iterations=3)

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    details = pass_details(fake)
    lines = completed.stdout.splitlines()
    assert lines[0] == "pass: 6 requests measured, 2 methods"
    assert lines[1] == ""

    # The table: a header, a row per method, the "all" row and the throughput.
    assert TABLE_HEADER.match(lines[2]), lines[2]
    rows = [line.split() for line in lines[3:6]]
    assert rows[0] == table_cells("health", details["byMethodUs"]["health"])
    assert rows[1] == table_cells("config.get", details["byMethodUs"]["config.get"])
    assert rows[2] == table_cells("all", details["statsUs"])
    assert lines[6] == ""
    assert lines[7] == f"throughput: {details['throughputRps']:.1f} requests/s"
    # One request at a time, so the measuring time is at least the sum of the round trips.
    durations_s = sum(payload["durationUs"] for payload in sample_payloads(fake)) / 1e6
    assert 0 < details["throughputRps"] <= round(6 / durations_s, 1)
    assert lines[8] == ""

    # The histogram of the measured durations, as recorded in rpc-events.json.
    assert lines[9] == "latency histogram (all methods):"
    durations = [duration_ns(payload) for payload in sample_payloads(fake, warmup=False)]
    expected_histogram = format_histogram(histogram(durations)).splitlines()
    histogram_lines = lines[10:10 + len(expected_histogram)]
    assert histogram_lines == expected_histogram
    assert sum(int(line.split()[-1]) for line in histogram_lines) == 6

    # The artifact paths come last.
    assert lines[10 + len(expected_histogram):] == ["", *artifact_lines(fake.output_dir).splitlines()]


def test_report_markdown_rows_and_status(fake):
    completed = fake.run_cli(methods=("health", "status"), iterations=2)

    assert completed.returncode == 0, completed.stderr
    details = pass_details(fake)
    report = (fake.output_dir / REPORT_FILE).read_text(encoding="utf-8")
    lines = report.splitlines()
    assert "- Status: pass" in lines
    assert "Status: pass" in lines
    assert "- Scenarios: 1 total, 1 passed, 0 failed" in lines
    assert "| method | count | min | p50 | p95 | p99 | max |" in lines
    for label, stats in [*details["byMethodUs"].items(), ("all", details["statsUs"])]:
        assert "| " + " | ".join(table_cells(label, stats)) + " |" in lines
    assert f"Throughput: {details['throughputRps']:.1f} requests/s" in lines
    assert "### Details" not in report
    assert report.endswith("\n")


def test_json_prints_summary_only(fake):
    completed = fake.run_cli(extra_args=["--json"])

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout == (fake.output_dir / SUMMARY_FILE).read_text(encoding="utf-8")
    assert json.loads(completed.stdout)["scenarios"][0]["status"] == "pass"


def test_json_failure_prints_summary(fake):
    completed = fake.run_cli("method-fails", extra_args=["--json"])

    assert completed.returncode == 1
    assert completed.stdout == (fake.output_dir / SUMMARY_FILE).read_text(encoding="utf-8")
    assert completed.stderr == 'gwrtt: error: health failed: {"code":"INVALID_REQUEST","message":"boom"}\n'


def test_quiet_prints_nothing_on_pass(fake):
    completed = fake.run_cli(extra_args=["-q"])

    assert completed.returncode == 0
    assert completed.stdout == ""
    assert completed.stderr == ""
    pass_details(fake)


def test_quiet_failure_prints_one_line(fake):
    completed = fake.run_cli("method-fails", extra_args=["--quiet"])

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == 'gwrtt: error: health failed: {"code":"INVALID_REQUEST","message":"boom"}\n'


def test_verbose_logs_phase_timings(fake):
    completed = fake.run_cli(methods=("health", "config.get"), iterations=3, extra_args=["-v"])

    assert completed.returncode == 0, completed.stderr
    port = fake.events("listening")[0]["port"]
    pid = fake.processes("gateway")[0]["pid"]
    stderr_lines = completed.stderr.splitlines()
    ready = rf"gwrtt: INFO: gateway ready after \d+\.\d\d s \(pid {pid}, port {port}\)"
    assert any(re.fullmatch(ready, line) for line in stderr_lines), completed.stderr
    assert any(re.fullmatch(r"gwrtt: INFO: connected in \d+\.\d ms", line) for line in stderr_lines), completed.stderr
    measured = r"gwrtt: INFO: measured 6 requests in \d+\.\d\d s"
    assert any(re.fullmatch(measured, line) for line in stderr_lines), completed.stderr
    assert any(line.startswith("gwrtt: DEBUG: ") for line in stderr_lines), completed.stderr
    # The table still goes to stdout, and the log lines only to stderr.
    assert completed.stdout.startswith("pass: 6 requests measured, 2 methods\n")
    assert "INFO" not in completed.stdout


def test_quiet_and_verbose_rejected(fake, tmp_path):
    completed = fake.run_cli(extra_args=["-q", "-v"])

    check_usage_error(completed, "-v/--verbose: not allowed with argument -q/--quiet")
    assert list(tmp_path.iterdir()) == []


# --- progress on a terminal -----------------------------------------------------------------------


def progress_settings():
    # 300 requests of at least 4 ms take over 1 s, so the display redraws several times while
    # measuring. The readiness delay keeps the waiting phase on screen for several redraws.
    return {"mode": "slow-ready", "ready_delay": 0.6, "delay_ms": 4}


def read_terminal(master_fd, process, timeout):
    """Read everything written to the pseudo-terminal until ``process`` exits and the terminal is drained."""
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([master_fd], [], [], 0.1)
        if readable:
            try:
                data = os.read(master_fd, 65536)
            except OSError:  # EIO once the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_progress_on_terminal(fake):
    settings = progress_settings()
    command = fake.cli_command(methods=("health",), iterations=300)
    master_fd, slave_fd = pty.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=fake.tmp_path,
            env=fake.environ(settings.pop("mode"), **settings),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave_fd,
        )
        os.close(slave_fd)
        slave_fd = None
        try:
            terminal = read_terminal(master_fd, process, timeout=40)
            stdout = process.stdout.read().decode()
            returncode = process.wait(20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
    finally:
        os.close(master_fd)
        if slave_fd is not None:
            os.close(slave_fd)

    assert returncode == 0, terminal
    assert stdout.startswith("pass: 300 requests measured, 1 method\n")
    assert "\rgwrtt: waiting for the gateway to be ready" in terminal
    counts = re.findall(r"\rgwrtt: measuring: (\d+)/300 requests, (\d+)/s", terminal)
    assert len(counts) >= 2, terminal
    done = [int(count) for count, _ in counts]
    assert done == sorted(done)
    # At least 4 ms per request caps the rate at 250 requests/s.
    assert all(0 < int(rate) <= 250 for _, rate in counts[1:]), counts
    # The last write clears the line.
    assert re.search(r"\r +\r$", terminal), repr(terminal[-100:])


def test_no_progress_on_pipe(fake):
    settings = progress_settings()

    completed = fake.run_cli(settings.pop("mode"), methods=("health",), iterations=300, **settings)

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert "\r" not in completed.stdout
    assert "measuring" not in completed.stdout


# --- attach mode ----------------------------------------------------------------------------------


def attach_environ(fake, **extra):
    env = fake.environ()
    env.update(extra)
    return env


def attach_command(output_dir, *extra_args):
    return [str(GWRTT), "--output-dir", str(output_dir), "--protocol", "4:4", "--methods", "health,config.get",
            "--iterations", "3", *extra_args]


def test_attach_measures_running_gateway(fake, tmp_path):
    token = f"attach-token-{os.urandom(8).hex()}"
    port = fake.start_standalone(token)
    pid = fake.standalone.pid
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n", encoding="utf-8")

    try:
        runs = {
            "token-file": run_gwrtt(
                attach_command(tmp_path / "out-file", "--url", f"ws://127.0.0.1:{port}", "--token-file", str(token_file)),
                cwd=tmp_path,
                env=attach_environ(fake),
            ),
            "token-env": run_gwrtt(
                attach_command(tmp_path / "out-env", "--url", f"ws://localhost:{port}", "--token-env", "GWRTT_TEST_TOKEN"),
                cwd=tmp_path,
                env=attach_environ(fake, GWRTT_TEST_TOKEN=token),
            ),
        }

        # gwrtt left the gateway it did not start running.
        assert fake.is_live(pid)
        assert fake.events("sigterm") == []
    finally:
        fake.stop_standalone()

    for name, completed in runs.items():
        output = tmp_path / ("out-file" if name == "token-file" else "out-env")
        assert completed.returncode == 0, (name, completed.stderr)
        assert completed.stderr == "", name
        assert token not in completed.stdout
        assert sorted(path.name for path in output.iterdir()) == sorted([EVENTS_FILE, SUMMARY_FILE, REPORT_FILE]), name
        for path in output.rglob("*"):
            assert token not in path.read_text(encoding="utf-8"), f"{name}: the token is in {path}"
        with open(output / SUMMARY_FILE, encoding="utf-8") as handle:
            details = json.loads(handle.read())["scenarios"][0]["details"]
        assert json.loads(details)["byMethodUs"]["health"]["count"] == 3
        with open(output / EVENTS_FILE, encoding="utf-8") as handle:
            assert len(json.load(handle)) == 1 + 2 * 3

    # One gateway, two authenticated connections, no temporary root.
    assert len(fake.events("launch")) == 1
    connects = fake.events("connect")
    assert len(connects) == 2
    assert all(event["token_ok"] for event in connects)
    assert all(event["origin"] is None for event in connects)
    assert len(fake.events("request")) == 2 * 2 * 3
    assert list(tmp_path.glob(".rpc-rtt-*")) == []


def test_attach_wrong_token_fails(fake, tmp_path):
    port = fake.start_standalone(f"attach-token-{os.urandom(8).hex()}")
    wrong_token = f"wrong-token-{os.urandom(8).hex()}"
    token_file = tmp_path / "token"
    token_file.write_text(wrong_token + "\n", encoding="utf-8")
    output = tmp_path / "out"

    try:
        completed = run_gwrtt(
            attach_command(output, "--url", f"ws://127.0.0.1:{port}", "--token-file", str(token_file)),
            cwd=tmp_path,
            env=attach_environ(fake),
        )
        assert fake.is_live(fake.standalone.pid)
    finally:
        fake.stop_standalone()

    rejection = 'connect failed: {"code":"UNAUTHORIZED","message":"invalid token"}'
    assert completed.returncode == 1
    assert completed.stdout == artifact_lines(output)
    assert completed.stderr == f"gwrtt: error: {rejection}\n"
    with open(output / SUMMARY_FILE, encoding="utf-8") as handle:
        entry = json.load(handle)["scenarios"][0]
    assert entry["status"] == "fail"
    assert entry["details"] == rejection
    assert "rttMeasurement" not in entry
    for path in output.rglob("*"):
        assert wrong_token not in path.read_text(encoding="utf-8"), f"the token is in {path}"
    assert [event["token_ok"] for event in fake.events("connect")] == [False]
    assert fake.events("request") == []


def test_attach_nothing_listening_fails(fake, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("unused-token\n", encoding="utf-8")
    output = tmp_path / "out"
    port = free_loopback_port()

    completed = run_gwrtt(
        attach_command(output, "--url", f"ws://127.0.0.1:{port}", "--token-file", str(token_file)),
        cwd=tmp_path,
        env=attach_environ(fake),
    )

    failure = f"cannot connect to ws://127.0.0.1:{port}: Connection refused"
    assert completed.returncode == 1
    assert completed.stdout == artifact_lines(output)
    assert completed.stderr == f"gwrtt: error: {failure}\n"
    with open(output / SUMMARY_FILE, encoding="utf-8") as handle:
        entry = json.load(handle)["scenarios"][0]
    assert entry["status"] == "fail"
    assert entry["details"] == failure
    assert sorted(path.name for path in output.iterdir()) == sorted([EVENTS_FILE, SUMMARY_FILE, REPORT_FILE])
    with open(output / EVENTS_FILE, encoding="utf-8") as handle:
        assert json.load(handle) == []


def test_attach_non_loopback_rejected_without_connecting(fake, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("unused-token\n", encoding="utf-8")
    attempts = []

    def record_connection(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"gwrtt tried to connect: {args}")

    monkeypatch.setattr(socket, "create_connection", record_connection)
    monkeypatch.setattr(socket.socket, "connect", record_connection)
    options = RunOptions(
        output_dir=tmp_path / "out", url="ws://10.1.2.3:1234", token_file=token_file, protocol="4:4"
    )

    with pytest.raises(UsageError, match="device pairing is not supported yet"):
        Runner(options, reraise_signals=False, environ=fake.environ()).run()

    assert attempts == []
    assert not (tmp_path / "out").exists()


def attach_usage_case(case_id, tmp_path):
    """Return the extra arguments and the expected error line of one invalid attach case."""
    token_file = str(tmp_path / "token")
    missing = tmp_path / "missing-token"
    empty = tmp_path / "empty-token"
    cases = {
        "non-loopback": (
            ["--url", "ws://10.1.2.3:1234", "--token-file", token_file],
            "--url: 10.1.2.3 is not a loopback address; gwrtt connects without a paired device, which the "
            "gateway allows only on loopback, and device pairing is not supported yet",
        ),
        "http-scheme": (
            ["--url", "http://127.0.0.1:1", "--token-file", token_file],
            "--url: expected a ws:// URL, got 'http://127.0.0.1:1'",
        ),
        "no-port": (
            ["--url", "ws://127.0.0.1", "--token-file", token_file],
            "--url: no port in 'ws://127.0.0.1'; the gateway's port is required",
        ),
        "missing-token-file": (
            ["--url", "ws://127.0.0.1:1", "--token-file", str(missing)],
            f"--token-file: cannot read {missing}: No such file or directory",
        ),
        "empty-token-file": (
            ["--url", "ws://127.0.0.1:1", "--token-file", str(empty)],
            f"--token-file: {empty} is empty",
        ),
        "unset-token-env": (
            ["--url", "ws://127.0.0.1:1", "--token-env", "GWRTT_TEST_UNSET_TOKEN"],
            "--token-env: environment variable GWRTT_TEST_UNSET_TOKEN is not set or empty",
        ),
        "both-token-options": (
            ["--url", "ws://127.0.0.1:1", "--token-file", token_file, "--token-env", "GWRTT_TEST_TOKEN"],
            "--token-file and --token-env: give one of them, not both",
        ),
        "token-file-without-url": (
            ["--token-file", token_file],
            "--token-file: only used with --url, which is missing",
        ),
        "token-env-without-url": (
            ["--token-env", "GWRTT_TEST_TOKEN"],
            "--token-env: only used with --url, which is missing",
        ),
        "url-without-token": (
            ["--url", "ws://127.0.0.1:1"],
            "--url ws://127.0.0.1:1: also give --token-file PATH or --token-env NAME",
        ),
    }
    return cases[case_id]


ATTACH_USAGE_CASES = [
    "non-loopback",
    "http-scheme",
    "no-port",
    "missing-token-file",
    "empty-token-file",
    "unset-token-env",
    "both-token-options",
    "token-file-without-url",
    "token-env-without-url",
    "url-without-token",
]


@pytest.mark.parametrize("case_id", ATTACH_USAGE_CASES)
def test_attach_invalid_option_rejected(fake, tmp_path, case_id):
    (tmp_path / "token").write_text("unused-token\n", encoding="utf-8")
    (tmp_path / "empty-token").write_text("", encoding="utf-8")
    output = tmp_path / "out"
    env = attach_environ(fake, GWRTT_TEST_TOKEN="unused-token")
    env.pop("GWRTT_TEST_UNSET_TOKEN", None)
    extra_args, expected_line = attach_usage_case(case_id, tmp_path)

    completed = run_gwrtt(attach_command(output, *extra_args), cwd=tmp_path, env=env)

    check_usage_error(completed, expected_line)
    assert not output.exists()
    assert fake.events() == []


# --- small runs -----------------------------------------------------------------------------------


def test_single_iteration_single_method(fake):
    completed = fake.run_cli(methods=("health",), iterations=1)

    assert completed.returncode == 0, completed.stderr
    events = fake.rpc_events()
    assert [event["event"] for event in events] == ["gateway-rpc.connect", "gateway-rpc"]
    assert events[1]["payload"]["method"] == "health"
    assert events[1]["payload"]["iteration"] == 1
    details = pass_details(fake)
    assert details["iterations"] == 1
    assert details["methods"] == ["health"]
    exact = details["byMethodUs"]["health"]
    assert exact["count"] == 1
    assert exact["stdevUs"] == 0.0
    assert exact["minUs"] == exact["p50Us"] == exact["p95Us"] == exact["p99Us"] == exact["maxUs"]
    assert exact["minUs"] == events[1]["payload"]["durationUs"]
    assert details["stats"]["p50Ms"] == events[1]["payload"]["durationMs"]


def test_status_method_measured(fake):
    completed = fake.run_cli(methods=("status",), iterations=4)

    assert completed.returncode == 0, completed.stderr
    events = fake.rpc_events()
    assert len(events) == 1 + 4
    assert [payload["iteration"] for payload in sample_payloads(fake)] == [1, 2, 3, 4]
    assert {payload["method"] for payload in sample_payloads(fake)} == {"status"}
    assert [event["method"] for event in fake.events("request")] == ["status"] * 4
    details = pass_details(fake)
    assert details["methods"] == ["status"]
    assert details["byMethodUs"]["status"]["count"] == 4
    assert scenario(fake)["rttMeasurement"]["method"] == "status"
