"""Benchmark 2: gwrtt and a Node.js client measuring the same real gateway, round by round.

One installed OpenClaw gateway is started (with gwrtt's own parts, see gateway_fixture.py).
Then, in each round, ``bin/gwrtt`` in attach mode and ``node_client.mjs`` (run by the installed
Node, with the ``ws`` package of the openclaw install) each send ``--warmup`` unrecorded and
``--iterations`` recorded ``health`` requests over their own connection. The order of the two
clients alternates between rounds. Before the first round, one unrecorded Node run of
``--gateway-warmup`` requests lets the gateway settle: its first minute after start-up is
markedly slower. Each round's p50 is compared: gwrtt's exact p50 comes from its
summary (``details`` JSON, ``byMethodUs.health.p50Us``), Node's from its own nearest-rank p50.

Target: the median over the rounds of gwrtt p50 / Node p50 is at most 1.15.

Run: .venv/bin/python benchmarks/node_vs_gwrtt.py [--rounds 16] [--iterations 500] [--warmup 50]
     [--gateway-warmup 1000]
"""

import argparse
import json
import os
import subprocess
import sys

import common  # noqa: F401  (puts the project root on sys.path)
from common import BENCHMARKS_DIR, PROJECT_ROOT, describe_machine, median, verdict
from gateway_fixture import exit_on_sigterm, running_gateway, write_private_file

from gwrtt.openclaw import INSTALLED_NODE
from gwrtt.rpc import connect_params

TARGET_RATIO = 1.15
GWRTT = PROJECT_ROOT / "bin" / "gwrtt"
# A run of 1,000 requests at 1 to 6 ms each takes at most about 6 s, plus process start-up.
CLIENT_TIMEOUT = 300


def run_gwrtt(gateway, token_file, output_dir, iterations, warmup):
    """Run gwrtt in attach mode; return its exact health p50 in microseconds."""
    command = [
        str(GWRTT),
        "--url", f"ws://127.0.0.1:{gateway.port}",
        "--token-file", str(token_file),
        "--methods", "health",
        "--iterations", str(iterations),
        "--warmup", str(warmup),
        "--output-dir", str(output_dir),
        "--json",
    ]
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    if completed.returncode != 0:
        raise RuntimeError(f"gwrtt exited with {completed.returncode}: {completed.stderr.strip()}")
    summary = json.loads(completed.stdout)
    details = json.loads(summary["scenarios"][0]["details"].splitlines()[-1])
    return details["byMethodUs"]["health"]["p50Us"]


def run_node(gateway, params_file, iterations, warmup):
    """Run node_client.mjs; return its health p50 in microseconds."""
    command = [
        str(INSTALLED_NODE),
        str(BENCHMARKS_DIR / "node_client.mjs"),
        "--url", f"ws://127.0.0.1:{gateway.port}",
        "--params-file", str(params_file),
        "--iterations", str(iterations),
        "--warmup", str(warmup),
    ]
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    if completed.returncode != 0:
        raise RuntimeError(f"node_client.mjs exited with {completed.returncode}: {completed.stderr.strip()}")
    return json.loads(completed.stdout)["p50Us"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16, help="rounds of one gwrtt run and one Node run (default 16)")
    parser.add_argument("--iterations", type=int, default=500, help="recorded health requests per run (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="unrecorded health requests at the start of each run (default 50)")
    parser.add_argument(
        "--gateway-warmup", type=int, default=1000, help="requests of one unrecorded Node run before the rounds (default 1000)"
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()

    node_version = subprocess.run([str(INSTALLED_NODE), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"machine: {describe_machine()}")
    print(f"Node {node_version}; {args.rounds} rounds; each run: {args.warmup} warm-up + {args.iterations} health requests")

    rows = []
    with running_gateway() as gateway:
        print(f"gateway ready after {gateway.ready_after_s:.1f} s on port {gateway.port} (pid {gateway.pid})")
        token_file = gateway.scratch_dir / "token"
        params_file = gateway.scratch_dir / "connect-params.json"
        write_private_file(token_file, gateway.token + "\n")
        write_private_file(params_file, json.dumps(connect_params(gateway.protocol, gateway.token, sys.platform)))

        if args.gateway_warmup:
            run_node(gateway, params_file, args.gateway_warmup, 0)

        print()
        print(f"{'round':>5} {'first':>6} {'gwrtt p50 us':>13} {'node p50 us':>12} {'ratio':>6}")
        for round_number in range(1, args.rounds + 1):
            output_dir = gateway.scratch_dir / f"gwrtt-round-{round_number}"
            gwrtt_first = round_number % 2 == 1
            if gwrtt_first:
                gwrtt_p50 = run_gwrtt(gateway, token_file, output_dir, args.iterations, args.warmup)
                node_p50 = run_node(gateway, params_file, args.iterations, args.warmup)
            else:
                node_p50 = run_node(gateway, params_file, args.iterations, args.warmup)
                gwrtt_p50 = run_gwrtt(gateway, token_file, output_dir, args.iterations, args.warmup)
            rows.append((gwrtt_p50, node_p50))
            print(
                f"{round_number:>5} {'gwrtt' if gwrtt_first else 'node':>6} {gwrtt_p50:>13.1f} "
                f"{node_p50:>12.1f} {gwrtt_p50 / node_p50:>6.3f}"
            )

    ratios = [gwrtt_p50 / node_p50 for gwrtt_p50, node_p50 in rows]
    median_ratio = median(ratios)
    print()
    print(
        f"median p50: gwrtt {median([row[0] for row in rows]):.1f} us, node {median([row[1] for row in rows]):.1f} us; "
        f"median ratio {median_ratio:.3f} (range {min(ratios):.3f} to {max(ratios):.3f})"
    )
    print(f"target: gwrtt p50 at most {TARGET_RATIO:g} x Node p50: {verdict(median_ratio <= TARGET_RATIO)}")
    print(f"load average at the end: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
