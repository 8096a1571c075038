import pytest

from gwrtt.errors import UsageError
from gwrtt.exact import exact_stats
from gwrtt.gates import (
    Gate,
    GateResult,
    check_gate_methods,
    evaluate_gate,
    evaluate_gates,
    format_limit,
    parse_gate,
)


def stats_with(p50_us=1000.0, p95_us=2000.0):
    """Return exact statistics with the given p50 and p95. Gates read no other value."""
    return {
        "count": 10,
        "minUs": 500.0,
        "meanUs": 1500.0,
        "stdevUs": 100.0,
        "p50Us": p50_us,
        "p90Us": 1900.0,
        "p95Us": p95_us,
        "p99Us": 9999.0,
        "maxUs": 9999.0,
    }


# --- parse_gate -------------------------------------------------------------------------------


def test_parse_gate_p95():
    gate = parse_gate("--max-p95-ms", "health=5")

    assert gate == Gate("p95", "health", 5.0)
    assert gate.option == "--max-p95-ms"


def test_parse_gate_p50_with_fraction():
    gate = parse_gate("--max-p50-ms", "config.get=2.5")

    assert gate == Gate("p50", "config.get", 2.5)
    assert gate.option == "--max-p50-ms"


def test_parse_gate_strips_whitespace():
    assert parse_gate("--max-p95-ms", " health = 0.25 ") == Gate("p95", "health", 0.25)


def test_parse_gate_splits_at_last_equals():
    assert parse_gate("--max-p95-ms", "a=b=3") == Gate("p95", "a=b", 3.0)


@pytest.mark.parametrize(
    "text",
    ["health", "health=", "=5", "health=0", "health=-1", "health=abc", "health=nan", "health=inf", "he alth=5", "", "5"],
)
def test_parse_gate_rejects_invalid(text):
    with pytest.raises(UsageError) as caught:
        parse_gate("--max-p95-ms", text)

    assert str(caught.value) == f"--max-p95-ms: expected METHOD=MS with MS a number greater than 0, got {text!r}"


def test_parse_gate_message_names_option():
    with pytest.raises(UsageError) as caught:
        parse_gate("--max-p50-ms", "health")

    assert str(caught.value) == "--max-p50-ms: expected METHOD=MS with MS a number greater than 0, got 'health'"


def test_parse_gate_rejects_unknown_option():
    with pytest.raises(ValueError, match="--max-p99-ms"):
        parse_gate("--max-p99-ms", "health=5")


# --- Gate and format_limit --------------------------------------------------------------------


def test_gate_str_is_option_and_value():
    assert str(Gate("p95", "health", 5.0)) == "--max-p95-ms health=5"
    assert str(Gate("p50", "config.get", 2.5)) == "--max-p50-ms config.get=2.5"


@pytest.mark.parametrize(
    "limit, text",
    [(5.0, "5"), (5, "5"), (2.5, "2.5"), (100.0, "100"), (0.1, "0.1"), (0.00001, "0.00001"), (12.345678, "12.345678")],
)
def test_format_limit(limit, text):
    assert format_limit(limit) == text


def test_gate_rejects_unknown_quantile():
    with pytest.raises(ValueError, match="p75"):
        Gate("p75", "health", 5.0)


# --- check_gate_methods -----------------------------------------------------------------------


def test_check_gate_methods_accepts_measured():
    gates = [Gate("p95", "health", 5.0), Gate("p50", "config.get", 2.0)]

    check_gate_methods(gates, ["health", "config.get"])
    check_gate_methods([], ["health"])


def test_check_gate_methods_rejects_unmeasured():
    gates = [Gate("p95", "health", 5.0), Gate("p50", "helth", 2.0)]

    with pytest.raises(UsageError) as caught:
        check_gate_methods(gates, ("health", "config.get"))

    assert str(caught.value) == (
        "--max-p50-ms: method 'helth' is not one of the measured methods (health, config.get). "
        "Fix the name or add the method to --methods."
    )


# --- evaluate_gate and evaluate_gates ---------------------------------------------------------


def test_evaluate_gates_reports_violation():
    violations = evaluate_gates([Gate("p95", "health", 5.0)], {"health": stats_with(p95_us=7123.0)})

    assert len(violations) == 1
    violation = violations[0]
    assert isinstance(violation, GateResult)
    assert violation.passed is False
    assert violation.value_ms == 7.123
    assert violation.message == "health p95 is 7.123 ms, above the limit of 5 ms (--max-p95-ms health=5)"


def test_evaluate_gates_value_equal_to_limit_passes():
    assert evaluate_gates([Gate("p95", "health", 5.0)], {"health": stats_with(p95_us=5000.0)}) == []


def test_evaluate_gates_one_ns_above_limit_fails():
    violations = evaluate_gates([Gate("p95", "health", 5.0)], {"health": stats_with(p95_us=5000.001)})

    assert len(violations) == 1
    # Three decimals would print 5.000 ms, which does not look above 5 ms.
    assert violations[0].message == "health p95 is 5.000001 ms, above the limit of 5 ms (--max-p95-ms health=5)"


def test_evaluate_gates_compares_decimal_limits_exactly():
    # 0.1 ms is 100 µs exactly, even though 0.1 has no exact binary form.
    gate = Gate("p95", "health", 0.1)

    assert evaluate_gates([gate], {"health": stats_with(p95_us=100.0)}) == []
    assert len(evaluate_gates([gate], {"health": stats_with(p95_us=100.001)})) == 1


def test_evaluate_gates_uses_the_gate_quantile():
    stats = {"health": stats_with(p50_us=3000.0, p95_us=9000.0)}

    assert evaluate_gates([Gate("p50", "health", 4.0)], stats) == []
    violations = evaluate_gates([Gate("p95", "health", 4.0)], stats)
    assert [violation.message for violation in violations] == [
        "health p95 is 9.000 ms, above the limit of 4 ms (--max-p95-ms health=4)"
    ]


def test_evaluate_gates_keeps_gate_order():
    by_method = {"health": stats_with(p50_us=3000.0, p95_us=9000.0), "config.get": stats_with(p50_us=6500.5)}
    gates = [
        Gate("p50", "config.get", 2.5),
        Gate("p95", "health", 10.0),
        Gate("p50", "health", 1.0),
    ]

    violations = evaluate_gates(gates, by_method)

    assert [violation.gate for violation in violations] == [gates[0], gates[2]]
    assert violations[0].message == "config.get p50 is 6.501 ms, above the limit of 2.5 ms (--max-p50-ms config.get=2.5)"


def test_evaluate_gates_rejects_unmeasured_method():
    with pytest.raises(UsageError, match="'status'"):
        evaluate_gates([Gate("p95", "status", 5.0)], {"health": stats_with()})


def test_evaluate_gate_reports_pass():
    result = evaluate_gate(Gate("p95", "health", 5.0), stats_with(p95_us=3210.0))

    assert result.passed is True
    assert result.value_ms == 3.21
    assert result.message == "health p95 is 3.210 ms, within the limit of 5 ms (--max-p95-ms health=5)"


def test_evaluate_gates_on_exact_stats():
    # p95 of 20 samples is the 19th. The reference statistics round its 5.0004 ms to 5 ms,
    # but the exact value is above a 5 ms limit.
    by_method = {"health": exact_stats([1_000_000] * 18 + [5_000_400] * 2)}

    violations = evaluate_gates([Gate("p95", "health", 5.0)], by_method)
    assert [violation.message for violation in violations] == [
        "health p95 is 5.0004 ms, above the limit of 5 ms (--max-p95-ms health=5)"
    ]
