"""A minimal RFC 6455 WebSocket server on 127.0.0.1 that responds to gateway-style requests at once.

Each text frame ``{"type": "req", "id": ...}`` gets ``{"type": "res", "id": ..., "ok": true,
"payload": {}}`` with the same id. A new connection first receives a ``connect.challenge`` event,
as the OpenClaw gateway sends one. Ping frames get a pong and a close frame is echoed.

Only what ``benchmarks/client_overhead.py`` needs is implemented: no extensions, no
fragmentation, no subprotocols. Each connection has its own thread.

Run ``python benchmarks/ws_echo_server.py``: it prints the port it listens on as one line on
stdout, then serves until SIGTERM, SIGINT or the end of its stdin.
"""

import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading

# The GUID that RFC 6455 section 1.3 appends to Sec-WebSocket-Key to form Sec-WebSocket-Accept.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16 * 1024
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA


class ConnectionClosed(Exception):
    """The peer closed the TCP connection."""


def read_exactly(sock, count):
    chunks = []
    while count:
        chunk = sock.recv(count)
        if not chunk:
            raise ConnectionClosed()
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def accept_handshake(sock):
    """Read the HTTP upgrade request and send the 101 response; return False if it is invalid."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > MAX_HEADER_BYTES:
            return False
        data += chunk
    headers = {}
    for line in data.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    key = headers.get(b"sec-websocket-key")
    if key is None:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return False
    accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return True


def read_frame(sock):
    """Read one frame and return ``(opcode, payload)``, unmasking client frames."""
    first, second = read_exactly(sock, 2)
    opcode = first & 0x0F
    masked = second & 0x80
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exactly(sock, 8))
    mask = read_exactly(sock, 4) if masked else None
    payload = read_exactly(sock, length) if length else b""
    if mask:
        # XOR with the 4-byte mask repeated over the payload, done on whole integers.
        repeated = (mask * (length // 4 + 1))[:length]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return opcode, payload


def encode_frame(opcode, payload):
    """Encode one unmasked, unfragmented server frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def serve_connection(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if not accept_handshake(sock):
            return
        challenge = {"type": "event", "event": "connect.challenge", "payload": {"nonce": "benchmark", "ts": 0}}
        sock.sendall(encode_frame(OPCODE_TEXT, json.dumps(challenge).encode()))
        while True:
            opcode, payload = read_frame(sock)
            if opcode == OPCODE_CLOSE:
                sock.sendall(encode_frame(OPCODE_CLOSE, payload[:2]))
                return
            if opcode == OPCODE_PING:
                sock.sendall(encode_frame(OPCODE_PONG, payload))
                continue
            if opcode not in (OPCODE_TEXT, OPCODE_BINARY):
                continue
            try:
                frame = json.loads(payload)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("type") == "req":
                response = {"type": "res", "id": frame.get("id"), "ok": True, "payload": {}}
                sock.sendall(encode_frame(OPCODE_TEXT, json.dumps(response).encode()))
    except (ConnectionClosed, OSError):
        pass
    finally:
        sock.close()


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)

    # The server ends when the parent closes its stdin or sends a signal. Closing the listener
    # would not wake accept() in the main thread, so the stdin watcher exits the process.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    threading.Thread(target=exit_at_end_of_stdin, daemon=True).start()
    try:
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()
    except KeyboardInterrupt:
        return 0


def exit_at_end_of_stdin():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
