"""Run options shared by the command line and the Python API, and their validation."""

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UsageError
from .gates import Gate, check_gate_methods

DEFAULT_METHODS = ("health", "config.get")
DEFAULT_ITERATIONS = 10
# Larger counts are almost surely typing mistakes: at 1 ms a request, a million per method
# already takes over 15 minutes.
MAX_ITERATIONS = 1_000_000
DEFAULT_READY_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 10.0
# One worker thread per request in flight; beyond this the GIL, not the gateway, sets the pace.
MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class RunOptions:
    """Everything one measurement run needs to know.

    Paths may be given as strings. Call :meth:`validated` (``Runner`` does) to get a copy with
    resolved paths and checked values; it raises :class:`~gwrtt.errors.UsageError` otherwise.
    Timeouts are in seconds.
    """

    output_dir: Path
    repo_root: Path | None = None
    iterations: int = DEFAULT_ITERATIONS
    methods: tuple[str, ...] = DEFAULT_METHODS
    node: str | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    protocol: str | None = None
    gateway_command: tuple[str, ...] | None = None
    warmup: int = 0
    concurrency: int = 1
    connections: int = 1
    gates: tuple[Gate, ...] = ()
    junit_path: Path | None = None
    url: str | None = None
    token_file: Path | None = None
    token_env: str | None = None

    @property
    def attach(self):
        """True when measuring a running gateway at ``url`` instead of starting one."""
        return self.url is not None

    def validated(self):
        """Return a checked copy with absolute paths, or raise ``UsageError``."""
        if not self.output_dir:
            raise UsageError("--output-dir is required")

        methods = parse_methods(self.methods) if isinstance(self.methods, str) else tuple(self.methods)
        check_methods(methods)
        check_iterations(self.iterations)
        check_count("--warmup", self.warmup, minimum=0, maximum=MAX_ITERATIONS)
        check_count("--concurrency", self.concurrency, minimum=1, maximum=MAX_IN_FLIGHT)
        check_count("--connections", self.connections, minimum=1, maximum=MAX_IN_FLIGHT)
        if self.concurrency * self.connections > MAX_IN_FLIGHT:
            raise UsageError(
                f"--concurrency {self.concurrency} times --connections {self.connections} is more than "
                f"{MAX_IN_FLIGHT} requests in flight"
            )
        check_timeout("--ready-timeout", self.ready_timeout)
        check_timeout("--request-timeout", self.request_timeout)
        check_gate_methods(self.gates, methods)
        if self.gateway_command is not None and not self.gateway_command:
            raise UsageError("--gateway-command: empty command")
        self._check_attach_options()

        return replace(
            self,
            output_dir=_absolute(self.output_dir),
            repo_root=_absolute(self.repo_root) if self.repo_root else None,
            methods=methods,
            ready_timeout=float(self.ready_timeout),
            request_timeout=float(self.request_timeout),
            gateway_command=tuple(self.gateway_command) if self.gateway_command else None,
            gates=tuple(self.gates),
            junit_path=_absolute(self.junit_path) if self.junit_path else None,
            token_file=_absolute(self.token_file) if self.token_file else None,
        )

    def _check_attach_options(self):
        if self.url is None:
            if self.token_file or self.token_env:
                option = "--token-file" if self.token_file else "--token-env"
                raise UsageError(f"{option}: only used with --url, which is missing")
            return
        if self.token_file and self.token_env:
            raise UsageError("--token-file and --token-env: give one of them, not both")
        if not self.token_file and not self.token_env:
            raise UsageError(f"--url {self.url}: also give --token-file PATH or --token-env NAME")
        for option, value in (("--gateway-command", self.gateway_command), ("--node", self.node)):
            if value:
                raise UsageError(f"{option}: cannot be combined with --url, which measures a running gateway")


def _absolute(path):
    return Path(path).expanduser().absolute()


def parse_count(option, text, *, minimum, maximum):
    """Parse a whole-number option such as ``--warmup`` within ``minimum..maximum``."""
    if not re.fullmatch(r"\s*\+?[0-9]+\s*", text or ""):
        raise UsageError(f"{option}: expected a whole number from {minimum} to {maximum}, got {text!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise UsageError(f"{option}: expected a whole number from {minimum} to {maximum}, got {text!r}")
    return value


def check_count(option, value, *, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise UsageError(f"{option}: expected a whole number from {minimum} to {maximum}, got {value!r}")


def parse_iterations(text):
    """Parse ``--iterations``: a whole number from 1 to ``MAX_ITERATIONS``."""
    if not re.fullmatch(r"\s*\+?[0-9]+\s*", text or ""):
        raise UsageError(f"--iterations: expected a positive whole number, got {text!r}")
    value = int(text)
    if value < 1:
        raise UsageError(f"--iterations: expected a positive whole number, got {text!r}")
    check_iterations(value)
    return value


def check_iterations(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--iterations: expected a positive whole number, got {value!r}")
    if value > MAX_ITERATIONS:
        raise UsageError(f"--iterations: {value} is more than the maximum of {MAX_ITERATIONS}")


def parse_methods(text):
    """Split ``--methods`` at commas, dropping blanks, and check that one is left."""
    methods = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    if not methods:
        raise UsageError(f"--methods: expected at least one gateway method, got {text!r}")
    check_methods(methods)
    return methods


def check_methods(methods):
    if not methods:
        raise UsageError("--methods: expected at least one gateway method, got none")
    seen = set()
    for method in methods:
        if not isinstance(method, str) or not method or any(char.isspace() for char in method):
            raise UsageError(f"--methods: invalid method name {method!r}")
        if method in seen:
            raise UsageError(f"--methods: {method!r} is listed twice; use --iterations for more requests")
        seen.add(method)


def parse_timeout(option, text):
    """Parse a timeout in seconds: a finite number greater than zero."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option}: expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option}: expected a number of seconds greater than 0, got {text!r}")
    return value


def check_timeout(option, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{option}: expected a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option}: expected a number of seconds greater than 0, got {value!r}")
