"""Diagnostic: where gwrtt's time between requests goes, and whether it changes the RTT.

Not one of the four benchmarks and without a target. It splits a figure of scale.py: gwrtt's
time per request is 250 to 400 us above its RTT mean there. The ``bare + 250 us pause`` loop
checks whether a longer pause between requests changes the gateway's round trips.

One installed gateway is started (see gateway_fixture.py). Four request loops then take turns
in blocks of ``--requests`` health requests, with the order reversed in every other round:

- ``gwrtt + events``: ``gwrtt.measure.measure()`` over an RpcClient with an ``on_sample`` that
  calls ``artifacts.EventLog.append_sample``, as a gwrtt run does;
- ``gwrtt, no events``: the same without ``on_sample``;
- ``bare inline``: websocket-client with RpcClient's options, the caller reading its own
  response (no reader thread), timed from before ``send`` to after ``recv``;
- ``bare + 250 us pause``: the same with a 250 us busy wait after each response.

For each loop it prints the median over the blocks of the wall time per request, of the mean
recorded round trip (RTT), and of the difference of the two (the pause between requests).

Run: .venv/bin/python benchmarks/request_gap.py [--rounds 10] [--requests 500]
"""

import argparse
import json
import sys
import tempfile
import time

import common  # noqa: F401  (puts the project root on sys.path)
from common import describe_machine, median
from gateway_fixture import exit_on_sigterm, running_gateway

import websocket

from gwrtt import artifacts
from gwrtt.measure import measure
from gwrtt.rpc import connect, connect_params

REQUEST_TIMEOUT = 10.0
PAUSE_NS = 250_000


def gwrtt_loop(client, count, event_log):
    """Run gwrtt's measuring loop; return ``(wall ns per request, mean RTT ns)``."""
    on_sample = None
    if event_log is not None:
        def on_sample(method, iteration, duration_ns, warmup):
            event_log.append_sample(method, iteration, duration_ns, warmup)
    started = time.perf_counter_ns()
    measured = measure([client], ["health"], count, request_timeout=REQUEST_TIMEOUT, on_sample=on_sample)
    wall_ns = time.perf_counter_ns() - started
    durations_ns = measured["health"].durations_ns
    return wall_ns / count, sum(durations_ns) / len(durations_ns)


def bare_loop(ws, count, pause_ns):
    """Send ``count`` health requests, reading each response in the caller; same return value."""
    rtts_ns = []
    started = time.perf_counter_ns()
    for number in range(count):
        request_id = f"bare-{number}"
        sent_ns = time.perf_counter_ns()
        ws.send(json.dumps({"type": "req", "id": request_id, "method": "health", "params": {}}))
        while True:
            data = ws.recv()
            received_ns = time.perf_counter_ns()
            frame = json.loads(data)
            if frame.get("type") == "res" and frame.get("id") == request_id:
                break
        rtts_ns.append(received_ns - sent_ns)
        if pause_ns:
            # A busy wait, so that this process stays on its core as gwrtt's code would.
            pause_end = time.perf_counter_ns() + pause_ns
            while time.perf_counter_ns() < pause_end:
                pass
    wall_ns = time.perf_counter_ns() - started
    return wall_ns / count, sum(rtts_ns) / count


def open_bare(port, params):
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}", suppress_origin=True, skip_utf8_validation=True, enable_multithread=True, timeout=REQUEST_TIMEOUT
    )
    ws.send(json.dumps({"type": "req", "id": "bare-connect", "method": "connect", "params": params}))
    while True:
        frame = json.loads(ws.recv())
        if frame.get("type") == "res" and frame.get("id") == "bare-connect":
            if frame.get("ok") is not True:
                raise RuntimeError(f"connect failed: {frame.get('error')}")
            return ws


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of one block per loop (default 10)")
    parser.add_argument("--requests", type=int, default=500, help="health requests per block (default 500)")
    args = parser.parse_args(argv)
    exit_on_sigterm()

    print(f"machine: {describe_machine()}")
    print(f"{args.rounds} rounds x {args.requests} health requests per loop; order reversed every other round")
    with running_gateway() as gateway:
        params = connect_params(gateway.protocol, gateway.token, sys.platform)
        client, _ = connect("127.0.0.1", gateway.port, params, timeout=30, request_timeout=REQUEST_TIMEOUT)
        ws = open_bare(gateway.port, params)
        event_log = artifacts.EventLog(tempfile.mkdtemp(dir=gateway.scratch_dir))
        loops = {
            "gwrtt + events": lambda: gwrtt_loop(client, args.requests, event_log),
            "gwrtt, no events": lambda: gwrtt_loop(client, args.requests, None),
            "bare inline": lambda: bare_loop(ws, args.requests, 0),
            "bare + 250 us pause": lambda: bare_loop(ws, args.requests, PAUSE_NS),
        }
        try:
            # One unrecorded block each, so that every loop starts warm.
            for loop in loops.values():
                loop()
            blocks = {name: [] for name in loops}
            for round_number in range(args.rounds):
                names = list(loops) if round_number % 2 == 0 else list(reversed(loops))
                for name in names:
                    blocks[name].append(loops[name]())
        finally:
            event_log.discard()
            client.close()
            ws.close()

    print()
    print(f"{'loop':<20} {'wall us/request':>15} {'RTT mean us':>11} {'pause us':>8}")
    for name, values in blocks.items():
        wall_us = median([wall for wall, _ in values]) / 1000
        rtt_us = median([rtt for _, rtt in values]) / 1000
        pause_us = median([wall - rtt for wall, rtt in values]) / 1000
        print(f"{name:<20} {wall_us:>15.1f} {rtt_us:>11.1f} {pause_us:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
