"""HttpServer: request bodies streamed to the handler (stream_body_over)."""

import hashlib
import http.client
import os
import socket
import threading
import weakref

import pytest

import hpsocket

HOST = "127.0.0.1"


class Streamer(hpsocket.HttpServer):
    """Answers with the size and digest of the body, read as it arrives."""

    def __init__(self, **options):
        super().__init__(**options)
        self.errors = []
        self.gate = None          # an Event the handler waits for before reading
        self.streamed = []

    def on_request(self, req):
        stream = req.body_stream
        self.streamed.append(stream is not None)
        if req.path == "/ignore":
            return 200, [], b"ignored"
        if stream is None:
            return 200, [], b"whole %d" % len(req.body)
        if self.gate is not None:
            assert self.gate.wait(10)
        h = hashlib.sha256()
        n = 0
        buf = bytearray(50000)
        try:
            while True:
                got = stream.readinto(buf)
                if not got:
                    break
                h.update(buf[:got])
                n += got
        except ConnectionError as exc:
            self.errors.append(exc)
            return 400, [], b"incomplete"
        return 200, [], b"%d %s" % (n, h.hexdigest().encode())


@pytest.fixture
def server():
    srv = Streamer(threads=2, stream_body_over=65536, max_body_size=64 << 20)
    srv.start(HOST, 0)
    yield weakref.proxy(srv)
    srv.stop()


def _expect(data):
    return b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())


def _post(port, body, path="/", headers=None, conn=None):
    c = conn or http.client.HTTPConnection(HOST, port, timeout=20)
    c.request("POST", path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read(), c


def test_small_bodies_arrive_whole_large_ones_stream(server):
    port = server.listen_address[1]
    data = os.urandom(5_000_000)
    status, body, c = _post(port, b"x" * 1000)
    assert (status, body) == (200, b"whole 1000")
    status, body, c = _post(port, data, conn=c)
    assert (status, body) == (200, _expect(data))
    # The connection goes on after a streamed request.
    status, body, c = _post(port, b"y" * 10, conn=c)
    assert (status, body) == (200, b"whole 10")
    c.close()
    assert server.streamed == [False, True, False]


def test_chunked_bodies_stream(server):
    port = server.listen_address[1]
    data = os.urandom(300_000)

    def chunks():
        for i in range(0, len(data), 7000):
            yield data[i:i + 7000]

    c = http.client.HTTPConnection(HOST, port, timeout=20)
    c.request("POST", "/", body=chunks(), encode_chunked=True)
    r = c.getresponse()
    assert (r.status, r.read()) == (200, _expect(data))
    c.close()


def test_an_unread_body_is_not_buffered_without_bound(server):
    """While the handler reads nothing, the server stops reading the socket:
    the client's send of 40 MB cannot finish.  Once the handler reads, all of
    it arrives intact."""
    port = server.listen_address[1]
    server.gate = threading.Event()
    data = os.urandom(40_000_000)
    sent = threading.Event()
    s = socket.create_connection((HOST, port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)

    def send():
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        sent.set()

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        assert not sent.wait(1.5), "40 MB were taken in while nobody read them"
        server.gate.set()
        assert sent.wait(30)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(_expect(data)):
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 OK")
    finally:
        server.gate.set()
        s.close()
        t.join(10)


def test_answer_without_reading_discards_the_rest(server):
    port = server.listen_address[1]
    data = os.urandom(3_000_000)
    status, body, c = _post(port, data, path="/ignore")
    assert (status, body) == (200, b"ignored")
    status, body, c = _post(port, b"z" * 5, conn=c)      # the same connection is in step
    assert (status, body) == (200, b"whole 5")
    c.close()


def test_body_over_the_limit_fails_the_stream_and_closes():
    srv = Streamer(threads=2, stream_body_over=65536, max_body_size=1 << 20)
    srv.start(HOST, 0)
    try:
        port = srv.listen_address[1]
        s = socket.create_connection((HOST, port), timeout=20)
        s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n%s\r\n" % (100_000, b"q" * 100_000)
        try:
            for _ in range(30):         # 3 MB, over the 1 MiB limit
                s.sendall(piece)
        except OSError:
            pass                        # the server may close first
        reply = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            reply += chunk
        s.close()
        assert b"400 Bad Request" in reply and b"Connection: close" in reply
        assert len(srv.errors) == 1 and isinstance(srv.errors[0], ConnectionError)
    finally:
        srv.stop()


def test_client_closing_mid_body_fails_the_stream(server):
    port = server.listen_address[1]
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 200_000)
    s.close()
    status, body, c = _post(port, b"fine")           # another connection is unaffected
    c.close()
    assert (status, body) == (200, b"whole 4")
    deadline = threading.Event()
    for _ in range(100):
        if server.errors:
            break
        deadline.wait(0.05)
    assert len(server.errors) == 1 and isinstance(server.errors[0], ConnectionError)


def test_without_request_threads_bodies_arrive_whole():
    srv = Streamer(threads=0, stream_body_over=1000)
    srv.start(HOST, 0)
    try:
        status, body, c = _post(srv.listen_address[1], b"a" * 50_000)
        c.close()
        assert (status, body) == (200, b"whole 50000")
    finally:
        srv.stop()


def test_option_checks():
    srv = hpsocket.HttpServer()
    with pytest.raises(TypeError):
        srv.stream_body_over = "big"
    with pytest.raises(ValueError):
        srv.stream_body_over = -1
    srv.stream_body_over = 4096
    assert srv.stream_body_over == 4096
