"""Helpers for the WebSocket tests: a raw client that does the opening
handshake and then sends frames built byte by byte (masked or not, any
opcode, reserved bits, lengths), and reads the server's frames; and
serving() for an HttpServer subclass that accepts WebSocket upgrades.

Every wait is bounded: sockets have timeouts and each read loop a deadline.
"""

import base64
import hashlib
import os
import queue
import socket
import struct
import threading
import time

import hpsocket
import http_support
from http_support import RawConn

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """One frame's bytes: as a client sends it (masked) unless mask=False;
    length overrides the length field (a lie about the payload)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return f"<Frame op={self.opcode} fin={self.fin} len={len(self.payload)} {self.payload[:40]!r}>"


class RawWebSocket(RawConn):
    """A client connection upgraded by hand; frames in and out."""

    def __init__(self, port, path="/", headers=(), timeout=5.0):
        super().__init__(port, timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Host: test", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{n}: {v}" for n, v in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status, self.headers = self._read_head()

    def _read_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise AssertionError(f"no response head; got {self.buf!r}")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return int(lines[0].split()[1]), headers

    def body(self):
        """The body of a refusal (Content-Length framed)."""
        n = int(self.headers.get("content-length", "0"))
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < n and self._fill(deadline):
            pass
        return self.buf[:n]

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def recv_frame(self, timeout=None):
        """The next frame from the server; AssertionError if none in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self._parse()
            if f is not None:
                return f
            if not self._fill(deadline):
                raise AssertionError(f"no frame (closed={self.closed}); have {self.buf[:100]!r}")

    def _parse(self):
        b = self.buf
        if len(b) < 2:
            return None
        n = b[1] & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", b[2:4])[0]
            pos = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", b[2:10])[0]
            pos = 10
        masked = bool(b[1] & 0x80)
        if masked:
            pos += 4
        if len(b) < pos + n:
            return None
        f = Frame(bool(b[0] & 0x80), (b[0] >> 4) & 7, b[0] & 0x0F, masked, b[pos:pos + n])
        self.buf = b[pos + n:]
        return f

    def message(self, timeout=None):
        """The next data frame, answering nothing: pings and pongs are skipped."""
        while True:
            f = self.recv_frame(timeout)
            if f.opcode not in (0x9, 0xA):
                return f

    def expect_close(self, code, timeout=None):
        """The server's Close carries code, and then it closes the
        connection (we answer its Close as a client must)."""
        f = self.message(timeout)
        assert f.opcode == 0x8, f
        assert f.close_code == code, (f.close_code, f.payload)
        try:
            self.send_frame(0x8, f.payload[:2])
        except OSError:
            pass
        assert self.wait_closed(timeout), "the server did not close the connection"
        return f



class EchoWS(hpsocket.HttpServer):
    """Accepts every WebSocket; echoes messages; records closes and errors."""

    def __init__(self, **options):
        super().__init__(**options)
        self.closes = queue.Queue()
        self.errors = queue.Queue()
        self.opened = queue.Queue()

    def on_websocket(self, request):
        return True

    def on_ws_open(self, conn_id):
        self.opened.put(conn_id)

    def on_ws_message(self, conn_id, message):
        self.ws_send(conn_id, message)

    def on_ws_close(self, conn_id, code, reason):
        self.closes.put((conn_id, code, reason))

    def on_error(self, event, conn_id, exc):
        self.errors.put((event, conn_id, exc))


def serving(cls=EchoWS, **options):
    """Start cls(**options) on 127.0.0.1:0; yield (srv, port); stop it."""
    return http_support.serving(cls, **options)


class RawWsServer:
    """A listening socket whose one connection is answered by hand: the
    handshake with answer(request_head, key) -> bytes (by default a correct
    101), then the test reads and writes frames on ``conn`` (a RawConn)."""

    def __init__(self, answer=None, timeout=5.0):
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(timeout)
        self.port = self.listener.getsockname()[1]
        self.answer = answer or (lambda head, key: (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"))
        self.conn = None
        self.request = None
        self.ready = threading.Event()
        self.timeout = timeout
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            sock, _ = self.listener.accept()
        except OSError:
            self.ready.set()
            return
        conn = RawConn(None, self.timeout, sock=sock)
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in conn.buf and conn._fill(deadline):
            pass
        head, _, conn.buf = conn.buf.partition(b"\r\n\r\n")
        self.request = head.decode("latin-1")
        key = ""
        for line in self.request.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        sock.sendall(self.answer(self.request, key))
        self.conn = conn
        self.ready.set()

    def wait(self):
        assert self.ready.wait(self.timeout) and self.conn is not None, "no client came"
        return self.conn

    def close(self):
        self.listener.close()
        if self.conn is not None:
            self.conn.close()
        self.thread.join(self.timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_frame(conn, timeout=5.0):
    """The next frame a client sent on a RawConn (unmasked for reading),
    with its mask key: (Frame, key or None)."""
    deadline = time.monotonic() + timeout
    while True:
        b = conn.buf
        if len(b) >= 2:
            n = b[1] & 0x7F
            pos = 2
            if n == 126 and len(b) >= 4:
                n, pos = struct.unpack("!H", b[2:4])[0], 4
            elif n == 127 and len(b) >= 10:
                n, pos = struct.unpack("!Q", b[2:10])[0], 10
            if n < 126 or pos > 2:
                masked = bool(b[1] & 0x80)
                key = b[pos:pos + 4] if masked else None
                start = pos + (4 if masked else 0)
                if len(b) >= start + n:
                    payload = b[start:start + n]
                    if masked:
                        payload = bytes(x ^ key[i & 3] for i, x in enumerate(payload))
                    conn.buf = b[start + n:]
                    return Frame(bool(b[0] & 0x80), (b[0] >> 4) & 7, b[0] & 0x0F, masked, payload), key
        if not conn._fill(deadline):
            raise AssertionError(f"no frame (closed={conn.closed}); have {conn.buf[:60]!r}")
