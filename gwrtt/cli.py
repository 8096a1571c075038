"""The ``gwrtt`` command line: options, output for people, and exit codes.

Exit codes: 0 the measurement passed, 1 it failed, 2 invalid options (nothing was created or
started), 128 + n the run was stopped by signal n.
"""

import argparse
import functools
import logging
import shlex
import sys
import threading
import time

from . import __version__, report
from .errors import UsageError
from .gates import parse_gate
from .options import (
    DEFAULT_ITERATIONS,
    DEFAULT_METHODS,
    DEFAULT_READY_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    MAX_IN_FLIGHT,
    MAX_ITERATIONS,
    RunOptions,
    parse_count,
    parse_iterations,
    parse_methods,
    parse_timeout,
)
from .runner import PHASE_TEXT, Runner

EXIT_USAGE = 2
PROGRESS_INTERVAL = 0.2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line that names the option and the value; the usage text is one --help away.
        raise UsageError(message.removeprefix("argument "))


def _typed(parse):
    def convert(text):
        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    return convert


def build_parser():
    parser = _Parser(
        prog="gwrtt",
        description="Measure the RPC round-trip time of an isolated local OpenClaw gateway.",
        allow_abbrev=False,
    )
    parser.add_argument("--output-dir", required=True, metavar="DIR", help="folder for the artifacts (created if missing)")
    parser.add_argument(
        "--repo-root",
        metavar="DIR",
        help="OpenClaw checkout or package to run (default: $OPENCLAW_REPO_ROOT, else the current "
        "folder if it holds OpenClaw, else the gateway installed by scripts/install-gateway)",
    )

    measuring = parser.add_argument_group("measurement")
    measuring.add_argument(
        "--iterations",
        type=_typed(parse_iterations),
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"measured requests per method (default {DEFAULT_ITERATIONS})",
    )
    measuring.add_argument(
        "--methods",
        type=_typed(parse_methods),
        default=DEFAULT_METHODS,
        metavar="A,B",
        help=f"comma-separated gateway methods, measured in turn (default {','.join(DEFAULT_METHODS)})",
    )
    for option, minimum, maximum, metavar, text in (
        ("--warmup", 0, MAX_ITERATIONS, "N", "requests per method sent first and left out of the statistics"),
        ("--concurrency", 1, MAX_IN_FLIGHT, "N", "requests kept in flight on each connection"),
        ("--connections", 1, MAX_IN_FLIGHT, "M", "WebSocket connections to measure over"),
    ):
        measuring.add_argument(
            option,
            type=_typed(functools.partial(parse_count, option, minimum=minimum, maximum=maximum)),
            default=minimum,
            metavar=metavar,
            help=f"{text} (default {minimum})",
        )
    measuring.add_argument(
        "--request-timeout",
        type=_typed(lambda text: parse_timeout("--request-timeout", text)),
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for each response (default {DEFAULT_REQUEST_TIMEOUT:g})",
    )

    gates = parser.add_argument_group("regression gates (exact figures; the run fails above a limit)")
    for option in ("--max-p50-ms", "--max-p95-ms"):
        gates.add_argument(
            option,
            dest="gates",
            action="append",
            default=[],
            type=_typed(lambda text, option=option: parse_gate(option, text)),
            metavar="METHOD=MS",
            help=f"fail when METHOD's {option[6:9]} is above MS milliseconds; repeatable",
        )

    launch = parser.add_argument_group("gateway launch")
    launch.add_argument(
        "--node",
        metavar="PATH",
        help="Node.js binary (default: the installed Node with the installed gateway, else node on PATH)",
    )
    launch.add_argument(
        "--ready-timeout",
        type=_typed(lambda text: parse_timeout("--ready-timeout", text)),
        default=DEFAULT_READY_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for /readyz to return 200 (default {DEFAULT_READY_TIMEOUT:g})",
    )
    launch.add_argument(
        "--protocol",
        metavar="MIN:MAX",
        help="protocol versions to offer in connect (default: read from the OpenClaw folder)",
    )
    launch.add_argument(
        "--gateway-command",
        type=_typed(_split_command),
        metavar="COMMAND",
        help="command that replaces 'node <launcher>', split as a shell splits words, for example "
        "'openclaw' when it is installed globally; 'gateway run --port P --bind loopback "
        "--allow-unconfigured' is appended",
    )

    attach = parser.add_argument_group("attach mode (measure a gateway that is already running)")
    attach.add_argument("--url", metavar="URL", help="ws://127.0.0.1:PORT of the running gateway (loopback only)")
    attach.add_argument("--token-file", metavar="PATH", help="file whose first line is the gateway token")
    attach.add_argument("--token-env", metavar="NAME", help="name of the environment variable that contains the gateway token")

    output = parser.add_argument_group("output")
    output.add_argument("--junit", metavar="PATH", help="also write JUnit XML, one test case per method")
    output.add_argument("--json", action="store_true", help="print the summary JSON instead of the table")
    volume = output.add_mutually_exclusive_group()
    volume.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    volume.add_argument("-v", "--verbose", action="store_true", help="log each phase with its timing on stderr")
    parser.add_argument("--version", action="version", version=f"gwrtt {__version__}")
    return parser


def _split_command(text):
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"--gateway-command: cannot split {text!r}: {exc}") from None
    if not words:
        raise UsageError(f"--gateway-command: empty command {text!r}")
    return words


def main(argv=None):
    """Run the command line and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose, args.quiet)
        options = RunOptions(
            output_dir=args.output_dir,
            repo_root=args.repo_root,
            iterations=args.iterations,
            methods=args.methods,
            node=args.node,
            ready_timeout=args.ready_timeout,
            request_timeout=args.request_timeout,
            protocol=args.protocol,
            gateway_command=args.gateway_command,
            warmup=args.warmup,
            concurrency=args.concurrency,
            connections=args.connections,
            gates=tuple(args.gates),
            junit_path=args.junit,
            url=args.url,
            token_file=args.token_file,
            token_env=args.token_env,
        )
        runner = Runner(options, reraise_signals=False)
        show_progress = not args.quiet and not args.json and sys.stderr.isatty()
        with _Progress(runner, enabled=show_progress):
            result = runner.run()
    except UsageError as exc:
        print(f"gwrtt: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    _report(result, args)
    return result.exit_code


def _configure_logging(verbose, quiet):
    logger = logging.getLogger("gwrtt")
    for handler in list(logger.handlers):
        if getattr(handler, "gwrtt_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.gwrtt_cli = True
    handler.setFormatter(logging.Formatter("gwrtt: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)
    elif quiet:
        logger.setLevel(logging.ERROR)
    else:
        logger.setLevel(logging.WARNING)


def _report(result, args):
    """Print the result: the table and histogram (or the summary JSON), then the artifacts."""
    if not result.passed:
        # After a finished measurement the details start with its JSON; the reason follows it.
        lines = [line for line in result.details.splitlines() if line]
        reason = next((line for line in lines if not line.startswith("{")), lines[0] if lines else "measurement failed")
        print(f"gwrtt: error: {reason}", file=sys.stderr)
    if args.json:
        path = result.artifacts.get("summary")
        if path:
            with open(path, encoding="utf-8") as handle:
                sys.stdout.write(handle.read())
        return
    if args.quiet:
        return

    if result.exact_by_method:
        requests = sum(stats["count"] for stats in result.exact_by_method.values())
        methods = len(result.exact_by_method)
        print(f"{result.status}: {requests} requests measured, {methods} method{'s' if methods != 1 else ''}")
        print()
        print(report.format_table(result.exact_by_method, result.exact, result.throughput_rps))
        print()
        print("latency histogram (all methods):")
        print(report.format_histogram(result.histogram()))
        print()
    for name in ("summary", "events", "report", "junit"):
        if name in result.artifacts:
            print(f"{name + ':':<9} {result.artifacts[name]}")


class _Progress:
    """A one-line progress display on stderr: the phase and, while measuring, count and rate."""

    def __init__(self, runner, *, enabled):
        self.runner = runner
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._show, name="gwrtt-progress", daemon=True)
        self._width = 0

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self.enabled:
            self._stop.set()
            self._thread.join(1)
            self._write("")

    def _show(self):
        measuring_since = None
        while not self._stop.wait(PROGRESS_INTERVAL):
            phase = self.runner.phase
            text = PHASE_TEXT.get(phase)
            if text is None:
                continue
            if phase == "measuring":
                if measuring_since is None:
                    measuring_since = (time.monotonic(), self.runner.requests_done)
                elapsed = time.monotonic() - measuring_since[0]
                done = self.runner.requests_done
                rate = (done - measuring_since[1]) / elapsed if elapsed > 0 else 0.0
                text = f"measuring: {done}/{self.runner.requests_total} requests, {rate:.0f}/s"
            self._write(f"gwrtt: {text}")

    def _write(self, text):
        padding = " " * max(0, self._width - len(text))
        sys.stderr.write(f"\r{text}{padding}\r" if not text else f"\r{text}{padding}")
        sys.stderr.flush()
        self._width = len(text)
