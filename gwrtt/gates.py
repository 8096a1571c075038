"""Regression gates: limits on a method's p50 or p95 round-trip time that fail a run.

A gate comes from ``--max-p50-ms METHOD=MS`` or ``--max-p95-ms METHOD=MS`` and is checked
against the exact statistics of :func:`gwrtt.exact.exact_stats`. A quantile equal to the limit
passes.
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from .errors import UsageError
from .report import format_ms

# Command-line option -> quantile it limits.
GATE_OPTIONS = {"--max-p50-ms": "p50", "--max-p95-ms": "p95"}
GATE_QUANTILES = ("p50", "p90", "p95", "p99")


@dataclass(frozen=True)
class Gate:
    """An upper limit in milliseconds on one quantile of one method's round-trip time."""

    quantile: str
    method: str
    limit_ms: float

    def __post_init__(self):
        if self.quantile not in GATE_QUANTILES:
            raise ValueError(f"Gate quantile must be one of {', '.join(GATE_QUANTILES)}, got {self.quantile!r}")

    @property
    def option(self):
        """The command-line option that sets this gate, for example ``--max-p95-ms``."""
        return f"--max-{self.quantile}-ms"

    def __str__(self):
        return f"{self.option} {self.method}={format_limit(self.limit_ms)}"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate: the measured quantile in milliseconds and a one-line message."""

    gate: Gate
    value_ms: float
    passed: bool
    message: str


def parse_gate(option, text):
    """Parse the value of ``--max-p50-ms`` or ``--max-p95-ms``, ``METHOD=MS``, into a :class:`Gate`.

    ``MS`` must be a finite number greater than 0. The method is everything before the last
    ``=`` and must be non-empty without whitespace. Raises :class:`UsageError` with a one-line
    message naming the option and the value, or ``ValueError`` for an option that is not a gate
    option.
    """
    quantile = GATE_OPTIONS.get(option)
    if quantile is None:
        raise ValueError(f"unknown gate option {option!r}, expected one of {', '.join(GATE_OPTIONS)}")

    method, separator, number = str(text).strip().rpartition("=")
    method = method.strip()
    try:
        limit_ms = float(number)
    except ValueError:
        limit_ms = math.nan
    valid_method = method and not any(char.isspace() for char in method)
    if not separator or not valid_method or not math.isfinite(limit_ms) or limit_ms <= 0:
        raise UsageError(f"{option}: expected METHOD=MS with MS a number greater than 0, got {text!r}")
    return Gate(quantile, method, limit_ms)


def check_gate_methods(gates, methods):
    """Raise :class:`UsageError` for the first gate whose method is not in ``methods``."""
    measured = list(methods)
    for gate in gates:
        if gate.method not in measured:
            raise UsageError(
                f"{gate.option}: method {gate.method!r} is not one of the measured methods ({', '.join(measured)}). "
                "Fix the name or add the method to --methods."
            )


def evaluate_gate(gate, method_stats):
    """Check one gate against one method's exact statistics and return a :class:`GateResult`.

    The comparison is exact to the nanosecond. The message shows the quantile with three
    decimals, or more when three would hide why the gate passed or failed, for example
    ``health p95 is 7.123 ms, above the limit of 5 ms (--max-p95-ms health=5)``.
    """
    value_us = method_stats[f"{gate.quantile}Us"]
    exact_ms = Decimal(str(value_us)) / 1000
    limit = Decimal(repr(float(gate.limit_ms)))
    passed = exact_ms <= limit

    decimals = 3
    while decimals < 6 and (Decimal(format_ms(value_us, decimals)) <= limit) != passed:
        decimals += 1
    verdict = "within" if passed else "above"
    message = (
        f"{gate.method} {gate.quantile} is {format_ms(value_us, decimals)} ms, "
        f"{verdict} the limit of {format_limit(gate.limit_ms)} ms ({gate})"
    )
    return GateResult(gate, float(exact_ms), passed, message)


def evaluate_gates(gates, by_method_exact):
    """Check every gate and return the violations, in the order of ``gates``.

    ``by_method_exact`` maps each method to its :func:`~gwrtt.exact.exact_stats` dict. Raises
    :class:`UsageError` when a gate names a method that has no statistics.
    """
    check_gate_methods(gates, by_method_exact)
    results = [evaluate_gate(gate, by_method_exact[gate.method]) for gate in gates]
    return [result for result in results if not result.passed]


def format_limit(limit_ms):
    """Format a limit in milliseconds as a person types it: ``5`` for 5.0, ``2.5`` for 2.5."""
    return format(Decimal(repr(float(limit_ms))).normalize(), "f")
