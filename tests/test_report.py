import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from gwrtt.exact import exact_stats, histogram
from gwrtt.gates import Gate, evaluate_gate
from gwrtt.report import format_histogram, format_ms, format_table, render_junit, render_markdown_report


def stats(count, min_us, p50_us, p95_us, p99_us, max_us, mean_us=None):
    return {
        "count": count,
        "minUs": min_us,
        "meanUs": p50_us if mean_us is None else mean_us,
        "stdevUs": 0.0,
        "p50Us": p50_us,
        "p90Us": p95_us,
        "p95Us": p95_us,
        "p99Us": p99_us,
        "maxUs": max_us,
    }


BY_METHOD = {
    "health": stats(10, 512.0, 601.4, 911.0, 912.5, 12345.678, mean_us=600.0),
    "config.get": stats(10, 1000.0, 1500.5, 2000.0, 2999.999, 3000.0, mean_us=1500.0),
}
OVERALL = stats(20, 512.0, 1000.0, 2999.999, 3000.0, 12345.678)
STARTED = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
FINISHED = datetime(2025, 1, 2, 3, 4, 7, tzinfo=timezone.utc)


# --- format_ms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value_us, text",
    [
        (0.0, "0.000"),
        (512.0, "0.512"),
        (512.5, "0.513"),  # half up
        (512.4999, "0.512"),
        (1500.5, "1.501"),  # 1.5005 has no exact binary form, yet still rounds up
        (2999.999, "3.000"),
        (12345.678, "12.346"),
    ],
)
def test_format_ms_three_decimals(value_us, text):
    assert format_ms(value_us) == text


def test_format_ms_more_decimals():
    assert format_ms(1234.567, 6) == "1.234567"
    assert format_ms(0.5, 4) == "0.0005"


# --- format_table -----------------------------------------------------------------------------


def test_format_table_rows_and_alignment():
    text = format_table(BY_METHOD, OVERALL)

    assert text.splitlines() == [
        "method      count    min    p50    p95    p99     max  (ms)",
        "health         10  0.512  0.601  0.911  0.913  12.346",
        "config.get     10  1.000  1.501  2.000  3.000   3.000",
        "all            20  0.512  1.000  3.000  3.000  12.346",
    ]
    assert not text.endswith("\n")


def test_format_table_throughput_block():
    lines = format_table(BY_METHOD, OVERALL, throughput_rps=812.5).splitlines()

    assert lines[-2] == ""
    assert lines[-1] == "throughput: 812.5 requests/s"


def test_format_table_without_throughput_has_no_line():
    assert "throughput" not in format_table(BY_METHOD, OVERALL)


def test_format_table_short_names():
    text = format_table({"a": stats(1, 1.0, 1.0, 1.0, 1.0, 1.0)}, stats(1, 1.0, 1.0, 1.0, 1.0, 1.0))

    assert text.splitlines() == [
        "method  count    min    p50    p95    p99    max  (ms)",
        "a           1  0.001  0.001  0.001  0.001  0.001",
        "all         1  0.001  0.001  0.001  0.001  0.001",
    ]


def test_format_table_from_exact_stats():
    by_method = {"health": exact_stats([1_000_000, 2_000_000])}
    text = format_table(by_method, exact_stats([1_000_000, 2_000_000]))

    assert text.splitlines()[1] == "health      2  1.000  1.000  2.000  2.000  2.000"


# --- format_histogram -------------------------------------------------------------------------


def test_format_histogram_bars_proportional():
    bins = [(0.0, 2.0, 2), (2.0, 4.0, 0), (4.0, 6.0, 4)]

    assert format_histogram(bins, width=8).splitlines() == [
        "0.000 - 0.002 ms |■■■■     2",
        "0.002 - 0.004 ms |         0",
        "0.004 - 0.006 ms |■■■■■■■■ 4",
    ]


def test_format_histogram_small_count_still_visible():
    lines = format_histogram([(0.0, 1000.0, 1), (1000.0, 2000.0, 100)], width=10, bar_char="#").splitlines()

    assert lines == [
        "0.000 - 1.000 ms |#            1",
        "1.000 - 2.000 ms |########## 100",
    ]


def test_format_histogram_right_aligns_ranges():
    lines = format_histogram([(9000.0, 10000.0, 1), (10000.0, 11000.0, 1)], width=2).splitlines()

    assert lines == [
        " 9.000 - 10.000 ms |■■ 1",
        "10.000 - 11.000 ms |■■ 1",
    ]


def test_format_histogram_adds_decimals_for_narrow_bins():
    lines = format_histogram([(0.0, 0.5, 1), (0.5, 1.0, 3)], width=3).splitlines()

    assert lines == [
        "0.0000 - 0.0005 ms |■   1",
        "0.0005 - 0.0010 ms |■■■ 3",
    ]


def test_format_histogram_one_line_per_bin():
    durations = [k * 1000 for k in range(1, 101)]

    assert len(format_histogram(histogram(durations, bins=10)).splitlines()) == 10


def test_format_histogram_single_bin():
    assert format_histogram(histogram([7_000_000] * 3), width=5) == "7.000 - 7.000 ms |■■■■■ 3"


def test_format_histogram_zero_width_bins_keep_three_decimals():
    lines = format_histogram(histogram([0, 1_000_000], bins=2) + [(1000.0, 1000.0, 0)], width=1).splitlines()

    assert lines == [
        "0.000 - 0.500 ms |■ 1",
        "0.500 - 1.000 ms |■ 1",
        "1.000 - 1.000 ms |  0",
    ]


def test_format_histogram_empty():
    assert format_histogram([]) == ""


def test_format_histogram_rejects_zero_width():
    with pytest.raises(ValueError, match="width"):
        format_histogram([(0.0, 1.0, 1)], width=0)


# --- render_markdown_report -------------------------------------------------------------------


def test_markdown_report_pass():
    gate = evaluate_gate(Gate("p95", "health", 5.0), BY_METHOD["health"])

    text = render_markdown_report(
        status="pass",
        started_at=STARTED,
        finished_at=FINISHED,
        details='{"iterations":10}',
        by_method_exact=BY_METHOD,
        overall_exact=OVERALL,
        throughput_rps=812.5,
        gate_results=[gate],
    )

    assert text == (
        "# QA suite report\n"
        "\n"
        "- Started: 2025-01-02T03:04:05.678Z\n"
        "- Finished: 2025-01-02T03:04:07.000Z\n"
        "- Status: pass\n"
        "- Scenarios: 1 total, 1 passed, 0 failed\n"
        "\n"
        "## Gateway RPC loopback smoke (`rpc-gateway-smoke`)\n"
        "\n"
        "Status: pass\n"
        "\n"
        "Round-trip time per method, in milliseconds:\n"
        "\n"
        "| method | count | min | p50 | p95 | p99 | max |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| health | 10 | 0.512 | 0.601 | 0.911 | 0.913 | 12.346 |\n"
        "| config.get | 10 | 1.000 | 1.501 | 2.000 | 3.000 | 3.000 |\n"
        "| all | 20 | 0.512 | 1.000 | 3.000 | 3.000 | 12.346 |\n"
        "\n"
        "Throughput: 812.5 requests/s\n"
        "\n"
        "### Gates\n"
        "\n"
        "- pass: health p95 is 0.911 ms, within the limit of 5 ms (--max-p95-ms health=5)\n"
    )


def test_markdown_report_failure_before_measuring():
    details = "gateway exited with code 1 before it was ready\nstderr: ```boom```"

    text = render_markdown_report(status="fail", started_at=STARTED, finished_at=FINISHED, details=details)

    assert "- Status: fail\n" in text
    assert "- Scenarios: 1 total, 0 passed, 1 failed\n" in text
    assert "| method |" not in text
    assert "Throughput" not in text
    assert "### Gates" not in text
    # The details contain a run of three backticks, so the fence needs four.
    assert text.endswith("### Details\n\n````text\n" + details + "\n````\n")


def test_markdown_report_failed_gate_keeps_table():
    gate = evaluate_gate(Gate("p95", "health", 0.5), BY_METHOD["health"])

    text = render_markdown_report(
        status="fail",
        started_at=STARTED,
        finished_at=FINISHED,
        details=gate.message,
        by_method_exact=BY_METHOD,
        overall_exact=OVERALL,
    )
    text_with_gate = render_markdown_report(
        status="fail",
        started_at=STARTED,
        finished_at=FINISHED,
        by_method_exact=BY_METHOD,
        gate_results=[gate],
    )

    assert "| health | 10 | 0.512 | 0.601 | 0.911 | 0.913 | 12.346 |\n" in text
    assert "```text\nhealth p95 is 0.911 ms, above the limit of 0.5 ms (--max-p95-ms health=0.5)\n```\n" in text
    assert "- fail: health p95 is 0.911 ms, above the limit of 0.5 ms (--max-p95-ms health=0.5)\n" in text_with_gate
    assert "| all |" not in text_with_gate


def test_markdown_report_escapes_pipe_in_method():
    text = render_markdown_report(
        status="pass",
        started_at=STARTED,
        finished_at=FINISHED,
        by_method_exact={"a|b": stats(1, 1.0, 1.0, 1.0, 1.0, 1.0)},
    )

    assert "| a\\|b | 1 | 0.001 | 0.001 | 0.001 | 0.001 | 0.001 |\n" in text


# --- render_junit -----------------------------------------------------------------------------


def parse_junit(text):
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_pass():
    suite = parse_junit(render_junit(by_method_exact=BY_METHOD, properties={"iterations": 10, "methods": ["health", "config.get"]}))

    assert suite.tag == "testsuite"
    assert suite.get("name") == "gwrtt"
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"
    # 10 × 600 µs + 10 × 1500 µs
    assert suite.get("time") == "0.021000"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["health", "config.get"]
    assert [case.get("classname") for case in cases] == ["gwrtt.rpc-gateway-smoke"] * 2
    assert [case.get("time") for case in cases] == ["0.006000", "0.015000"]
    assert suite.find("testcase/failure") is None
    properties = {prop.get("name"): prop.get("value") for prop in suite.findall("properties/property")}
    assert properties == {"iterations": "10", "methods": "health,config.get"}


def test_junit_gate_failure_on_its_method():
    results = [
        evaluate_gate(Gate("p95", "health", 0.5), BY_METHOD["health"]),
        evaluate_gate(Gate("p50", "config.get", 5.0), BY_METHOD["config.get"]),
    ]

    suite = parse_junit(render_junit(by_method_exact=BY_METHOD, gate_results=results, elapsed_s=1.5))

    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    assert suite.get("time") == "1.500000"
    health, config_get = suite.findall("testcase")
    failure = health.find("failure")
    assert failure.get("message") == "health p95 is 0.911 ms, above the limit of 0.5 ms (--max-p95-ms health=0.5)"
    assert failure.text == failure.get("message")
    assert config_get.find("failure") is None


def test_junit_two_failed_gates_share_one_failure():
    results = [
        evaluate_gate(Gate("p50", "health", 0.5), BY_METHOD["health"]),
        evaluate_gate(Gate("p95", "health", 0.5), BY_METHOD["health"]),
    ]

    suite = parse_junit(render_junit(by_method_exact=BY_METHOD, gate_results=results))

    failures = suite.findall("testcase/failure")
    assert len(failures) == 1
    assert failures[0].get("message") == f"{results[0].message}; {results[1].message}"
    assert failures[0].text == f"{results[0].message}\n{results[1].message}"


def test_junit_failure_before_measuring_escapes():
    details = 'gateway exited with code 1 <&"quoted">\nsecond line & more'

    text = render_junit(failure=details)
    suite = parse_junit(text)

    assert suite.get("tests") == "1"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "0"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "rpc-gateway-smoke"
    assert case.get("classname") == "gwrtt.rpc-gateway-smoke"
    failure = case.find("failure")
    assert failure.get("message") == 'gateway exited with code 1 <&"quoted">'
    assert failure.text == details
    assert 'message="gateway exited with code 1 &lt;&amp;&quot;quoted&quot;&gt;"' in text


def test_junit_replaces_characters_xml_forbids():
    details = "gateway stderr: \x1b[31merror\x1b[0m\x00"

    suite = parse_junit(render_junit(failure=details))

    assert suite.find("testcase/failure").text == "gateway stderr: \\x1b[31merror\\x1b[0m\\x00"


def test_junit_failure_after_measuring_adds_testcase():
    suite = parse_junit(render_junit(by_method_exact=BY_METHOD, failure="failed to remove the temporary root"))

    assert suite.get("tests") == "3"
    assert suite.get("failures") == "1"
    assert [case.get("name") for case in suite.findall("testcase")] == ["health", "config.get", "rpc-gateway-smoke"]


def test_junit_escapes_method_name():
    suite = parse_junit(render_junit(by_method_exact={'a<b&"c"': stats(1, 1.0, 1.0, 1.0, 1.0, 1.0)}))

    assert suite.find("testcase").get("name") == 'a<b&"c"'


def test_junit_empty_failure_text():
    suite = parse_junit(render_junit(failure=""))

    assert suite.find("testcase/failure").get("message") == "failed"


def test_junit_rejects_nothing_to_report():
    with pytest.raises(ValueError, match="failure"):
        render_junit()


def test_junit_time_uses_elapsed_seconds():
    root = ET.fromstring(render_junit(by_method_exact=BY_METHOD, seconds_by_method={method: 0.25 for method in BY_METHOD}))
    assert [case.get("time") for case in root.iter("testcase")] == ["0.250000"] * len(BY_METHOD)
