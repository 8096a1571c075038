"""A fake OpenClaw gateway for gwrtt's tests: plain HTTP probes and a WebSocket RPC server.

gwrtt starts it as ``python3 fake_gateway.py gateway run --port P --bind loopback
--allow-unconfigured``. It listens on 127.0.0.1:P only. On that one port it serves:

- ``GET /healthz``: 200 ``{"ok":true,"status":"live"}``.
- ``GET /readyz``: 200 ``{"ready":true}`` once ready, else 503
  ``{"ready":false,"failing":["startup-sidecars"]}``.
- a WebSocket upgrade (RFC 6455, text frames of JSON objects). The server sends the
  ``connect.challenge`` event first. The first request must be ``connect`` with
  ``params.auth.token`` equal to ``$OPENCLAW_GATEWAY_TOKEN``. After it, ``health``,
  ``config.get`` and ``status`` succeed. As the real gateway does, a ``connect`` before ready is
  rejected as retryable ``UNAVAILABLE``, and a client that sends an ``Origin`` header gets no
  scopes, so ``config.get`` and ``status`` then fail with ``FORBIDDEN``.

Environment variables (none start with ``OPENCLAW_``, which gwrtt drops):

``FAKE_GATEWAY_MODE``
    Comma-separated faults, any combination of:

    - ``exit-early``: serve 503 for ``FAKE_GATEWAY_EXIT_DELAY`` seconds (default 0.2), write a
      few lines to stderr and exit with code 3, leaving the worker behind.
    - ``never-ready``: ``/readyz`` returns 503 until the process ends.
    - ``slow-probes``: ``/healthz`` and ``/readyz`` respond after ``FAKE_GATEWAY_PROBE_DELAY``
      seconds (default 0.3).
    - ``slow-ready``: ready ``FAKE_GATEWAY_READY_DELAY`` seconds after start (default 1).
    - ``port-taken``: the first ``FAKE_GATEWAY_COUNT`` launches (default 1, counted in the event
      log) print Node's ``EADDRINUSE`` error to stderr and exit with code 1.
    - ``close-mid-run``: after responding to ``FAKE_GATEWAY_AFTER`` requests other than
      ``connect``, close the connection when the next request arrives. ``FAKE_GATEWAY_CLOSE_STYLE``
      is ``frame`` (default: a close frame with code 1011) or ``tcp`` (no close frame).
    - ``no-answer``: never respond to ``FAKE_GATEWAY_METHOD`` (default ``health``).
    - ``method-fails``: respond to ``FAKE_GATEWAY_METHOD`` with ``ok: false`` and the error
      ``{"code":"INVALID_REQUEST","message":"boom"}``.
    - ``big-response``: respond to ``FAKE_GATEWAY_METHOD`` with a payload that contains a string of
      ``FAKE_GATEWAY_BIG_BYTES`` characters (default 2 MiB).
    - ``reject-connect``: reject every ``connect`` with
      ``{"code":"UNAUTHORIZED","message":"invalid token"}``.
    - ``unavailable-first``: reject the first ``FAKE_GATEWAY_COUNT`` ``connect`` requests with a
      retryable ``UNAVAILABLE`` error and ``retryAfterMs`` 200.
    - ``noise``: before every response, send a text frame that is not JSON, a frame of unknown
      type, an unsolicited event, a response with an unknown id, a JSON array, a binary frame of
      invalid UTF-8 and a ping.
    - ``noise-odd-ids``: before every response, send responses whose ``id`` is an object, a list
      or missing.
    - ``escape``: at start-up, start one child that calls ``setsid`` and one grandchild, through
      a double fork, that calls ``setsid``. Both sleep and keep the environment.
    - ``escape-on-sigterm``: on SIGTERM, start a child that calls ``setsid``, then exit.
    - ``ignore-sigterm``: every process of the fake ignores SIGTERM.
    - ``slow-first``: respond to the first ``FAKE_GATEWAY_COUNT`` requests of each method after
      ``FAKE_GATEWAY_SLOW_MS`` milliseconds (default 100), on top of ``FAKE_GATEWAY_DELAY_MS``.
    - ``reverse-order``: on each connection, hold the successful responses to requests other
      than ``connect`` until ``FAKE_GATEWAY_BATCH`` of them (default 2) are held, then send them
      newest first. Each batch is logged as a ``batch`` event with the request ids in arrival
      and in response order and how long each request was held. Requests that never fill a
      batch get no response.

    ``no-answer``, ``method-fails`` and ``big-response`` apply only after the first
    ``FAKE_GATEWAY_AFTER`` requests of that method (default 0) got normal responses.

``FAKE_GATEWAY_DELAY_MS``
    Milliseconds to wait before each successful response to a request other than ``connect``
    (default 0). In ``reverse-order`` mode the wait comes before each response of a batch.
``FAKE_GATEWAY_PIDFILE``
    File that gets one JSON line per process of the fake: ``role`` (``gateway``, ``worker``,
    ``escaped-setsid``, ``escaped-double-fork``, ``escaped-on-sigterm``), ``pid``, ``sid`` and
    ``pgid``. The gateway writes each line before it reports ready.
``FAKE_GATEWAY_LOG``
    File that gets one JSON line per event, with the wall-clock time ``t`` in seconds:
    ``launch``, ``environment``, ``connect``, ``request``, ``ws-open``, ``ws-close``, ``noise``,
    ``sigterm`` and others. The ``log_event`` calls show every event and its fields.
``FAKE_GATEWAY_WORKERS``
    Worker children started at launch, in the gateway's session and process group (default 1).
``FAKE_GATEWAY_LIFETIME``
    Seconds after which every process of the fake exits on its own (default 120), so a test that
    goes wrong cannot leave processes behind for long.

Python 3.11 standard library only.
"""

import base64
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
# The real gateway advertises this maxPayload; client messages larger than it are rejected.
MAX_PAYLOAD = 26_214_400
PROTOCOL_VERSION = 4
METHODS = ("health", "config.get", "status")
# Methods that need the operator.read scope, which a client with an Origin header lacks.
READ_SCOPE_METHODS = ("config.get", "status")
ADMIN_SCOPES = ["operator.admin"]
FAULT_ERROR = {"code": "INVALID_REQUEST", "message": "boom"}
REJECT_ERROR = {"code": "UNAUTHORIZED", "message": "invalid token"}
UNAVAILABLE_RETRY_AFTER_MS = 200
STARTUP_RETRY_AFTER_MS = 500
KNOWN_MODES = {
    "exit-early",
    "never-ready",
    "slow-probes",
    "slow-ready",
    "port-taken",
    "close-mid-run",
    "no-answer",
    "method-fails",
    "big-response",
    "reject-connect",
    "unavailable-first",
    "noise",
    "noise-odd-ids",
    "escape",
    "escape-on-sigterm",
    "ignore-sigterm",
    "slow-first",
    "reverse-order",
}
EXIT_USAGE = 2
EXIT_EARLY_CODE = 3
# Escapees close file descriptors below this number; the fake never opens that many.
MAX_INHERITED_FD = 1024


class Settings:
    """The fake's faults and their parameters, read from ``FAKE_GATEWAY_*`` variables."""

    def __init__(self, environ):
        self.modes = {part.strip() for part in environ.get("FAKE_GATEWAY_MODE", "").split(",") if part.strip()}
        unknown = self.modes - KNOWN_MODES
        if unknown:
            raise ValueError(f"FAKE_GATEWAY_MODE: unknown mode(s) {sorted(unknown)}; known: {sorted(KNOWN_MODES)}")
        self.pidfile = environ.get("FAKE_GATEWAY_PIDFILE")
        self.event_log = environ.get("FAKE_GATEWAY_LOG")
        self.fault_method = environ.get("FAKE_GATEWAY_METHOD", "health")
        self.fault_after = int(environ.get("FAKE_GATEWAY_AFTER", "0"))
        self.count = int(environ.get("FAKE_GATEWAY_COUNT", "1"))
        self.close_style = environ.get("FAKE_GATEWAY_CLOSE_STYLE", "frame")
        if self.close_style not in ("frame", "tcp"):
            raise ValueError(f"FAKE_GATEWAY_CLOSE_STYLE: expected frame or tcp, got {self.close_style!r}")
        self.ready_delay = float(environ.get("FAKE_GATEWAY_READY_DELAY", "1"))
        self.exit_delay = float(environ.get("FAKE_GATEWAY_EXIT_DELAY", "0.2"))
        self.probe_delay = float(environ.get("FAKE_GATEWAY_PROBE_DELAY", "0.3"))
        self.big_bytes = int(environ.get("FAKE_GATEWAY_BIG_BYTES", str(2 * 1024 * 1024)))
        self.workers = int(environ.get("FAKE_GATEWAY_WORKERS", "1"))
        self.lifetime = float(environ.get("FAKE_GATEWAY_LIFETIME", "120"))
        self.delay_ms = float(environ.get("FAKE_GATEWAY_DELAY_MS", "0"))
        self.slow_ms = float(environ.get("FAKE_GATEWAY_SLOW_MS", "100"))
        self.batch = int(environ.get("FAKE_GATEWAY_BATCH", "2"))
        if self.batch < 1:
            raise ValueError(f"FAKE_GATEWAY_BATCH: expected 1 or more, got {self.batch}")
        if "port-taken" in self.modes and not self.event_log:
            raise ValueError("missing FAKE_GATEWAY_LOG, which port-taken needs because it counts launches in that file")

    def has(self, mode):
        return mode in self.modes


# --- files shared with the test ----------------------------------------------------------------


def append_line(path, record):
    """Append one JSON line with a single ``write``, so lines from several processes never mix."""
    if not path:
        return
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


SETTINGS = None


def log_event(event, **fields):
    append_line(SETTINGS.event_log, {"t": time.time(), "pid": os.getpid(), "event": event, **fields})


def record_process(role, pid, sid, pgid):
    append_line(SETTINGS.pidfile, {"role": role, "pid": pid, "sid": sid, "pgid": pgid})


def count_launch():
    """Append a ``launch`` event to the event log and return how many launches it records, this one included."""
    fd = os.open(SETTINGS.event_log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(SETTINGS.event_log, encoding="utf-8") as handle:
            launches = sum(1 for line in handle if json.loads(line).get("event") == "launch")
        number = launches + 1
        record = {"t": time.time(), "pid": os.getpid(), "event": "launch", "number": number}
        os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        return number
    finally:
        os.close(fd)


# --- child processes ---------------------------------------------------------------------------


def run_child(role):
    """Run the body of a forked child: sleep until killed or the lifetime ends, then exit."""
    if SETTINGS.has("ignore-sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda signum, frame: _exit_child(role))
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    deadline = time.monotonic() + SETTINGS.lifetime
    while time.monotonic() < deadline:
        time.sleep(0.2)
    os._exit(0)


def _exit_child(role):
    log_event("sigterm", role=role)
    os._exit(0)


def spawn_worker():
    """Fork a worker in the gateway's own session and process group; return its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            run_child("worker")
        finally:
            os._exit(0)
    return pid


def spawn_escapee(role, double_fork):
    """Start a process that calls ``setsid`` and return its ``(pid, sid)`` after the call.

    With ``double_fork`` the process is a grandchild whose parent exits at once, so it is
    re-parented and no longer a descendant of the gateway. The escapee reports its pid and
    session id through a pipe, so it has left the session before this returns.
    """
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            os.close(read_end)
            if double_fork and os.fork() != 0:
                os._exit(0)
            os.setsid()
            os.write(write_end, f"{os.getpid()} {os.getsid(0)}\n".encode())
            # Drop inherited sockets and pipes, as a daemon does, so the escapee does not keep
            # the port or a client connection open. Files it writes later are opened anew.
            os.closerange(3, MAX_INHERITED_FD)
            run_child(role)
        finally:
            os._exit(0)

    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline().decode().split()
    if double_fork:
        os.waitpid(first, 0)
    pid, sid = int(line[0]), int(line[1])
    return pid, sid


# --- WebSocket framing (RFC 6455) ----------------------------------------------------------------


class ConnectionClosed(Exception):
    """The client closed the TCP connection or sent a close frame."""


class ProtocolViolation(Exception):
    """The client sent a frame that RFC 6455 forbids; the connection is closed with code 1002."""


def websocket_accept(key):
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def unmask(data, mask):
    if not data:
        return data
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def encode_frame(opcode, payload, fin=True):
    """Encode one unmasked server frame, with a 7-, 16- or 64-bit payload length."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


class WebSocket:
    """One server-side WebSocket over an accepted socket; the reader is its buffered file."""

    def __init__(self, reader, sock):
        self.reader = reader
        self.sock = sock
        self.send_lock = threading.Lock()
        self.close_sent = False

    def _read_exact(self, size):
        data = self.reader.read(size)
        if data is None or len(data) < size:
            raise ConnectionClosed("the client closed the TCP connection")
        return data

    def read_frame(self):
        """Read one client frame and return ``(fin, opcode, payload)`` with the payload unmasked."""
        first, second = self._read_exact(2)
        fin = bool(first & 0x80)
        if first & 0x70:
            raise ProtocolViolation("reserved bits set without a negotiated extension")
        opcode = first & 0x0F
        masked = bool(second & 0x80)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        if not masked:
            raise ProtocolViolation("client frames must be masked")
        if length > MAX_PAYLOAD:
            raise ProtocolViolation(f"frame of {length} bytes is larger than maxPayload {MAX_PAYLOAD}")
        mask = self._read_exact(4)
        return fin, opcode, unmask(self._read_exact(length), mask)

    def read_message(self):
        """Return the next data message as ``(opcode, payload)``, replying to pings with pongs.

        Raises :class:`ConnectionClosed` after a close frame (which it echoes) or at end of stream.
        """
        message_opcode = None
        parts = []
        while True:
            fin, opcode, payload = self.read_frame()
            if opcode == OPCODE_CLOSE:
                code_bytes = payload[:2] if len(payload) >= 2 else b""
                log_event("ws-close", by="client", code=int.from_bytes(code_bytes, "big") if code_bytes else None)
                self.send_close(code_bytes)
                raise ConnectionClosed("the client sent a close frame")
            if opcode == OPCODE_PING:
                self.send_frame(OPCODE_PONG, payload)
                continue
            if opcode == OPCODE_PONG:
                continue
            if opcode == OPCODE_CONTINUATION:
                if message_opcode is None:
                    raise ProtocolViolation("continuation frame without a message to continue")
            elif opcode in (OPCODE_TEXT, OPCODE_BINARY):
                if message_opcode is not None:
                    raise ProtocolViolation("new message before the previous one finished")
                message_opcode = opcode
            else:
                raise ProtocolViolation(f"unknown opcode {opcode:#x}")
            parts.append(payload)
            if fin:
                return message_opcode, b"".join(parts)

    def send_frame(self, opcode, payload):
        with self.send_lock:
            self.sock.sendall(encode_frame(opcode, payload))

    def send_text(self, text):
        self.send_frame(OPCODE_TEXT, text.encode("utf-8"))

    def send_json(self, value):
        self.send_text(json.dumps(value, separators=(",", ":")))

    def send_close(self, code_bytes=b"", reason=""):
        if self.close_sent:
            return
        self.close_sent = True
        try:
            self.send_frame(OPCODE_CLOSE, code_bytes + reason.encode("utf-8"))
        except OSError:
            pass

    def close_with(self, code, reason):
        """Send a close frame with ``code``, wait briefly for the client's echo, then shut the socket."""
        self.send_close(struct.pack("!H", code), reason)
        self.sock.settimeout(1.0)
        try:
            while True:
                _, opcode, _ = self.read_frame()
                if opcode == OPCODE_CLOSE:
                    break
        except (ConnectionClosed, ProtocolViolation, OSError):
            pass
        self.abort()

    def abort(self):
        """Shut the TCP connection down without a close frame."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --- the gateway ---------------------------------------------------------------------------------


class Gateway:
    """The state shared by all connections: readiness, the token and the request counters."""

    def __init__(self, settings, token):
        self.settings = settings
        self.token = token
        self.started = time.monotonic()
        if settings.has("never-ready") or settings.has("exit-early"):
            self.ready_at = float("inf")
        elif settings.has("slow-ready"):
            self.ready_at = self.started + settings.ready_delay
        else:
            self.ready_at = self.started
        self.lock = threading.Lock()
        self.connect_count = 0
        self.session_count = 0
        self.measured_count = 0
        self.method_counts = {}
        self.ready_logged = False

    def is_ready(self):
        ready = time.monotonic() >= self.ready_at
        if ready and not self.ready_logged:
            self.ready_logged = True
            log_event("ready")
        return ready

    def next_session(self):
        """Number a new WebSocket connection, from 1."""
        with self.lock:
            self.session_count += 1
            return self.session_count

    def next_connect(self):
        with self.lock:
            self.connect_count += 1
            return self.connect_count

    def next_request(self, method):
        """Count one request other than ``connect`` and return ``(measured number, number for this method)``."""
        with self.lock:
            self.measured_count += 1
            self.method_counts[method] = self.method_counts.get(method, 0) + 1
            return self.measured_count, self.method_counts[method]


class Session:
    """The RPC protocol on one WebSocket connection."""

    def __init__(self, gateway, websocket, origin):
        self.gateway = gateway
        self.settings = gateway.settings
        self.websocket = websocket
        self.origin = origin
        self.connected = False
        self.scopes = []
        self.number = gateway.next_session()
        # reverse-order mode: (request id, method, payload, monotonic arrival time) in arrival order.
        self.held_responses = []
        self.batch_lock = threading.Lock()

    def run(self):
        log_event("ws-open", origin=self.origin, session=self.number)
        self.websocket.send_json(
            {
                "type": "event",
                "event": "connect.challenge",
                "payload": {"nonce": str(uuid.uuid4()), "ts": int(time.time() * 1000)},
            }
        )
        try:
            while True:
                opcode, payload = self.websocket.read_message()
                if opcode != OPCODE_TEXT:
                    continue
                try:
                    frame = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(frame, dict) or frame.get("type") != "req":
                    continue
                if not self.handle_request(frame):
                    return
        except ConnectionClosed:
            return
        except ProtocolViolation as exc:
            log_event("ws-close", by="server", reason=str(exc))
            self.websocket.close_with(1002, str(exc))
        except OSError as exc:
            log_event("ws-error", error=str(exc))
            return

    def handle_request(self, frame):
        """Respond to one request frame and return False when the connection must end."""
        request_id = frame.get("id")
        method = frame.get("method")
        params = frame.get("params") if isinstance(frame.get("params"), dict) else {}

        if method == "connect":
            return self.handle_connect(request_id, params)
        if not self.connected:
            self.respond_error(request_id, {"code": "INVALID_REQUEST", "message": "first request must be connect"})
            self.websocket.close_with(1008, "connect required")
            return False

        measured, method_number = self.gateway.next_request(method)
        log_event("request", method=method, measured=measured, number=method_number, id=request_id, session=self.number)

        if self.settings.has("close-mid-run") and measured > self.settings.fault_after:
            log_event("ws-close", by="server", style=self.settings.close_style, measured=measured)
            if self.settings.close_style == "frame":
                self.websocket.close_with(1011, "fake gateway closed mid-run")
            else:
                self.websocket.abort()
            return False

        faulty = method == self.settings.fault_method and method_number > self.settings.fault_after
        if faulty and self.settings.has("no-answer"):
            log_event("unanswered", method=method, number=method_number)
            return True
        if faulty and self.settings.has("method-fails"):
            self.respond_error(request_id, FAULT_ERROR)
            return True

        if method not in METHODS:
            self.respond_error(request_id, {"code": "INVALID_REQUEST", "message": f"unknown method: {method}"})
            return True
        if method in READ_SCOPE_METHODS and "operator.admin" not in self.scopes:
            self.respond_error(request_id, {"code": "FORBIDDEN", "message": "missing scope: operator.read"})
            return True

        payload = self.method_payload(method)
        if faulty and self.settings.has("big-response"):
            payload = {**payload, "blob": "x" * self.settings.big_bytes}
            log_event("big-response", method=method, characters=self.settings.big_bytes)
        if self.settings.has("reverse-order"):
            self.hold(request_id, method, payload)
            return True
        if self.settings.has("slow-first") and method_number <= self.settings.count:
            time.sleep(self.settings.slow_ms / 1000)
        self.pause()
        self.respond_ok(request_id, payload)
        return True

    def pause(self):
        if self.settings.delay_ms > 0:
            time.sleep(self.settings.delay_ms / 1000)

    def hold(self, request_id, method, payload):
        """Hold one response, and start sending the held responses newest first once a batch is full.

        A thread of its own sends the batch, so this thread goes on reading requests and records
        when each request of the next batch arrived, not when the previous batch was sent.
        """
        self.held_responses.append((request_id, method, payload, time.monotonic()))
        if len(self.held_responses) < self.settings.batch:
            return
        batch, self.held_responses = self.held_responses, []
        threading.Thread(target=self.send_batch, args=(batch,), daemon=True).start()

    def send_batch(self, batch):
        held_ms = []
        with self.batch_lock:
            try:
                for request_id, method, payload, arrived in reversed(batch):
                    self.pause()
                    held_ms.append((time.monotonic() - arrived) * 1000)
                    self.respond_ok(request_id, payload)
            except OSError as exc:
                log_event("ws-error", error=str(exc))
                return
        log_event(
            "batch",
            session=self.number,
            methods=[method for _, method, _, _ in batch],
            arrived=[request_id for request_id, _, _, _ in batch],
            responded=[request_id for request_id, _, _, _ in reversed(batch)],
            held_ms=held_ms,
        )

    def handle_connect(self, request_id, params):
        number = self.gateway.next_connect()
        auth = params.get("auth") if isinstance(params.get("auth"), dict) else {}
        token_ok = auth.get("token") == self.gateway.token
        log_event("connect", number=number, token_ok=token_ok, origin=self.origin, params_keys=sorted(params))

        if self.settings.has("reject-connect"):
            self.respond_error(request_id, REJECT_ERROR)
            return True
        if self.settings.has("unavailable-first") and number <= self.settings.count:
            self.respond_error(
                request_id,
                {
                    "code": "UNAVAILABLE",
                    "message": "gateway is starting",
                    "retryable": True,
                    "retryAfterMs": UNAVAILABLE_RETRY_AFTER_MS,
                    "details": {"reason": "startup-sidecars"},
                },
            )
            return True
        if not self.gateway.is_ready():
            self.respond_error(
                request_id,
                {
                    "code": "UNAVAILABLE",
                    "message": "gateway is starting",
                    "retryable": True,
                    "retryAfterMs": STARTUP_RETRY_AFTER_MS,
                    "details": {"reason": "startup-sidecars"},
                },
            )
            return True
        if not token_ok:
            self.respond_error(request_id, REJECT_ERROR)
            return True

        low, high = params.get("minProtocol"), params.get("maxProtocol")
        if not (isinstance(low, int) and isinstance(high, int) and low <= PROTOCOL_VERSION <= high):
            self.respond_error(
                request_id,
                {"code": "INVALID_REQUEST", "message": f"protocol mismatch: server speaks {PROTOCOL_VERSION}, client offered {low}..{high}"},
            )
            return True

        # A client with an Origin header counts as a browser and gets no scopes.
        self.scopes = [] if self.origin else list(ADMIN_SCOPES)
        self.connected = True
        self.respond_ok(
            request_id,
            {
                "type": "hello-ok",
                "protocol": PROTOCOL_VERSION,
                "server": {"version": "fake"},
                "features": {"methods": ["connect", *METHODS]},
                "policy": {"maxPayload": MAX_PAYLOAD},
                "auth": {"scopes": self.scopes},
            },
        )
        return True

    def method_payload(self, method):
        if method == "health":
            return {"ok": True, "ts": int(time.time() * 1000)}
        if method == "config.get":
            return {"config": {"gateway": {"mode": "local", "bind": "loopback"}}, "hash": "fake"}
        return {"uptimeMs": int((time.monotonic() - self.gateway.started) * 1000), "version": "fake"}

    def respond_ok(self, request_id, payload):
        self.send_noise()
        self.websocket.send_json({"type": "res", "id": request_id, "ok": True, "payload": payload})

    def respond_error(self, request_id, error):
        self.send_noise()
        self.websocket.send_json({"type": "res", "id": request_id, "ok": False, "error": error})

    def send_noise(self):
        """Send the frames a client must skip before the response it waits for."""
        sent = 0
        if self.settings.has("noise"):
            self.websocket.send_text("this is not JSON {")
            self.websocket.send_json({"type": "mystery"})
            self.websocket.send_json({"type": "event", "event": "health", "payload": {"ok": True}})
            self.websocket.send_json({"type": "res", "id": f"unknown-{uuid.uuid4()}", "ok": True, "payload": {}})
            self.websocket.send_json([1, 2, 3])
            self.websocket.send_frame(OPCODE_BINARY, b"\xff\xfe not UTF-8")
            self.websocket.send_frame(OPCODE_PING, b"fake ping")
            sent += 7
        if self.settings.has("noise-odd-ids"):
            self.websocket.send_json({"type": "res", "id": {"nested": 1}, "ok": True, "payload": {}})
            self.websocket.send_json({"type": "res", "id": ["a", "list"], "ok": True, "payload": {}})
            self.websocket.send_json({"type": "res", "ok": True, "payload": {}})
            sent += 3
        if sent:
            log_event("noise", frames=sent)


class Handler(BaseHTTPRequestHandler):
    """Serve the HTTP probes and hand WebSocket upgrades to a :class:`Session`."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-openclaw-gateway"
    # Headers and body go out in separate writes, so with Nagle's algorithm and delayed ACKs each
    # keep-alive probe took about 40 ms here.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        # The gateway's stderr must hold only what a test writes there on purpose.
        pass

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.serve_websocket()
            return
        gateway = self.server.gateway
        if self.path in ("/healthz", "/readyz") and gateway.settings.has("slow-probes"):
            time.sleep(gateway.settings.probe_delay)
        if self.path == "/healthz":
            self.send_json(200, {"ok": True, "status": "live"})
        elif self.path == "/readyz":
            if gateway.is_ready():
                self.send_json(200, {"ready": True})
            else:
                self.send_json(503, {"ready": False, "failing": ["startup-sidecars"]})
        else:
            self.send_json(404, {"error": "not found"})

    def send_json(self, status, body):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def serve_websocket(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or self.headers.get("Sec-WebSocket-Version") != "13":
            self.send_json(400, {"error": "invalid WebSocket handshake: missing key or version 13"})
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
        self.end_headers()
        self.close_connection = True
        websocket = WebSocket(self.rfile, self.connection)
        Session(self.server.gateway, websocket, self.headers.get("Origin")).run()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, gateway):
        self.gateway = gateway
        super().__init__(address, Handler)


# --- start-up ------------------------------------------------------------------------------------


def parse_port(argv):
    """Return the port from ``gateway run --port P ...``, or raise ValueError for other arguments."""
    if argv[:2] != ["gateway", "run"]:
        raise ValueError(f"expected 'gateway run --port P ...', got {argv!r}")
    if "--port" not in argv:
        raise ValueError("missing --port")
    return int(argv[argv.index("--port") + 1])


def read_config_token(environ):
    """Return ``gateway.auth.token`` from ``$OPENCLAW_CONFIG_PATH``, or raise ValueError."""
    path = environ.get("OPENCLAW_CONFIG_PATH")
    if not path:
        raise ValueError("OPENCLAW_CONFIG_PATH is not set")
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    return config["gateway"]["auth"]["token"]


def fail_usage(message):
    print(f"fake gateway: error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def main(argv):
    global SETTINGS
    try:
        SETTINGS = Settings(os.environ)
        port = parse_port(argv)
        token = read_config_token(os.environ)
    except (ValueError, OSError, KeyError) as exc:
        fail_usage(str(exc))
    if os.environ.get("OPENCLAW_GATEWAY_TOKEN") != token:
        fail_usage("OPENCLAW_GATEWAY_TOKEN differs from gateway.auth.token in the config")

    launch = count_launch() if SETTINGS.event_log else 1
    log_event(
        "environment",
        argv=argv,
        cwd=os.getcwd(),
        openclaw_variables=sorted(key for key in os.environ if key.startswith("OPENCLAW_")),
        isolated={key: os.environ.get(key) for key in ("HOME", "TMPDIR", "XDG_CONFIG_HOME", "OPENCLAW_STATE_DIR", "GWRTT_RUN_ID")},
        config_path=os.environ.get("OPENCLAW_CONFIG_PATH"),
    )

    # Children inherit SIG_IGN, so with ignore-sigterm the whole tree needs SIGKILL.
    if SETTINGS.has("ignore-sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    own_pid, own_sid, own_pgid = os.getpid(), os.getsid(0), os.getpgid(0)
    record_process("gateway", own_pid, own_sid, own_pgid)
    for _ in range(SETTINGS.workers):
        record_process("worker", spawn_worker(), own_sid, own_pgid)

    if SETTINGS.has("port-taken") and launch <= SETTINGS.count:
        print(f"Error: listen EADDRINUSE: address already in use 127.0.0.1:{port}", file=sys.stderr, flush=True)
        log_event("exit", code=1, reason="port-taken")
        sys.exit(1)

    if SETTINGS.has("escape"):
        for role, double_fork in (("escaped-setsid", False), ("escaped-double-fork", True)):
            pid, sid = spawn_escapee(role, double_fork)
            record_process(role, pid, sid, sid)

    gateway = Gateway(SETTINGS, token)
    try:
        server = Server(("127.0.0.1", port), gateway)
    except OSError as exc:
        print(f"Error: listen {exc.strerror}: 127.0.0.1:{port}", file=sys.stderr, flush=True)
        sys.exit(1)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print(f"fake gateway listening on 127.0.0.1:{port} (modes: {','.join(sorted(SETTINGS.modes)) or 'none'})", flush=True)
    log_event("listening", port=port)

    if SETTINGS.has("exit-early"):
        time.sleep(SETTINGS.exit_delay)
        print("fake gateway: loading plugins", file=sys.stderr)
        print("Error: fake start-up failure (exit-early mode)", file=sys.stderr)
        print("    at startGateway (fake_gateway.py)", file=sys.stderr, flush=True)
        log_event("exit", code=EXIT_EARLY_CODE, reason="exit-early")
        os._exit(EXIT_EARLY_CODE)

    # The handler only sets a flag, which a sleep loop polls. Event.wait could deadlock when the
    # handler runs in the waiting thread and calls Event.set.
    stopping = []

    def on_sigterm(signum, frame):
        log_event("sigterm", role="gateway")
        if SETTINGS.has("escape-on-sigterm"):
            pid, sid = spawn_escapee("escaped-on-sigterm", double_fork=False)
            record_process("escaped-on-sigterm", pid, sid, sid)
        stopping.append(signum)

    if not SETTINGS.has("ignore-sigterm"):
        signal.signal(signal.SIGTERM, on_sigterm)

    deadline = time.monotonic() + SETTINGS.lifetime
    while not stopping and time.monotonic() < deadline:
        time.sleep(0.02)
    server.shutdown()
    print("fake gateway: completed cleanly", flush=True)
    log_event("exit", code=0, reason="sigterm" if stopping else "lifetime")
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
