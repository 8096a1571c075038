"""Reports for people and CI: a terminal table, a text histogram, ``qa-suite-report.md`` and JUnit XML.

Statistics come from :func:`gwrtt.exact.exact_stats`, in microseconds. Times are shown in
milliseconds with three decimals, rounded half up, so 0.5125 ms reads ``0.513``. Nothing here
reads or writes files.
"""

import re
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal

from .artifacts import SCENARIO_ID, SCENARIO_TITLE, iso_timestamp

TABLE_COLUMNS = ("count", "min", "p50", "p95", "p99", "max")
# Statistic keys in the order of the millisecond columns of TABLE_COLUMNS.
TIME_KEYS = ("minUs", "p50Us", "p95Us", "p99Us", "maxUs")
OVERALL_LABEL = "all"
JUNIT_SUITE = "gwrtt"
JUNIT_CLASSNAME = f"gwrtt.{SCENARIO_ID}"
# Characters that XML 1.0 does not allow, even escaped. Gateway output can contain some of them,
# for example the ESC of a terminal color code.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def format_ms(value_us, decimals=3):
    """Format microseconds as milliseconds with ``decimals`` decimals, rounded half up."""
    milliseconds = Decimal(str(value_us)) / 1000
    return format(milliseconds.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP), "f")


def format_table(by_method_exact, overall_exact, throughput_rps=None):
    """Format a per-method table of round-trip times in milliseconds for a terminal.

    ``by_method_exact`` maps each method to its exact statistics, in display order, and
    ``overall_exact`` are the statistics of all samples, shown as the last row, labelled ``all``.
    The columns are method, count, min, p50, p95, p99 and max, right-aligned, and the header line
    ends with ``(ms)``. When ``throughput_rps`` is given, a blank line and
    ``throughput: N requests/s`` follow. The text ends without a newline.
    """
    rows = list(by_method_exact.items())
    rows.append((OVERALL_LABEL, overall_exact))
    cells = [[label, str(stats["count"]), *(format_ms(stats[key]) for key in TIME_KEYS)] for label, stats in rows]
    header = ["method", *TABLE_COLUMNS]
    widths = [max(len(row[column]) for row in [header, *cells]) for column in range(len(header))]

    lines = [_format_row(header, widths) + "  (ms)"]
    lines.extend(_format_row(row, widths) for row in cells)
    if throughput_rps is not None:
        lines.extend(["", f"throughput: {throughput_rps:.1f} requests/s"])
    return "\n".join(lines)


def format_histogram(histogram, width=40, bar_char="■"):
    """Format histogram bins as text, one line per bin: range in ms, a bar and the count.

    ``histogram`` is a list of ``(lower_us, upper_us, count)`` as :func:`gwrtt.exact.histogram`
    returns. The longest bar is ``width`` characters and the others are proportional to it, but
    a non-empty bin always gets at least one character. Edges get three decimals, or up to six
    when three would print two different neighbouring edges the same. Returns an empty string
    for no bins and raises ``ValueError`` for a width below 1.
    """
    if width < 1:
        raise ValueError(f"format_histogram() needs a width of at least 1, got {width!r}")
    if not histogram:
        return ""

    edges_us = [histogram[0][0], *(upper for _, upper, _ in histogram)]
    decimals = 3
    while decimals < 6 and _hides_a_difference(edges_us, decimals):
        decimals += 1

    largest = max(count for _, _, count in histogram)
    ranges = [f"{format_ms(lower, decimals)} - {format_ms(upper, decimals)} ms" for lower, upper, _ in histogram]
    range_width = max(len(text) for text in ranges)
    count_width = max(len(str(count)) for _, _, count in histogram)
    lines = []
    for text, (_, _, count) in zip(ranges, histogram):
        length = max(1, round(count * width / largest)) if count else 0
        lines.append(f"{text:>{range_width}} |{bar_char * length:<{width}} {count:>{count_width}}")
    return "\n".join(lines)


def render_markdown_report(
    *,
    status,
    started_at,
    finished_at,
    details="",
    by_method_exact=None,
    overall_exact=None,
    throughput_rps=None,
    gate_results=(),
):
    """Render ``qa-suite-report.md``: run times, status, statistics, gates and failure details.

    ``status`` is ``"pass"`` or ``"fail"``. ``started_at`` and ``finished_at`` are aware
    datetimes, shown as in ``qa-suite-summary.json``. ``details`` appears in a code block only
    when the status is ``"fail"``. ``by_method_exact`` and ``overall_exact`` are exact statistics
    as :func:`format_table` takes them. The table appears whenever they are given, so a run that
    failed a gate still shows its numbers. ``gate_results`` are
    :class:`gwrtt.gates.GateResult` objects, listed with pass or fail. The text ends with a
    newline.
    """
    passed = status == "pass"
    lines = [
        "# QA suite report",
        "",
        f"- Started: {iso_timestamp(started_at)}",
        f"- Finished: {iso_timestamp(finished_at)}",
        f"- Status: {status}",
        f"- Scenarios: 1 total, {1 if passed else 0} passed, {0 if passed else 1} failed",
        "",
        f"## {SCENARIO_TITLE} (`{SCENARIO_ID}`)",
        "",
        f"Status: {status}",
    ]

    if by_method_exact:
        lines.extend(["", "Round-trip time per method, in milliseconds:", ""])
        lines.extend(_markdown_table(by_method_exact, overall_exact))
    if throughput_rps is not None:
        lines.extend(["", f"Throughput: {throughput_rps:.1f} requests/s"])

    if gate_results:
        lines.extend(["", "### Gates", ""])
        for result in gate_results:
            lines.append(f"- {'pass' if result.passed else 'fail'}: {result.message}")

    if not passed and details:
        fence = "`" * max(3, _longest_backtick_run(details) + 1)
        lines.extend(["", "### Details", "", f"{fence}text", details.rstrip("\n"), fence])
    return "\n".join(lines) + "\n"


def render_junit(*, by_method_exact=None, gate_results=(), failure=None, properties=None, elapsed_s=None, seconds_by_method=None):
    """Render JUnit XML with one ``<testsuite name="gwrtt">`` for CI systems.

    Each method of ``by_method_exact`` becomes a ``<testcase classname="gwrtt.rpc-gateway-smoke"
    name=METHOD>``. Its ``time`` is the method's elapsed seconds from ``seconds_by_method``, or
    else the sum of its round trips (count times mean), which overstates it under concurrency.
    A method with a failed gate in ``gate_results`` gets a ``<failure>`` whose ``message`` joins
    the gate messages with ``; `` and whose text lists them one per line.

    ``failure`` is the details text of a failure that no gate explains, such as a gateway that
    did not start or a failed cleanup. It adds a testcase named ``rpc-gateway-smoke`` with
    ``<failure message=FIRST_LINE>FULL_TEXT</failure>``. ``properties`` maps names to values for
    the suite's ``<properties>``, and lists are joined with commas. ``elapsed_s`` sets the suite's
    ``time``, which is otherwise the sum of the testcase times.

    Characters that XML 1.0 forbids, such as terminal escape codes, are replaced by ``\\xNN``.
    ``errors`` is always 0 because every problem is reported as a failure. Raises ``ValueError``
    when there is neither a method nor a failure to report. The text ends with a newline.
    """
    if not by_method_exact and failure is None:
        raise ValueError("render_junit() needs per-method statistics or a failure")

    failed_gates = {}
    for result in gate_results:
        if not result.passed:
            failed_gates.setdefault(result.gate.method, []).append(result.message)

    testcases = []
    for method, stats in (by_method_exact or {}).items():
        if seconds_by_method and method in seconds_by_method:
            seconds = seconds_by_method[method]
        else:
            seconds = stats["count"] * stats["meanUs"] / 1_000_000
        testcase = _junit_testcase(method, seconds)
        messages = failed_gates.get(method)
        if messages:
            _junit_failure(testcase, "; ".join(messages), "\n".join(messages))
        testcases.append(testcase)
    if failure is not None:
        testcase = _junit_testcase(SCENARIO_ID, 0.0)
        lines = failure.splitlines()
        _junit_failure(testcase, lines[0] if lines else "failed", failure)
        testcases.append(testcase)

    failures = sum(1 for testcase in testcases if testcase.find("failure") is not None)
    total_s = elapsed_s if elapsed_s is not None else sum(float(testcase.get("time")) for testcase in testcases)
    suite = ET.Element(
        "testsuite",
        name=JUNIT_SUITE,
        tests=str(len(testcases)),
        failures=str(failures),
        errors="0",
        time=f"{total_s:.6f}",
    )
    if properties:
        properties_element = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(str(item) for item in value)
            ET.SubElement(properties_element, "property", name=_xml_text(name), value=_xml_text(value))
    suite.extend(testcases)

    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _format_row(cells, widths):
    first = f"{cells[0]:<{widths[0]}}"
    rest = (f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:]))
    return "  ".join([first, *rest])


def _hides_a_difference(edges_us, decimals):
    neighbours = zip(edges_us, edges_us[1:])
    return any(left != right and format_ms(left, decimals) == format_ms(right, decimals) for left, right in neighbours)


def _markdown_table(by_method_exact, overall_exact):
    rows = list(by_method_exact.items())
    if overall_exact is not None:
        rows.append((OVERALL_LABEL, overall_exact))
    lines = [
        "| method | " + " | ".join(TABLE_COLUMNS) + " |",
        "| --- |" + " ---: |" * len(TABLE_COLUMNS),
    ]
    for label, stats in rows:
        cells = [label.replace("|", "\\|"), str(stats["count"]), *(format_ms(stats[key]) for key in TIME_KEYS)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _longest_backtick_run(text):
    return max((len(run) for run in re.findall("`+", text)), default=0)


def _junit_testcase(name, seconds):
    return ET.Element("testcase", classname=JUNIT_CLASSNAME, name=_xml_text(name), time=f"{seconds:.6f}")


def _junit_failure(testcase, message, text):
    element = ET.SubElement(testcase, "failure", message=_xml_text(message))
    element.text = _xml_text(text)


def _xml_text(value):
    return _XML_INVALID.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
