"""The fault matrix behind docs/reliability.md: each fault or bad input, its tests, the outcome.

``python tests/reliability_matrix.py > docs/reliability.md`` writes the document.
tests/test_reliability_doc.py checks that the document is current and that every test it names
exists, so the table cannot drift from the suite.
"""

from dataclasses import dataclass

FAULT_OUTCOME = "summary `status: fail`; gateway tree gone within 3 s; temporary root removed"
USAGE_OUTCOME = "exit 2; one `gwrtt: error:` line naming the option or file and the value; nothing created; no gateway started"


@dataclass(frozen=True)
class Row:
    key: str
    situation: str
    tests: tuple
    outcome: str


def bad(case):
    return f"tests/test_options.py::test_bad_argument_exits_2_creates_nothing[{case}]"


FAULTS = (
    Row("F1", "The gateway exits before it is ready",
        ("tests/test_faults.py::test_exit_early_cli_reports_stderr",),
        f"exit 1; details name the exit code and end with the gateway's stderr tail; {FAULT_OUTCOME}; an orphaned worker is killed too"),
    Row("F2", "The gateway never becomes ready",
        ("tests/test_faults.py::test_never_ready_honours_timeout", "tests/test_faults.py::test_slow_probes_keep_last_status"),
        f"with `--ready-timeout 2` the run ends after 2.0 to 3.0 s; details name the timeout and the last `/readyz` answer; {FAULT_OUTCOME}"),
    Row("F3", "The port is taken between allocation and bind",
        ("tests/test_faults.py::test_port_taken_twice_then_passes", "tests/test_faults.py::test_port_taken_always_cli_fails"),
        "taken twice: 3 launches on 3 ports, then pass; taken every time: 4 launches (3 retries), then exit 1 with the EADDRINUSE line in details"),
    Row("F4", "The WebSocket closes in the middle of the run",
        ("tests/test_faults.py::test_close_frame_mid_run", "tests/test_faults.py::test_tcp_close_mid_run"),
        f"details start with the method and iteration, e.g. `health (iteration 3 of 5): `, and give the close code; the run ends within 5 s; {FAULT_OUTCOME}"),
    Row("F5", "A request gets no answer",
        ("tests/test_faults.py::test_no_answer_times_out", "tests/test_faults.py::test_no_answer_later_iteration"),
        f"`--request-timeout 1` honoured (waited 0.95 to 1.5 s); details `timeout waiting for health (iteration 1 of 3) after 1 s`; {FAULT_OUTCOME}"),
    Row("F6", "A method answers `ok: false`",
        ("tests/test_faults.py::test_method_fails_cli_exact_details",),
        f"exit 1; details exactly `health failed: {{\"code\":\"INVALID_REQUEST\",\"message\":\"boom\"}}`, the reference's message; {FAULT_OUTCOME}"),
    Row("F7", "`connect` is rejected (wrong token)",
        ("tests/test_faults.py::test_reject_connect_cli_not_retried", "tests/test_faults.py::test_unavailable_first_retried"),
        "exit 1; details carry the gateway's code and message; exactly one connect attempt; a retryable `UNAVAILABLE` is retried after `retryAfterMs` and passes"),
    Row("F8", "Frames that are not JSON, unknown types, unsolicited events, stray or odd response ids",
        ("tests/test_faults.py::test_noise_frames_ignored", "tests/test_faults.py::test_noise_odd_ids_ignored", "tests/test_measurement.py::test_reverse_order_matched_by_id"),
        "pass; every iteration recorded once; responses answered in reverse order are matched by id"),
    Row("F9", "A response larger than 1 MiB",
        ("tests/test_faults.py::test_big_response_passes",),
        "pass with a 2 MiB payload; the payload is not written to any artifact"),
    Row("F10", "SIGINT, SIGTERM or SIGHUP before ready, while measuring, during cleanup",
        ("tests/test_signals.py::test_signal_stops_run_cleanly", "tests/test_real_gateway.py::test_signal_real_gateway",
         "tests/test_embedding.py::test_sigint_reraised_as_keyboard_interrupt"),
        f"exit 128 + n within 5 s (9 combinations on the fake gateway, 3 on the real one); details `interrupted by SIGTERM while measuring` and the like; {FAULT_OUTCOME}; the API re-raises the signal"),
    Row("F11", "gwrtt itself is killed with SIGKILL",
        ("tests/test_real_gateway.py::test_sigkill_guard_stops_tree",),
        "the guard process stops the real gateway's tree within 3 s, removes the temporary root, copies the logs and writes a failed summary"),
    Row("F12", "A gateway descendant escaped the process group (setsid, double fork)",
        ("tests/test_faults.py::test_escaped_processes_killed", "tests/test_faults.py::test_escape_ignoring_sigterm_killed",
         "tests/test_faults.py::test_escape_during_shutdown_killed", "tests/test_faults.py::test_ignore_sigterm_sigkilled"),
        "found by the run's environment marker and killed; SIGKILL after 1.5 s for processes that ignore SIGTERM; pass"),
    Row("F13", "The temporary root cannot be removed",
        ("tests/test_environment.py::test_temp_root_not_removable",),
        "exit 1; details end with `failed to remove RPC RTT temp root: EPERM: operation not permitted, unlink '<path>'`, as the reference reports it"),
    Row("F14", "The output folder is a file or is not writable",
        ("tests/test_environment.py::test_output_dir_is_a_file", "tests/test_environment.py::test_output_dir_not_writable",
         "tests/test_environment.py::test_output_dir_is_a_file_real_gateway", "tests/test_environment.py::test_output_dir_not_writable_real_gateway"),
        USAGE_OUTCOME),
    Row("F15", "`HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` point at a closed port",
        ("tests/test_environment.py::test_dead_proxies_ignored", "tests/test_real_gateway.py::test_cli_run_passes_and_leaves_nothing"),
        "pass: readiness probes and the WebSocket go straight to 127.0.0.1"),
)

BAD_INPUTS = (
    Row("B1", "Zero iterations", (bad("--iterations 0"),), USAGE_OUTCOME),
    Row("B2", "Negative iterations", (bad("--iterations -3"),), USAGE_OUTCOME),
    Row("B3", "Fractional iterations", (bad("--iterations 2.5"),), USAGE_OUTCOME),
    Row("B4", "Non-numeric iterations", (bad("--iterations ten"),), USAGE_OUTCOME),
    Row("B5", "Huge iterations", (bad("--iterations 100000000"),), USAGE_OUTCOME),
    Row("B6", "Empty methods", (bad("--methods "),), USAGE_OUTCOME),
    Row("B7", "Methods made only of commas", (bad("--methods ,,,"),), USAGE_OUTCOME),
    Row("B8", "Unknown option", (bad("--frobnicate"),), USAGE_OUTCOME),
    Row("B9", "Missing option value", (bad("--iterations"), "tests/test_options.py::test_missing_output_dir_exits_2"), USAGE_OUTCOME),
    Row("B10", "Repo root that does not exist", (bad("--repo-root /nonexistent/openclaw"), "tests/test_environment.py::test_repo_root_missing"), USAGE_OUTCOME),
    Row("B11", "Repo root that is not OpenClaw", ("tests/test_environment.py::test_repo_root_not_openclaw",), USAGE_OUTCOME),
    Row("B12", "Node missing", ("tests/test_environment.py::test_node_missing_cli",), USAGE_OUTCOME),
    Row("B13", "Node too old for `engines.node`", ("tests/test_environment.py::test_node_too_old_cli",), f"{USAGE_OUTCOME}; the line names the version found and the range needed"),
    Row("B14", "Unreadable `version.ts`", ("tests/test_environment.py::test_unreadable_version_ts_cli",), USAGE_OUTCOME),
    Row("B15", "`--protocol` that is not `MIN:MAX`", (bad("--protocol 4"), bad("--protocol 5:4")), USAGE_OUTCOME),
    Row("B16", "Negative timeout", (bad("--ready-timeout -1"),), USAGE_OUTCOME),
    Row("B17", "Timeout that is not a number", (bad("--request-timeout fast"),), USAGE_OUTCOME),
)


def render():
    """Return docs/reliability.md."""
    lines = [
        "# Reliability",
        "",
        "What gwrtt does when things go wrong, and the tests that show it. Every row names the tests",
        "that assert the outcome; tests/test_reliability_doc.py fails when a named test is missing or",
        "this page is out of date (regenerate it with `python tests/reliability_matrix.py > docs/reliability.md`).",
        "",
        "Faults on demand come from tests/fake_gateway.py, a fake gateway started through the same",
        "launch path as the real one. Rows that name tests/test_real_gateway.py or a `real_gateway` test",
        "run against the real OpenClaw gateway.",
        "",
        f"## Faults ({len(FAULTS)})",
        "",
        *_table(FAULTS),
        "",
        f"## Bad input ({len(BAD_INPUTS)})",
        "",
        *_table(BAD_INPUTS),
        "",
        "## Embedding",
        "",
        "- `tests/test_embedding.py::test_two_runs_leave_no_threads_descriptors_or_handlers`: two runs in",
        "  one process leave the thread count, the open descriptors and the signal handlers as they were.",
        "- `tests/test_embedding.py::test_run_from_worker_thread_installs_no_handlers`: a run from a",
        "  worker thread installs no signal handlers and logs that at debug level.",
        "- `tests/test_embedding.py::test_atexit_handler_unregistered_after_run`: the atexit handler is",
        "  removed after the run.",
        "",
    ]
    return "\n".join(lines)


def _table(rows):
    lines = ["| | situation | tests | outcome the tests assert |", "|---|---|---|---|"]
    for row in rows:
        tests = "<br>".join(f"`{test}`" for test in row.tests)
        lines.append(f"| {row.key} | {row.situation} | {tests} | {row.outcome} |")
    return lines


def named_tests():
    return [test for row in FAULTS + BAD_INPUTS for test in row.tests]


if __name__ == "__main__":
    print(render(), end="")
