"""The ``gwrtt`` command line: options, output for people, and exit codes.

Exit codes: 0 the measurement passed, 1 it failed, 2 invalid options (nothing was created or
started), 128 + n the run was stopped by signal n.
"""

import argparse
import logging
import sys

from . import __version__
from .errors import UsageError
from .options import (
    DEFAULT_ITERATIONS,
    DEFAULT_METHODS,
    DEFAULT_READY_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    RunOptions,
    parse_iterations,
    parse_methods,
    parse_timeout,
)
from .runner import Runner

EXIT_USAGE = 2


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
    parser.add_argument(
        "--iterations",
        type=_typed(parse_iterations),
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"requests per method (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--methods",
        type=_typed(parse_methods),
        default=DEFAULT_METHODS,
        metavar="A,B",
        help=f"comma-separated gateway methods (default {','.join(DEFAULT_METHODS)})",
    )
    parser.add_argument(
        "--node",
        metavar="PATH",
        help="Node.js binary (default: the installed Node with the installed gateway, else node on PATH)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=_typed(lambda text: parse_timeout("--ready-timeout", text)),
        default=DEFAULT_READY_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for /readyz to answer 200 (default {DEFAULT_READY_TIMEOUT:g})",
    )
    parser.add_argument(
        "--request-timeout",
        type=_typed(lambda text: parse_timeout("--request-timeout", text)),
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for each response (default {DEFAULT_REQUEST_TIMEOUT:g})",
    )
    parser.add_argument(
        "--protocol",
        metavar="MIN:MAX",
        help="protocol versions to offer in connect (default: read from the OpenClaw folder)",
    )
    parser.add_argument(
        "--gateway-command",
        metavar="CMD",
        nargs="+",
        help="command that replaces 'node <launcher>', for example a globally installed openclaw; "
        "'gateway run --port P ...' is appended",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each phase with its timing on stderr")
    parser.add_argument("--version", action="version", version=f"gwrtt {__version__}")
    return parser


def main(argv=None):
    """Run the command line and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        options = RunOptions(
            output_dir=args.output_dir,
            repo_root=args.repo_root,
            iterations=args.iterations,
            methods=args.methods,
            node=args.node,
            ready_timeout=args.ready_timeout,
            request_timeout=args.request_timeout,
            protocol=args.protocol,
            gateway_command=tuple(args.gateway_command) if args.gateway_command else None,
        )
        result = Runner(options, reraise_signals=False).run()
    except UsageError as exc:
        print(f"gwrtt: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    _report(result)
    return result.exit_code


def _configure_logging(verbose):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("gwrtt: %(levelname)s: %(message)s"))
    logger = logging.getLogger("gwrtt")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _report(result):
    if result.passed:
        print(f"status: pass ({len(result.samples)} requests)")
        print(f"{'method':<20} {'min':>6} {'avg':>6} {'p50':>6} {'p95':>6} {'max':>6}  (ms)")
        for method, stats in (result.by_method or {}).items():
            print(
                f"{method:<20} {stats['minMs']:>6} {stats['avgMs']:>6} {stats['p50Ms']:>6} "
                f"{stats['p95Ms']:>6} {stats['maxMs']:>6}"
            )
    else:
        first_line = result.details.splitlines()[0] if result.details else "measurement failed"
        print(f"gwrtt: error: {first_line}", file=sys.stderr)
    if "summary" in result.artifacts:
        print(f"summary: {result.artifacts['summary']}")
        print(f"events:  {result.artifacts['events']}")
