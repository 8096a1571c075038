"""Run options shared by the command line and the Python API, and their validation."""

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UsageError

DEFAULT_METHODS = ("health", "config.get")
DEFAULT_ITERATIONS = 10
# Larger counts are almost surely typing mistakes: at 1 ms a request, a million per method
# already takes over 15 minutes.
MAX_ITERATIONS = 1_000_000
DEFAULT_READY_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 10.0


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
    environ: dict | None = field(default=None, repr=False, compare=False)

    def validated(self):
        """Return a checked copy with absolute paths, or raise ``UsageError``."""
        if not self.output_dir:
            raise UsageError("--output-dir is required")
        methods = parse_methods(self.methods) if isinstance(self.methods, str) else tuple(self.methods)
        check_methods(methods)
        check_iterations(self.iterations)
        check_timeout("--ready-timeout", self.ready_timeout)
        check_timeout("--request-timeout", self.request_timeout)
        if self.gateway_command is not None and not self.gateway_command:
            raise UsageError("--gateway-command: empty command")
        return replace(
            self,
            output_dir=Path(self.output_dir).expanduser().absolute(),
            repo_root=Path(self.repo_root).expanduser().absolute() if self.repo_root else None,
            methods=methods,
            ready_timeout=float(self.ready_timeout),
            request_timeout=float(self.request_timeout),
            gateway_command=tuple(self.gateway_command) if self.gateway_command else None,
        )


def parse_iterations(text):
    """Parse ``--iterations``: a whole number from 1 to ``MAX_ITERATIONS``."""
    if not re.fullmatch(r"\s*\+?\d+\s*", text or ""):
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
    for method in methods:
        if not isinstance(method, str) or not method or any(char.isspace() for char in method):
            raise UsageError(f"--methods: invalid method name {method!r}")


def parse_timeout(option, text):
    """Parse a timeout in seconds: a finite number greater than zero."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option}: expected a number of seconds, got {text!r}") from None
    check_timeout(option, value)
    return value


def check_timeout(option, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{option}: expected a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{option}: expected a number of seconds greater than 0, got {value!r}")
