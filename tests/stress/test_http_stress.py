"""HttpServer under load and abuse.  The server runs in a child interpreter
(a crash fails the test with its stderr instead of killing pytest); it
answers every request with a JSON digest (target, body length, SHA-256) and
reports at the end what its handler saw, on_error calls and unraisable
reports, and whether it stopped cleanly.

* slowloris: connections that send a header line every 0.5 s get 408 (or
  are closed) within about header_timeout + 1 s while a normal client keeps
  being answered;
* many idle keep-alive connections while clients make requests: all
  answered, the idle ones included;
* more connections than the sweeper looks at in one round: their timeouts
  still apply;
* clients that abort in the middle of a body (FIN, reset, half-close): no
  crash, the handler never sees their requests, other clients unaffected;
* a 32 MiB body (max_body_size 64 MiB) echoed with the right length and
  digest, by Content-Length and chunked;
* seeded random mutations of valid requests: each is answered with a
  well-formed response or the connection closes, none hangs, and the server
  keeps serving.

Quick by default; ``--full`` scales up.
"""

import hashlib
import http.client
import json
import random
import select
import socket
import struct
import threading
import time

import pytest

from support import HOST, ClientThread
from http_support import child_fixture, RawConn, parse_responses, request_bytes

pytestmark = [pytest.mark.stress, pytest.mark.timeout(900)]

SERVER = r'''
stats.update({"requests": 0, "prefixes": collections.Counter()})

BIG = b"x" * (1 << 20)

class Server(hpsocket.HttpServer):
    def on_request(self, request):
        if request.path.startswith("/big-answer/"):
            return 200, [], BIG
        body = request.body
        with lock:
            stats["requests"] += 1
            stats["prefixes"][request.path.split("/")[1] if request.path.startswith("/") else ""] += 1
        info = {"target": request.target, "len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        return 200, [("Content-Type", "application/json")], json.dumps(info).encode()

    def on_error(self, event, conn_id, exc):
        with lock:
            stats["errors"].append(f"{event}: {exc!r}")
'''


child = child_fixture(SERVER)


def get_json(conn, target, body=None):
    conn.request("POST" if body is not None else "GET", target, body=body)
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200, (resp.status, data)
    return json.loads(data)


class NormalClient(ClientThread):
    """Requests on one keep-alive connection (http.client) until stopped;
    every answer checked, each latency kept."""

    def __init__(self, port, prefix="normal"):
        super().__init__()
        self.port, self.prefix = port, prefix
        self.latencies = []

    def work(self):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        i = 0
        while not self.stop.is_set():
            body = b"n" * (i % 50)
            t0 = time.monotonic()
            info = get_json(conn, f"/{self.prefix}/{i}", body)
            self.latencies.append(time.monotonic() - t0)
            assert info["target"] == f"/{self.prefix}/{i}" and info["len"] == len(body)
            i += 1
            self.stop.wait(0.01)    # paces the requests
        conn.close()


# -- slowloris ---------------------------------------------------------------------------


def test_slowloris(child, full_mode):
    n = 200 if full_mode else 20
    header_timeout = 2.0
    srv = child(header_timeout=header_timeout)
    normal = NormalClient(srv.port)
    normal.start()
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, srv.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    first_event = {}          # socket index -> seconds to the first byte or the close
    received = {i: b"" for i in range(n)}
    closed = set()
    next_line = t0 + 0.5
    line_no = 0
    deadline = t0 + header_timeout + 6
    while len(closed) < n and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_line:
            for i, s in enumerate(socks):
                if i not in first_event:
                    try:
                        s.send(b"X-Slow-%d: %d\r\n" % (line_no, i))
                    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                        pass
            line_no += 1
            next_line += 0.5
        live = [s for i, s in enumerate(socks) if i not in closed]
        readable, _, _ = select.select(live, [], [], max(0.0, min(next_line, deadline) - time.monotonic()))
        for s in readable:
            i = socks.index(s)
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                data = b""
            first_event.setdefault(i, time.monotonic() - t0)
            if data:
                received[i] += data
            else:
                closed.add(i)
    for s in socks:
        s.close()
    normal.finish()
    stats = srv.finish()

    assert len(first_event) == n, f"{n - len(first_event)} slow connections got nothing"
    slowest = max(first_event.values())
    assert slowest <= header_timeout + 1.0, f"a slow connection waited {slowest:.2f} s"
    assert closed == set(range(n)), f"{n - len(closed)} slow connections never closed"
    for i in range(n):
        responses, rest = parse_responses(received[i], eof=True)
        assert [r.status for r in responses] in ([408], []), received[i][:200]
        assert rest == b""
    assert line_no >= 3            # they really were sending slowly
    assert stats["prefixes"].get("slow", 0) == 0
    assert len(normal.latencies) > 20 and max(normal.latencies) < 1.0, max(normal.latencies)
    print(f"\nslowloris: {n} connections answered within {slowest:.2f} s; normal client "
          f"{len(normal.latencies)} requests, max latency {max(normal.latencies) * 1000:.1f} ms")


# -- many idle connections ------------------------------------------------------------------


def open_idle(port, count):
    """count keep-alive connections, each after one answered request."""
    socks = []
    for i in range(count):
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(request_bytes("GET", f"/idle/{i}"))
        socks.append(s)
    for s in socks:
        read_one(s)
    return socks


def read_one(sock, timeout=10):
    """One complete response from a blocking socket."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        responses, _ = parse_responses(buf, limit=1)
        if responses:
            assert responses[0].status == 200, responses[0]
            return responses[0]
        chunk = sock.recv(65536)
        assert chunk, f"closed after {buf[:200]!r}"
        buf += chunk


def test_idle_keep_alive_connections_while_clients_work(child, full_mode):
    idle_count = 3000 if full_mode else 1000
    clients, per_client = 20, (500 if full_mode else 50)
    srv = child(keep_alive_timeout=120.0, listen_queue=4096)
    idle = open_idle(srv.port, idle_count)
    failures = []

    def client(k):
        try:
            conn = http.client.HTTPConnection(HOST, srv.port, timeout=10)
            for i in range(per_client):
                body = b"%d" % i * (i % 7)
                info = get_json(conn, f"/busy/{k}/{i}", body)
                if info["target"] != f"/busy/{k}/{i}" or info["len"] != len(body):
                    failures.append((k, i, info))
            conn.close()
        except Exception as exc:   # noqa: BLE001 - reported below
            failures.append((k, repr(exc)))

    t0 = time.monotonic()
    workers = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in workers)
    assert failures == []
    # Every idle connection is still open and answers.
    for i, s in enumerate(idle):
        s.sendall(request_bytes("GET", f"/again/{i}"))
    for s in idle:
        assert json.loads(read_one(s).body)["target"].startswith("/again/")
        s.close()
    stats = srv.finish()
    assert stats["prefixes"]["busy"] == clients * per_client
    assert stats["prefixes"]["idle"] == stats["prefixes"]["again"] == idle_count
    print(f"\n{idle_count} idle connections; {clients} clients x {per_client} requests in {elapsed:.2f} s")


def test_timeouts_apply_beyond_the_sweepers_batch(child, full_mode):
    """With more than 4096 connections open (the sweeper once read the ids
    4096 at a time), slow requests still get their 408."""
    count = 4100
    srv = child(keep_alive_timeout=300.0, header_timeout=1.0, listen_queue=4096)
    idle = []
    try:
        for _ in range(count):
            idle.append(socket.create_connection((HOST, srv.port), timeout=10))
        with RawConn(srv.port, timeout=10) as slow:
            slow.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
            t0 = time.monotonic()
            response = slow.read_response(timeout=5)
            waited = time.monotonic() - t0
        assert response.status == 408 and waited < 3, waited
    finally:
        for s in idle:
            s.close()
    srv.finish()


# -- pipelines ----------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [0, 2])
def test_deep_pipeline(child, full_mode, threads):
    n = 100_000 if full_mode else 10_000
    srv = child(threads=threads)
    data = b"".join(request_bytes("GET", f"/deep/{i}") for i in range(n))
    t0 = time.monotonic()
    with RawConn(srv.port, timeout=60) as conn:
        # Sent from a thread while this one reads, as real clients do: the
        # server stops reading a client that leaves 4 MiB of answers unread.
        sender = conn.sock.dup()
        sender.settimeout(60)
        sent = []
        t = threading.Thread(target=lambda: sent.append(sender.sendall(data) or True))
        t.start()
        try:
            responses = conn.read_responses(n, timeout=120)
        finally:
            t.join(60)
            sender.close()
        assert sent == [True]
        assert conn.buf == b""
    elapsed = time.monotonic() - t0
    assert [json.loads(r.body)["target"] for r in responses] == [f"/deep/{i}" for i in range(n)]
    stats = srv.finish()
    assert stats["prefixes"]["deep"] == n
    print(f"\n{n} pipelined requests (threads={threads}) answered in order in {elapsed:.2f} s")


@pytest.mark.xfail(strict=True, reason=(
    "back-pressure stops reading a connection once 4 MiB of answers wait for its client, "
    "but the requests already read are all answered: one 4 KiB read holds about 100 of these "
    "40-byte requests, so 256 requests for a 1 MiB answer each, never read, still grow the "
    "server by about 100 MiB (bounding that needs holding parsed requests back, which "
    "HP-Socket's parser cannot be told to do)"))
def test_a_client_that_does_not_read_is_not_answered_into_memory(child):
    n = 256
    srv = child()
    before = srv.rss_mib()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((HOST, srv.port))
    try:
        sock.sendall(b"".join(request_bytes("GET", f"/big-answer/{i}") for i in range(n)))
        deadline = time.monotonic() + 3
        grown = 0.0
        while time.monotonic() < deadline and grown < 64:
            grown = srv.rss_mib() - before
            select.select([], [], [], 0.05)     # paces the polling of the child's memory
        assert grown < 64, f"the server grew by {grown:.0f} MiB for a client that reads nothing"
        # Once the client reads, every answer comes.
        responses = RawConn(None, timeout=60, sock=sock).read_responses(n, timeout=60)
        assert all(len(r.body) == 1 << 20 for r in responses)
    finally:
        sock.close()
    srv.finish()


# -- clients that abort ---------------------------------------------------------------------


def aborter(port, rng, deadline, counts):
    try:
        while time.monotonic() < deadline:
            s = socket.create_connection((HOST, port), timeout=5)
            counts["connections"] += 1
            size = rng.choice([100, 5000, 100_000, 1 << 20])
            sent = rng.randrange(size)
            try:
                if rng.random() < 0.5:
                    s.sendall(b"POST /abort HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
                    s.sendall(b"a" * sent)
                else:
                    s.sendall(b"POST /abort HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                    s.sendall(b"%x\r\n" % size + b"c" * sent)
                end = rng.random()
                if end < 0.4:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset
                elif end < 0.7:
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(2)
                    data = s.recv(65536)   # the server closes (it may answer nothing or 400)
                    assert not data.startswith(b"HTTP/1.1 200"), data[:100]
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            s.close()
    except BaseException as exc:      # noqa: B036 - reported by the test
        counts["error"] = repr(exc)


def test_clients_aborting_mid_body(child, full_mode):
    duration = 20.0 if full_mode else 3.0
    srv = child(max_body_size=2 << 20)
    posters = [NormalClient(srv.port, f"post{k}") for k in range(3)]
    for p in posters:
        p.start()
    deadline = time.monotonic() + duration
    counts = [dict(connections=0) for _ in range(4)]
    threads = [threading.Thread(target=aborter, args=(srv.port, random.Random(seed), deadline, c), daemon=True)
               for seed, c in enumerate(counts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 30)
        assert not t.is_alive()
    assert [c.get("error") for c in counts] == [None] * 4
    for p in posters:
        p.finish()
    with RawConn(srv.port) as conn:
        assert conn.request("GET", "/after").status == 200
    stats = srv.finish()
    assert stats["prefixes"].get("abort", 0) == 0
    assert all(len(p.latencies) > 10 for p in posters)
    print(f"\n{sum(c['connections'] for c in counts)} aborted uploads; "
          f"{sum(len(p.latencies) for p in posters)} normal requests meanwhile")


# -- large bodies -------------------------------------------------------------------------


def send_and_read(port, head, body_pieces, timeout=60):
    with RawConn(port, timeout=timeout) as conn:
        conn.sock.sendall(head)
        for piece in body_pieces:
            conn.sock.sendall(piece)
        conn.methods.append("POST")
        return conn.read_response(timeout)


def test_large_bodies(child, full_mode):
    size = 32 << 20
    limit = 64 << 20
    data = random.Random(7).randbytes(size)
    digest = hashlib.sha256(data).hexdigest()
    srv = child(max_body_size=limit)
    t0 = time.monotonic()
    r = send_and_read(srv.port, b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size,
                      [data[i:i + (1 << 20)] for i in range(0, size, 1 << 20)])
    cl_time = time.monotonic() - t0
    assert r.status == 200 and json.loads(r.body) == {"target": "/big", "len": size, "sha256": digest}
    t0 = time.monotonic()
    r = send_and_read(srv.port, b"POST /big-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                      [b"%x\r\n" % len(data[i:i + 300_000]) + data[i:i + 300_000] + b"\r\n"
                       for i in range(0, size, 300_000)] + [b"0\r\n\r\n"])
    chunked_time = time.monotonic() - t0
    assert r.status == 200 and json.loads(r.body) == {"target": "/big-chunked", "len": size, "sha256": digest}
    if full_mode:
        exact = b"x" * limit
        r = send_and_read(srv.port, b"POST /limit HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % limit, [exact])
        assert r.status == 200 and json.loads(r.body)["len"] == limit
    with RawConn(srv.port) as conn:
        conn.send(b"POST /over HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (limit + 1))
        assert conn.read_response().status == 413
    stats = srv.finish()
    assert stats["prefixes"].get("over", 0) == 0
    print(f"\n32 MiB upload: {cl_time:.2f} s by Content-Length, {chunked_time:.2f} s chunked")


# -- fuzzing the request stream -------------------------------------------------------------

SEEDS = [
    request_bytes("GET", "/f/get?x=1", (("Host", "a"), ("Accept", "*/*"))),
    request_bytes("POST", "/f/post", (("Host", "a"), ("Content-Type", "text/plain")), b"hello=world&x=1"),
    request_bytes("POST", "/f/chunked", (("Host", "a"), ("Transfer-Encoding", "chunked")),
                  b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"),
    request_bytes("PUT", "/f/put", (("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "4")), b"abcd"),
    request_bytes("GET", "/f/ten", (("Connection", "keep-alive"),), version="1.0"),
    request_bytes("GET", "/f/close", (("Host", "a"), ("Connection", "close"))),
    request_bytes("OPTIONS", "*", (("Host", "a"),)),
    request_bytes("GET", "/f/upgrade", (("Host", "a"), ("Upgrade", "websocket"), ("Connection", "Upgrade"))),
]
INTERESTING = [b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b"\x00", b"0", b"9", b"f", b"-", b"+", b";", b",",
               b"\x7f", b"\x80", b"\xff", b"chunked", b"identity", b"HTTP/1.1", b"\r\n\r\n", b"%", b"%00",
               b"999999999999999999999", b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
               b"Host: b\r\n", b"Expect: 100-continue\r\n", b" x\r\n", b"0\r\n\r\n"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.25 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = rng.choice(INTERESTING)
        elif op < 0.65 and data:
            del data[pos:pos + rng.randint(1, 8)]
        elif op < 0.75 and data:
            end = min(len(data), pos + rng.randint(1, 20))
            data[pos:pos] = data[pos:end]
        elif op < 0.85:
            lines = bytes(data).split(b"\r\n")
            if len(lines) > 2:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                data = bytearray(b"\r\n".join(lines))
        elif op < 0.93:
            data += rng.choice(SEEDS)          # a pipelined follower
        else:
            del data[pos:]                     # truncated
    return bytes(data)


class FuzzCase:
    def __init__(self, port, data, rng):
        self.data = data
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            pos = 0
            while pos < len(data):
                step = rng.choice([1, 5, 50, len(data)])
                self.sock.sendall(data[pos:pos + step])
                pos += step
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.sock.setblocking(False)
        self.buf = b""
        self.closed = False
        self.started = time.monotonic()

    def read(self):
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            chunk = b""
        if chunk:
            self.buf += chunk
        else:
            self.closed = True

    def done(self):
        """A final response has arrived, or the connection closed."""
        if self.closed:
            return True
        pos = 0
        while True:
            end = self.buf.find(b"\r\n\r\n", pos)
            if end < 0:
                return False
            if not self.buf.startswith(b"HTTP/1.1 1", pos):
                return True
            pos = end + 4


def test_fuzzed_requests(child, full_mode):
    cases = 10_000 if full_mode else 2000
    seed = random.randrange(2 ** 32)
    print(f"\nfuzz seed {seed}")
    rng = random.Random(seed)
    srv = child(header_timeout=1.0, body_timeout=1.0, keep_alive_timeout=1.0, max_body_size=1 << 16)
    in_flight, hung, statuses, closed_only = [], [], {}, 0
    started = 0
    t0 = time.monotonic()
    limit = 5.0          # timeouts of 1 s, the sweeper's period and the close: well within this
    while started < cases or in_flight:
        while started < cases and len(in_flight) < 64:
            in_flight.append(FuzzCase(srv.port, mutate(rng, rng.choice(SEEDS)), rng))
            started += 1
        readable, _, _ = select.select([c.sock for c in in_flight], [], [], 0.05)
        now = time.monotonic()
        for c in list(in_flight):
            if c.sock in readable:
                c.read()
            if c.done() or now - c.started > limit:
                if not c.done():
                    hung.append(c.data)
                else:
                    head = c.buf.split(b"\r\n", 1)[0]
                    if not c.buf:
                        closed_only += 1
                    else:
                        assert head[:9] == b"HTTP/1.1 " and head[9:12].isdigit(), c.buf[:200]
                        responses, _ = parse_responses(c.buf, eof=c.closed)
                        for r in responses:
                            statuses[r.status] = statuses.get(r.status, 0) + 1
                c.sock.close()
                in_flight.remove(c)
        assert srv.alive(), "the server died"
        assert time.monotonic() - t0 < 600
    elapsed = time.monotonic() - t0
    assert hung == [], f"{len(hung)} requests neither answered nor closed in {limit} s: {hung[:5]!r}"
    with RawConn(srv.port) as conn:
        assert conn.request("GET", "/after-fuzz").status == 200
    stats = srv.finish()
    assert stats["prefixes"]["after-fuzz"] == 1
    assert set(statuses) <= {100, 200, 400, 408, 413, 414, 417, 431, 501, 505}, statuses
    print(f"{cases} fuzzed requests in {elapsed:.1f} s: statuses {dict(sorted(statuses.items()))}, "
          f"{closed_only} closed without an answer, {stats['requests']} reached the handler")
