"""HttpServer's WebSocket under load and abuse.  The echo server runs in a
child interpreter and reports what it saw (messages, closes by code,
on_error calls, unraisable reports) and whether it stopped cleanly.

* many connections (1,000 with --full), each echoing numbered messages,
  every echo checked, all at once from one thread;
* good clients (the websockets library) echoing while abusers work on the
  same server: clients that vanish in the middle of a frame (FIN or reset),
  garbage after the handshake, a slow reader that never reads what it asked
  for; the good clients lose nothing, the slow reader does not grow the
  server without bound, and the server stops cleanly.

Quick by default; ``--full`` scales up.
"""

import os
import random
import selectors
import socket
import struct
import threading
import time

import pytest

from http_support import child_fixture
from support import HOST, ClientThread
from ws_support import RawWebSocket, frame

websockets_sync = pytest.importorskip("websockets.sync.client")

pytestmark = [pytest.mark.stress, pytest.mark.timeout(900)]

SERVER = r'''
stats.update({"messages": 0, "opened": 0, "closes": collections.Counter()})

class Server(hpsocket.HttpServer):
    def on_websocket(self, request):
        return True

    def on_ws_open(self, conn_id):
        with lock:
            stats["opened"] += 1

    def on_ws_message(self, conn_id, message):
        with lock:
            stats["messages"] += 1
        self.ws_send(conn_id, message)

    def on_ws_close(self, conn_id, code, reason):
        with lock:
            stats["closes"][str(code)] += 1

    def on_error(self, event, conn_id, exc):
        with lock:
            stats["errors"].append(f"{event}: {exc!r}")
'''


child = child_fixture(SERVER)


def handshake(sock):
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return head.partition(b"\r\n\r\n")[2]


def parse_frames(buf):
    """Whole server frames at the start of buf: ([(opcode, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        n, pos = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, pos = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, pos = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < pos + n:
            break
        out.append((buf[0] & 0x0F, buf[pos:pos + n]))
        buf = buf[pos + n:]
    return out, buf


def test_many_connections_echo(child, full_mode):
    n, per = (1000, 20) if full_mode else (200, 5)
    srv = child()
    socks = []
    for i in range(n):
        s = socket.create_connection((HOST, srv.port), timeout=10)
        rest = handshake(s)
        assert rest == b""
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    state = {}
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
        state[i] = {"sent": 0, "got": 0, "buf": b""}
        s.sendall(frame(0x1, f"{i}:0".encode()))
        state[i]["sent"] = 1
    done = 0
    deadline = time.monotonic() + (120 if full_mode else 30)
    while done < n:
        assert time.monotonic() < deadline, f"{done} of {n} connections finished in time"
        for key, _ in sel.select(timeout=1):
            i, s = key.data, key.fileobj
            st = state[i]
            data = s.recv(65536)
            assert data, f"connection {i} closed after {st['got']} echoes"
            frames, st["buf"] = parse_frames(st["buf"] + data)
            for opcode, payload in frames:
                assert (opcode, payload) == (0x1, f"{i}:{st['got']}".encode())
                st["got"] += 1
                if st["sent"] < per:
                    s.setblocking(True)
                    s.sendall(frame(0x1, f"{i}:{st['sent']}".encode()))
                    s.setblocking(False)
                    st["sent"] += 1
                elif st["got"] == per:
                    done += 1
    for s in socks:
        s.setblocking(True)
        s.sendall(frame(0x8, struct.pack("!H", 1000)))
    for s in socks:
        s.settimeout(10)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert parse_frames(data)[0] == [(0x8, struct.pack("!H", 1000))]
        s.close()
    stats = srv.finish()
    assert stats["opened"] == n and stats["messages"] == n * per
    assert stats["closes"] == {"1000": n}
    print(f"\n{n} WebSocket connections x {per} echoes, all checked")


class GoodClient(ClientThread):
    """Echoes numbered messages of varying size through the websockets
    library until stopped; every echo checked."""

    def __init__(self, port, seed):
        super().__init__()
        self.port, self.rng = port, random.Random(seed)
        self.count = 0

    def work(self):
        with websockets_sync.connect(f"ws://127.0.0.1:{self.port}/", max_size=None) as c:
            while not self.stop.is_set():
                size = self.rng.choice([0, 10, 125, 126, 4000, 65536, 200_000])
                msg = os.urandom(size) if self.count % 2 else "é" * (size // 2)
                c.send(msg)
                assert c.recv(timeout=10) == msg
                self.count += 1


def vanisher(port, rng, deadline, counts):
    """Connect, upgrade, send part of a frame, go: FIN or reset."""
    try:
        while time.monotonic() < deadline:
            ws = RawWebSocket(port, timeout=10)
            assert ws.status == 101
            data = frame(rng.choice([0x1, 0x2]), os.urandom(rng.randrange(1, 70000)))
            ws.send(data[:rng.randrange(1, len(data))])
            if rng.random() < 0.5:
                ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.close()
            counts["vanished"] += 1
    except BaseException as exc:          # noqa: B036 - reported by the test
        counts["error"] = repr(exc)


def garbler(port, rng, deadline, counts):
    """Random bytes after the handshake: the server closes (1002 and
    friends; or, for a frame head whose payload never comes, once its ping
    goes unanswered)."""
    try:
        while time.monotonic() < deadline:
            ws = RawWebSocket(port, timeout=10)
            assert ws.status == 101
            try:
                ws.send(os.urandom(rng.randrange(1, 3000)))
            except OSError:
                pass
            ws.sock.settimeout(5)
            try:
                ws.send(frame(0x8, struct.pack("!H", 1000)))
            except OSError:
                pass
            assert ws.wait_closed(10), "the server kept a garbled connection open"
            ws.close()
            counts["garbled"] += 1
    except BaseException as exc:          # noqa: B036 - reported by the test
        counts["error"] = repr(exc)


def test_abuse_while_good_clients_work(child, full_mode):
    duration = 20.0 if full_mode else 4.0
    # Garbage can be a valid frame head that declares a long payload: the
    # server then waits for it, and only the keep-alive ping (unanswered)
    # ends the wait; short here so that the garbler sees the close in time.
    srv = child(ws_max_message_size=1 << 20, ws_ping_interval=1, ws_ping_timeout=1)
    before = srv.rss_mib()
    good = [GoodClient(srv.port, seed) for seed in range(3)]
    for g in good:
        g.start()
    # A slow reader: asks for 64 MiB of echoes and reads none of them.
    slow = RawWebSocket(srv.port, timeout=10)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sock.settimeout(0.5)
    chunk = frame(0x2, b"s" * 65536)
    pushed = 0
    try:
        for _ in range(1024):
            slow.sock.sendall(chunk)
            pushed += 1
    except (socket.timeout, OSError):
        pass           # the server stopped reading it: back-pressure
    counts = {"vanished": 0, "garbled": 0}
    deadline = time.monotonic() + duration
    abusers = [threading.Thread(target=f, args=(srv.port, random.Random(i), deadline, counts), daemon=True)
               for i, f in enumerate([vanisher, vanisher, garbler])]
    for t in abusers:
        t.start()
    grown = 0.0
    while any(t.is_alive() for t in abusers):
        grown = max(grown, srv.rss_mib() - before)
        for t in abusers:
            t.join(0.2)
    for g in good:
        g.finish()
    slow.close()
    assert "error" not in counts, counts
    assert counts["vanished"] > 0 and counts["garbled"] > 0
    assert pushed < 1024, "the server read 64 MiB its client would not take back"
    assert grown < 200, f"the server grew by {grown:.0f} MiB"
    stats = srv.finish()
    assert min(g.count for g in good) > 0
    print(f"\ngood clients: {[g.count for g in good]} echoes; {counts}; slow reader pushed {pushed} x 64 KiB;"
          f" server grew {grown:.0f} MiB; closes {stats['closes']}")
