"""Checking a server of ``python -m hpsocket bench --ws`` before it is
measured: a minimal WebSocket client (RFC 6455) over a plain socket, and
``check(port)``, which returns what the server got wrong.

The client sends frames as a client must (masked, with a random key) and
reads the server's as they are on the wire, so that a server that masks its
frames, fragments a message, changes its type, chooses an extension or
answers the handshake wrongly is caught here, with a readable reason, and
not only as a mismatch in the load generator.  Every read is bounded by a
deadline.
"""

import base64
import hashlib
import os
import socket
import struct
import time

from . import ws_apps

__all__ = ["WSClient", "WSError", "accept_key", "check", "frame"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

_HOST = "127.0.0.1"


class WSError(Exception):
    """The server answered wrongly (or not in time)."""


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (str)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def frame(opcode, payload, mask=True):
    """One final frame's bytes, masked with a random key unless mask=False."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n <= 0xFFFF:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    # XOR with the key repeated: one big-integer operation, not a loop.
    pad = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")
    return head + key + masked


class WSClient:
    """One WebSocket connection: the opening handshake, then frames."""

    def __init__(self, port, path, timeout=5.0):
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.create_connection((_HOST, port), timeout=timeout)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n"
                               % (path, _HOST, port, key)).encode("ascii"))
            self._handshake(key)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise WSError("nothing more within %gs" % self.timeout)
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise WSError("nothing more within %gs" % self.timeout) from None
        if not chunk:
            raise WSError("the server closed the connection")
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _handshake(self, key):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise WSError("no end to the answer's head")
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1" or parts[1] != "101":
            raise WSError("handshake answered %r" % lines[0][:100])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if [v.lower() for v in headers.get("upgrade", [])] != ["websocket"]:
            raise WSError("Upgrade: %r" % headers.get("upgrade"))
        tokens = [t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")]
        if "upgrade" not in tokens:
            raise WSError("Connection: %r" % headers.get("connection"))
        if headers.get("sec-websocket-accept") != [accept_key(key)]:
            raise WSError("Sec-WebSocket-Accept %r, expected %r" % (
                headers.get("sec-websocket-accept"), accept_key(key)))
        for name in ("sec-websocket-extensions", "sec-websocket-protocol"):
            if name in headers:
                raise WSError("%s: %r, none was offered" % (name, headers[name]))

    def send(self, opcode, payload):
        self.sock.sendall(frame(opcode, payload))

    def recv(self):
        """(opcode, payload) of the next frame, which must be final and
        unmasked, with no reserved bit set."""
        deadline = time.monotonic() + self.timeout
        b0, b1 = self._take(2, deadline)
        if b0 & 0x70:
            raise WSError("a frame with reserved bits 0x%02x (compressed?)" % (b0 & 0x70))
        if not b0 & 0x80:
            raise WSError("a fragmented message (frame without FIN, opcode %d)" % (b0 & 0x0F))
        if b1 & 0x80:
            raise WSError("a masked frame from the server")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, deadline))[0]
        return b0 & 0x0F, self._take(n, deadline)

    def expect(self, opcode, payload, what):
        got_op, got = self.recv()
        if got_op != opcode:
            raise WSError("%s: a frame of opcode %d, expected %d" % (what, got_op, opcode))
        if got != payload:
            raise WSError("%s: %d bytes %r%s, expected %d bytes" % (
                what, len(got), got[:20], "..." if len(got) > 20 else "", len(payload)))


# Every byte value, in an order that is not the identity.
_BINARY = bytes((i * 167 + (i >> 8)) & 0xFF for i in range(65536))
_TEXT = "h\u00e9llo, w\u00f6rld \u2713 \U0001F600"


def _check_echo(port, timeout):
    with WSClient(port, ws_apps.ECHO_PATH, timeout) as ws:
        # One of each length encoding (7, 16 and 64 bits), every byte value.
        for n in (1, 125, 126, 65535, 65536):
            ws.send(BINARY, _BINARY[:n])
            ws.expect(BINARY, _BINARY[:n], "binary message of %d bytes" % n)
        ws.send(TEXT, _TEXT.encode("utf-8"))
        ws.expect(TEXT, _TEXT.encode("utf-8"), "text message")
        # Several messages in one write come back in order.
        msgs = [_BINARY[i:i + 64] for i in range(0, 64 * 8, 64)]
        ws.sock.sendall(b"".join(frame(BINARY, m) for m in msgs))
        for i, m in enumerate(msgs):
            ws.expect(BINARY, m, "pipelined message %d" % i)
        # The close handshake: the server answers our Close with its own.
        ws.send(CLOSE, struct.pack("!H", 1000))
        op, payload = ws.recv()
        if op != CLOSE:
            raise WSError("a frame of opcode %d in answer to Close" % op)
        if payload[:2] not in (b"", struct.pack("!H", 1000)):
            raise WSError("a Close with code %d in answer to 1000"
                          % struct.unpack("!H", payload[:2])[0])


def _check_broadcast(port, timeout):
    with WSClient(port, ws_apps.BROADCAST_PATH, timeout) as a:
        a.expect(TEXT, ws_apps.READY.encode(), "first /broadcast message")
        with WSClient(port, ws_apps.BROADCAST_PATH, timeout) as b:
            b.expect(TEXT, ws_apps.READY.encode(), "first /broadcast message")
            a.send(BINARY, _BINARY[:64])
            a.expect(BINARY, _BINARY[:64], "broadcast, at its sender")
            b.expect(BINARY, _BINARY[:64], "broadcast, at another receiver")
            b.send(TEXT, _TEXT.encode("utf-8"))
            a.expect(TEXT, _TEXT.encode("utf-8"), "text broadcast, at another receiver")
            b.expect(TEXT, _TEXT.encode("utf-8"), "text broadcast, at its sender")


def check(port, timeout=5.0):
    """What the server on 127.0.0.1:port gets wrong ([] when nothing):
    /ws echoes binary messages of every length encoding and every byte value,
    a text message and pipelined messages, each as one unmasked frame of its
    type, and answers a Close; /broadcast sends "ready", then each message
    to its sender and to another connection."""
    problems = []
    for what, part in (("/ws", _check_echo), ("/broadcast", _check_broadcast)):
        try:
            part(port, timeout)
        except (WSError, OSError) as exc:
            problems.append("%s: %s" % (what, exc or type(exc).__name__))
    return problems
