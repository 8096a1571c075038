"""Benchmark 1: the overhead of gwrtt's RpcClient.request() over a bare websocket-client loop.

All clients talk to the same minimal WebSocket server (ws_echo_server.py, a separate process on
127.0.0.1) that responds to each request at once. The clients take turns in blocks of requests, and
the order of the clients is reversed in every other round, so slow drift on a shared machine
hits all of them alike. The caller times every request with time.perf_counter_ns(), from just
before the call to just after the matching response was returned.

The clients:

- ``rpc``: ``gwrtt.rpc.RpcClient.request("health", {}, timeout=5)``.
- ``bare``: ``websocket.create_connection(url, suppress_origin=True)``, then ``ws.send(json)``
  and ``ws.recv()`` until the response with the same id. websocket-client then checks every
  received text frame for valid UTF-8 in pure Python (unless ``wsaccel`` is installed), which
  RpcClient skips.
- ``bare-same-options``: the same loop with RpcClient's connection options
  (``skip_utf8_validation=True``, ``enable_multithread=True``), so the difference to ``rpc`` is
  the client's own code.

``--breakdown`` adds three clients that split the difference into its parts: the bare loop with
uuid4 ids, and a reader thread that hands each response to the caller through a
``threading.Event`` or through a plain lock.

Target: the RpcClient median is at most 50 us above the bare median.

Run: .venv/bin/python benchmarks/client_overhead.py [--blocks 20] [--requests 500] [--breakdown]
"""

import _thread
import argparse
import json
import select
import subprocess
import sys
import threading
import time
import uuid

import common  # noqa: F401  (puts the project root on sys.path)
from common import BENCHMARKS_DIR, describe_machine, median, percentile, verdict

import websocket

from gwrtt.rpc import RpcClient

TARGET_OVERHEAD_US = 50.0
SERVER_START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 5.0


def start_server():
    """Start ws_echo_server.py and return ``(process, port)``."""
    process = subprocess.Popen(
        [sys.executable, str(BENCHMARKS_DIR / "ws_echo_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([process.stdout], [], [], SERVER_START_TIMEOUT)
    line = process.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        stop_server(process)
        raise RuntimeError(f"the echo server did not print its port within {SERVER_START_TIMEOUT:g} s")
    return process, int(line)


def stop_server(process):
    # Closing stdin makes the server exit. If it does not, SIGTERM goes to this one pid.
    process.stdin.close()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=3)


def open_websocket(port, **options):
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}", suppress_origin=True, timeout=REQUEST_TIMEOUT, **options
    )
    json.loads(ws.recv())  # the connect.challenge event
    return ws


def request_frame(request_id, method, params):
    return json.dumps({"type": "req", "id": request_id, "method": method, "params": params})


class GwrttClient:
    """RpcClient, called as gwrtt's measuring loop calls it.

    ``reported_ns`` collects ``Response.duration_ns``, the round trip that gwrtt records: it
    stops when the reader thread receives the frame, before the caller is woken.
    """

    def __init__(self, port):
        self.reported_ns = []
        self.client = RpcClient("127.0.0.1", port)
        self.client.open()
        if not self.client.wait_for_challenge(SERVER_START_TIMEOUT):
            self.client.close()
            raise RuntimeError("RpcClient did not receive the connect.challenge event")

    def request(self, method, params):
        response = self.client.request(method, params, timeout=REQUEST_TIMEOUT)
        self.reported_ns.append(response.duration_ns)
        return response

    def close(self):
        self.client.close()


class BareClient:
    """websocket-client used the plain way: send, then recv until the response arrives."""

    def __init__(self, port, *, uuid_ids=False, **options):
        self.ws = open_websocket(port, **options)
        self.uuid_ids = uuid_ids
        self.next_id = 0

    def request(self, method, params):
        if self.uuid_ids:
            request_id = str(uuid.uuid4())
        else:
            self.next_id += 1
            request_id = f"bench-{self.next_id}"
        self.ws.send(request_frame(request_id, method, params))
        while True:
            frame = json.loads(self.ws.recv())
            if frame.get("type") == "res" and frame.get("id") == request_id:
                return frame

    def close(self):
        self.ws.close()


class ReaderThreadClient:
    """A reader thread that hands each response to the waiting caller, as RpcClient does.

    With ``handoff="event"`` the caller waits on a new ``threading.Event`` per request, as
    RpcClient does. With ``handoff="lock"`` it waits on a new, already acquired ``_thread`` lock
    that the reader releases.
    """

    def __init__(self, port, *, handoff):
        self.ws = open_websocket(port, skip_utf8_validation=True, enable_multithread=True)
        self.handoff = handoff
        self.pending = {}
        self.pending_lock = threading.Lock()
        self.reader = threading.Thread(target=self.read_frames, daemon=True)
        self.reader.start()

    def read_frames(self):
        try:
            while True:
                _, data = self.ws.recv_data()
                frame = json.loads(data)
                with self.pending_lock:
                    slot = self.pending.pop(frame.get("id"), None)
                if slot is None:
                    continue
                slot[1] = frame
                if self.handoff == "event":
                    slot[0].set()
                else:
                    slot[0].release()
        except (websocket.WebSocketException, OSError, ValueError):
            return

    def request(self, method, params):
        request_id = str(uuid.uuid4())
        if self.handoff == "event":
            slot = [threading.Event(), None]
        else:
            lock = _thread.allocate_lock()
            lock.acquire()
            slot = [lock, None]
        with self.pending_lock:
            self.pending[request_id] = slot
        self.ws.send(request_frame(request_id, method, params))
        received = slot[0].wait(REQUEST_TIMEOUT) if self.handoff == "event" else slot[0].acquire(True, REQUEST_TIMEOUT)
        if not received:
            raise TimeoutError(f"no response to {request_id} within {REQUEST_TIMEOUT:g} s")
        return slot[1]

    def close(self):
        self.ws.close()
        self.reader.join(2)


CLIENTS = {
    "rpc": ("RpcClient.request()", lambda port: GwrttClient(port)),
    "bare": ("bare loop, default options", lambda port: BareClient(port)),
    "bare-same-options": ("bare loop, RpcClient's options", lambda port: BareClient(port, skip_utf8_validation=True, enable_multithread=True)),
}
BREAKDOWN_CLIENTS = {
    "bare-uuid": ("bare, RpcClient's options, uuid4 ids", lambda port: BareClient(port, uuid_ids=True, skip_utf8_validation=True, enable_multithread=True)),
    "thread-event": ("reader thread + threading.Event", lambda port: ReaderThreadClient(port, handoff="event")),
    "thread-lock": ("reader thread + plain lock", lambda port: ReaderThreadClient(port, handoff="lock")),
}


def time_block(client, count):
    durations_ns = []
    for _ in range(count):
        started = time.perf_counter_ns()
        client.request("health", {})
        durations_ns.append(time.perf_counter_ns() - started)
    return durations_ns


def run(names, blocks, requests_per_block):
    """Measure every client in ``names``; return ``{name: [ns, ...]}`` and per-block medians."""
    all_clients = {**CLIENTS, **BREAKDOWN_CLIENTS}
    server, port = start_server()
    clients = {}
    try:
        for name in names:
            clients[name] = all_clients[name][1](port)

        # One unrecorded block each, so that every client starts warm.
        for client in clients.values():
            time_block(client, requests_per_block)
        clients["rpc"].reported_ns.clear()

        samples = {name: [] for name in names}
        block_medians = {name: [] for name in names}
        for block in range(blocks):
            order = names if block % 2 == 0 else list(reversed(names))
            for name in order:
                durations_ns = time_block(clients[name], requests_per_block)
                samples[name] += durations_ns
                block_medians[name].append(median(durations_ns))
        samples["rpc-reported"] = clients["rpc"].reported_ns
        return samples, block_medians
    finally:
        for client in clients.values():
            client.close()
        stop_server(server)


def print_comparison(reference, samples, block_medians):
    """Print the rpc - reference difference of the medians and its spread over the rounds."""
    rpc_us = median(samples["rpc"]) / 1000
    reference_us = median(samples[reference]) / 1000
    overhead_us = rpc_us - reference_us
    round_differences_us = [(a - b) / 1000 for a, b in zip(block_medians["rpc"], block_medians[reference])]
    print(
        f"rpc - {reference}: {overhead_us:+.1f} us (ratio {rpc_us / reference_us:.2f}); "
        f"per round median {median(round_differences_us):+.1f} us, "
        f"range {min(round_differences_us):+.1f} to {max(round_differences_us):+.1f} us"
    )
    return overhead_us


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20, help="measured blocks per client (default 20)")
    parser.add_argument("--requests", type=int, default=500, help="requests per block (default 500)")
    parser.add_argument("--breakdown", action="store_true", help="also measure the clients that split the overhead into parts")
    args = parser.parse_args(argv)

    names = list(CLIENTS) + (list(BREAKDOWN_CLIENTS) if args.breakdown else [])
    print(f"machine: {describe_machine()}")
    print(
        f"websocket-client {websocket.__version__}; {args.blocks} rounds x {args.requests} requests per client; "
        f"order reversed every other round"
    )
    samples, block_medians = run(names, args.blocks, args.requests)

    labels = {**CLIENTS, **BREAKDOWN_CLIENTS, "rpc-reported": ("rpc's own Response.duration_ns", None)}
    print()
    print(f"{'client':<19} {'':<38} {'median us':>9} {'p90 us':>8} {'p99 us':>8}")
    for name in [names[0], "rpc-reported", *names[1:]]:
        values = samples[name]
        print(
            f"{name:<19} {labels[name][0]:<38} {median(values) / 1000:>9.1f} "
            f"{percentile(values, 0.9) / 1000:>8.1f} {percentile(values, 0.99) / 1000:>8.1f}"
        )
    print()
    overhead_us = print_comparison("bare", samples, block_medians)
    same_options_overhead_us = print_comparison("bare-same-options", samples, block_medians)
    if args.breakdown:
        print_comparison("thread-event", samples, block_medians)
    print()
    print(
        f"target: rpc median at most +{TARGET_OVERHEAD_US:g} us over bare: "
        f"{verdict(overhead_us <= TARGET_OVERHEAD_US)} ({overhead_us:+.1f} us)"
    )
    print(
        f"same target against bare-same-options: "
        f"{verdict(same_options_overhead_us <= TARGET_OVERHEAD_US)} ({same_options_overhead_us:+.1f} us)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
