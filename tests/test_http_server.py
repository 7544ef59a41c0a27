"""HttpServer with real clients: the API (on_request's return value,
respond() from other threads, Request attributes, options) and the
behaviour promised for well-formed traffic (response heads, keep-alive,
HEAD, 204/304, Connection handling, pipelining in request order, 100
Continue, timeouts, errors in handlers), driven by http.client, curl,
requests, httpx, aiohttp (when installed) and raw sockets.

Malformed and hostile requests are in test_http_conformance.py; the same
requests parsed by h11 in test_http_differential.py; load and slow clients
in stress/test_http_stress.py.
"""

import asyncio
import email.utils
import hashlib
import http.client
import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

import hpsocket

from support import wait_for
from http_support import (HOST, RawConn, RecordingServer, chunked, isolated, request_bytes, responses_in,
                          raw_exchange_ex, serving)

THREADS = [0, 2] if hasattr(hpsocket.HttpServer, "threads") else [0]
"""Values of the `threads` option the ordering tests run with (0: on_request
on the library's workers; N: on hpsocket's request threads)."""


def threads_opt(n):
    return {"threads": n} if n else {}


class EchoServer(hpsocket.HttpServer):
    """Answers with a JSON description of the request; ``calls`` records
    (conn_id, target) of every request."""

    def __init__(self, **options):
        super().__init__(**options)
        self.lock = threading.Lock()
        self.calls = []
        self.errors = []

    def on_request(self, request):
        with self.lock:
            self.calls.append((request.conn_id, request.target))
        info = {
            "method": request.method,
            "target": request.target,
            "path": request.path,
            "query": request.query,
            "version": request.version,
            "keep_alive": request.keep_alive,
            "conn_id": request.conn_id,
            "body_len": len(request.body),
            "body_sha256": hashlib.sha256(request.body).hexdigest(),
            "headers": request.headers.items(),
        }
        return 200, [("Content-Type", "application/json"), ("X-Conn", str(request.conn_id))], \
            json.dumps(info).encode()

    def on_error(self, event, conn_id, exc):
        with self.lock:
            self.errors.append((event, conn_id, exc))


def http_get(port, target="/", method="GET", body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


# -- response heads -------------------------------------------------------------


def test_get_with_http_client_and_the_response_head():
    with serving(EchoServer) as (srv, port):
        status, headers, body = http_get(port, "/hello?x=1")
    assert status == 200
    info = json.loads(body)
    assert info["method"] == "GET" and info["target"] == "/hello?x=1"
    names = [n for n, _ in headers]
    # The application's headers first, in its order, then Date, Server and
    # exactly one Content-Length.
    assert names[:2] == ["Content-Type", "X-Conn"]
    assert [n.lower() for n in names].count("content-length") == 1
    assert dict(headers)["Content-Length"] == str(len(body))
    assert dict(headers)["Server"] == "hpsocket"
    date = email.utils.parsedate_to_datetime(dict(headers)["Date"])
    assert abs(date.timestamp() - time.time()) < 5
    assert dict(headers)["Date"].endswith(" GMT")
    assert "Connection" not in dict(headers)     # HTTP/1.1 keep-alive: implicit


def test_status_line_and_reason_phrases():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            return int(request.path[1:]), [], b"x" if request.path not in ("/204", "/304") else b""

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            for code, reason in [(200, "OK"), (201, "Created"), (404, "Not Found"), (418, None),
                                 (431, "Request Header Fields Too Large"), (599, None)]:
                r = c.request("GET", f"/{code}")
                assert r.version == "HTTP/1.1" and r.status == code
                if reason:
                    assert r.reason == reason
                assert r.body == b"x" and r.get("Content-Length") == "1"


@pytest.mark.parametrize("code", [204, 304])
def test_no_content_length_on_204_and_304(code):
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            return code, [("X-A", "1")], b""

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            r = c.request("GET", "/")
            assert r.status == code and r.get_all("Content-Length") == [] and r.body == b""
            assert r.get_all("Transfer-Encoding") == []
            # Nothing extra on the wire: the next response parses cleanly.
            r2 = c.request("GET", "/again")
            assert r2.status == code and c.buf == b""


def test_a_body_on_204_is_refused():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/"), ["GET"])
            req = got.get(timeout=5)
            with pytest.raises(ValueError):
                srv.respond(req, 204, [], b"body")
            assert srv.respond(req, 204, [], b"")
            r = c.read_response()
            assert r.status == 204 and r.get("Content-Length") is None


def test_head_gets_content_length_but_no_body():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            return 200, [("Content-Type", "text/plain")], b"0123456789" * 100

    with serving(App) as (srv, port):
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            conn.request("HEAD", "/")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.getheader("Content-Length") == "1000"
            assert resp.read() == b""
            # No stray body bytes: the same connection answers a GET next.
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.read() == b"0123456789" * 100
        finally:
            conn.close()
        with RawConn(port) as c:
            c.send(request_bytes("HEAD", "/") + request_bytes("GET", "/x"), ["HEAD", "GET"])
            head, get = c.read_responses(2)
            assert head.body == b"" and head.get("Content-Length") == "1000"
            assert get.body == b"0123456789" * 100 and c.buf == b""


def test_head_keeps_a_declared_content_length():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            return 200, [("Content-Length", "1000")], b""

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            r = c.request("HEAD", "/")
            assert r.get_all("Content-Length") == ["1000"] and r.body == b""
            assert c.request("HEAD", "/again").status == 200 and c.buf == b""


def test_user_headers_kept_in_order_with_repeats_and_dict_headers():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            if request.path == "/dict":
                return 200, {"X-One": "1", "X-Two": b"2"}, "é"
            return 200, [("Set-Cookie", "a=1"), ("X-Mid", "m"), ("Set-Cookie", "b=2"),
                         ("content-length", "3"), ("X-Int", 7)], b"abc"

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            r = c.request("GET", "/")
            assert [(n, v) for n, v in r.headers if n.startswith(("Set", "X-"))] == \
                [("Set-Cookie", "a=1"), ("X-Mid", "m"), ("Set-Cookie", "b=2"), ("X-Int", "7")]
            # The application's (lowercase) Content-Length is not doubled.
            assert [n.lower() for n, _ in r.headers].count("content-length") == 1
            assert r.body == b"abc"
            r = c.request("GET", "/dict")
            assert r.get("X-One") == "1" and r.get("X-Two") == "2"
            assert r.body == "é".encode() and r.get("Content-Length") == "2"


def test_application_date_server_and_connection_headers():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            if request.path == "/close":
                return 200, [("Connection", "close")], b"bye"
            return 200, [("Date", "Thu, 01 Jan 1970 00:00:00 GMT"), ("Server", "mine"),
                         ("Connection", "keep-alive")], b"x"

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            r = c.request("GET", "/")
            assert r.get_all("Date") == ["Thu, 01 Jan 1970 00:00:00 GMT"]
            assert r.get_all("Server") == ["mine"]
            assert r.get_all("Connection") == []      # HTTP/1.1: keep-alive is implicit
            r = c.request("GET", "/close")
            assert r.get_all("Connection") == ["close"] and r.body == b"bye"
            assert c.wait_closed(5)


@pytest.mark.parametrize("value, expected", [(None, None), ("edge/1.0", "edge/1.0")])
def test_server_header_option(value, expected):
    with serving(EchoServer, server_header=value) as (srv, port):
        assert srv.server_header == value
        _, headers, _ = http_get(port)
    assert dict(headers).get("Server") == expected


def test_socket_buffer_size_default_is_64k():
    assert hpsocket.HttpServer().socket_buffer_size == 65536
    assert hpsocket.HttpServer(socket_buffer_size=4096).socket_buffer_size == 4096
    assert hpsocket.TcpServer().socket_buffer_size == 4096


def test_options_are_checked():
    with pytest.raises(TypeError):
        hpsocket.HttpServer(no_such_option=1)
    with pytest.raises(ValueError):
        hpsocket.HttpServer(keep_alive_timeout=0)
    with pytest.raises(ValueError):
        hpsocket.HttpServer(max_body_size=-1)
    with pytest.raises(TypeError):
        hpsocket.HttpServer(header_timeout="1")
    with pytest.raises(ValueError):
        hpsocket.HttpServer(server_header="a\r\nX-Injected: 1")
    srv = hpsocket.HttpServer(max_body_size=5, max_header_size=1000, max_target_length=100,
                              keep_alive_timeout=1.5, header_timeout=2.0, body_timeout=3.0)
    assert (srv.max_body_size, srv.max_header_size, srv.max_target_length) == (5, 1000, 100)
    assert (srv.keep_alive_timeout, srv.header_timeout, srv.body_timeout) == (1.5, 2.0, 3.0)


def test_default_handler_answers_404_and_context_manager_stops():
    with hpsocket.HttpServer() as srv:
        srv.start(HOST, 0)
        port = srv.listen_address[1]
        status, _, body = http_get(port)
        assert status == 404 and body
    assert srv.state == hpsocket.ServiceState.STOPPED


# -- Connection handling -------------------------------------------------------------


def test_keep_alive_reuse_with_http_client():
    with serving(EchoServer) as (srv, port):
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            ids = set()
            for i in range(10):
                conn.request("GET", f"/r{i}")
                resp = conn.getresponse()
                info = json.loads(resp.read())
                assert resp.status == 200 and info["target"] == f"/r{i}" and info["keep_alive"]
                ids.add(info["conn_id"])
            assert len(ids) == 1
        finally:
            conn.close()


def test_connection_close_is_answered_then_closed():
    with serving(RecordingServer) as (srv, port):
        data, closed = raw_exchange_ex(
            port, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  b"GET /after-close HTTP/1.1\r\nHost: x\r\n\r\n")
        rs = responses_in(data)
        assert closed and [r.status for r in rs] == [200]
        assert rs[0].get("Connection") == "close"
        assert srv.targets() == ["/a"] and not srv.seen[0]["keep_alive"]


def test_application_close_ends_a_pipeline():
    class App(hpsocket.HttpServer):
        def on_request(self, request):
            if request.path == "/a":
                return 200, [("Connection", "close")], b"a"
            return 200, [], request.path.encode()

    with serving(App) as (srv, port):
        data, closed = raw_exchange_ex(port, b"".join(request_bytes("GET", t) for t in ("/0", "/a", "/b", "/c")))
        assert closed
        assert [(r.body, r.get("Connection")) for r in responses_in(data)] == [(b"/0", None), (b"a", "close")]


def test_http_1_0_without_keep_alive_closes():
    with serving(RecordingServer) as (srv, port):
        data, closed = raw_exchange_ex(port, b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
        rs = responses_in(data)
        assert closed and [r.status for r in rs] == [200]
        assert rs[0].version == "HTTP/1.1" and rs[0].get("Connection") == "close"
        assert srv.targets() == ["/a"] and srv.seen[0]["version"] == "1.0"


def test_http_1_0_keep_alive():
    with serving(RecordingServer) as (srv, port):
        with RawConn(port) as c:
            for target in ("/a", "/b"):
                c.send(f"GET {target} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode(), ["GET"])
                r = c.read_response()
                assert r.status == 200 and r.get("Connection") == "keep-alive"
                assert json.loads(r.body)["target"] == target
        assert [s["keep_alive"] for s in srv.seen] == [True, True]


def test_idle_keep_alive_connection_closed_after_timeout():
    with serving(RecordingServer, keep_alive_timeout=0.3) as (srv, port):
        with RawConn(port) as c:
            assert c.request("GET", "/").status == 200
            t0 = time.monotonic()
            assert c.wait_closed(5), "the idle connection was not closed"
            waited = time.monotonic() - t0
        assert 0.2 < waited < 3, waited
        # A connection that never sends a request is idle too.
        with RawConn(port) as c:
            assert c.wait_closed(5) and c.buf == b""


def test_a_busy_keep_alive_connection_stays_open():
    with serving(RecordingServer, keep_alive_timeout=0.4) as (srv, port):
        with RawConn(port) as c:
            deadline = time.monotonic() + 1.0   # well past the timeout
            n = 0
            while time.monotonic() < deadline:
                assert c.request("GET", f"/{n}").status == 200
                n += 1
                c.wait_closed(0.1)   # paces the requests; they keep the connection alive
                assert not c.closed
        assert len(srv.seen) == n


def test_upgrade_request_answered_normally_then_closed():
    with serving(RecordingServer) as (srv, port):
        data, closed = raw_exchange_ex(
            port, b"GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                  b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        rs = responses_in(data)
        assert closed and [r.status for r in rs] == [200]
        assert rs[0].get("Connection") == "close" and rs[0].get("Upgrade") is None
        assert srv.targets() == ["/up"]


# -- bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4096, 65537, 1 << 20])
def test_post_bodies_with_http_client(size):
    body = os.urandom(size)
    with serving(EchoServer) as (srv, port):
        status, _, data = http_get(port, "/up", "POST", body=body)
    info = json.loads(data)
    assert status == 200 and info["body_len"] == size
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_body_over_max_body_size_by_content_length_gets_413_at_once():
    with serving(RecordingServer, max_body_size=100) as (srv, port):
        with RawConn(port) as c:
            # Only the head is sent: 413 must not wait for the body.
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
            r = c.read_response()
            assert r.status == 413 and r.get("Connection") == "close"
            assert c.wait_closed(5)
        status, _, data = http_get(port, "/", "POST", body=b"x" * 100)
        assert status == 200 and json.loads(data)["body_len"] == 100
        assert srv.targets() == ["/"]


def test_chunked_body_over_max_body_size_gets_413_as_it_arrives():
    with serving(RecordingServer, max_body_size=1000) as (srv, port):
        with RawConn(port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            c.send(b"200\r\n" + b"a" * 512 + b"\r\n")
            c.send(b"200\r\n" + b"a" * 512 + b"\r\n")     # 1024 > 1000; no last chunk sent
            r = c.read_response()
            assert r.status == 413
            assert c.wait_closed(5)
        assert srv.targets() == []


@pytest.mark.parametrize("limit, size, status", [(1000, 1000, 200), (1000, 1001, 413), (0, 0, 200), (0, 1, 413)])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_max_body_size_boundaries(limit, size, status, framing):
    body = b"x" * size
    if framing == "chunked":
        data = (b"POST /m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + chunked(body, [300]))
    else:
        data = request_bytes("POST", "/m", (("Host", "x"), ("Connection", "close"), ("Content-Length", str(size))), body)
    with serving(RecordingServer, max_body_size=limit) as (srv, port):
        got, closed = raw_exchange_ex(port, data)
        assert closed and [r.status for r in responses_in(got)] == [status]
        assert srv.targets() == (["/m"] if status == 200 else [])


def test_chunked_body_and_trailers_are_not_headers():
    with serving(RecordingServer) as (srv, port):
        with RawConn(port) as c:
            c.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                   b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Sum: 42\r\nX-Other: 1\r\n\r\n", ["POST"])
            assert c.read_response().status == 200
        (seen,) = srv.seen
        assert seen["body"] == b"hello world!"
        names = [n.lower() for n, _ in seen["headers"]]
        assert "x-sum" not in names and "x-other" not in names
        assert names == ["host", "transfer-encoding", "trailer"]


def test_expect_100_continue_is_sent_before_the_body():
    with serving(RecordingServer) as (srv, port):
        with RawConn(port) as c:
            c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", ["POST"])
            interim = c.read_response(interim=True)
            assert interim.status == 100 and interim.reason == "Continue" and interim.raw == \
                b"HTTP/1.1 100 Continue\r\n\r\n"
            c.send(b"hello")
            r = c.read_response()
            assert r.status == 200
            # No 100 for a request without a body.
            c.send(b"GET /g HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", ["GET"])
            r = c.read_response(interim=True)
            assert r.status == 200
        assert [s["body"] for s in srv.seen] == [b"hello", b""]


class HeldServer(hpsocket.HttpServer):
    """Answers /hold* later (the test calls respond), the rest at once."""

    def __init__(self, **options):
        super().__init__(**options)
        self.held = queue.Queue()

    def on_request(self, request):
        if request.path.startswith("/hold"):
            self.held.put(request)
            return None
        return 200, [], request.path.encode() + b" " + request.body


@isolated
def test_100_continue_after_an_owed_response():
    with serving(HeldServer) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/hold") +
                   b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
                   ["GET", "POST"])
            held = srv.held.get(timeout=5)
            srv.respond(held, 200, [], b"held")
            assert c.read_response(interim=True).body == b"held"
            assert c.read_response(timeout=1, interim=True).status == 100
            c.send(b"hello")
            assert c.read_response().body == b"/up hello"


def test_keep_alive_timeout_waits_for_an_owed_response():
    with serving(HeldServer, keep_alive_timeout=0.3) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/hold"), ["GET"])
            held = srv.held.get(timeout=5)
            assert not c.wait_closed(0.8), "closed while a response was owed"
            assert srv.respond(held, 200, [], b"late") is True
            assert c.read_response().body == b"late"
            assert c.wait_closed(5)     # idle again: now the timeout applies


@isolated
def test_header_timeout_of_a_pipelined_request_keeps_the_owed_response():
    with serving(HeldServer, header_timeout=0.5) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/hold") + b"GET /next HTTP/1.1\r\nHost: a\r\n", ["GET", "GET"])
            held = srv.held.get(timeout=5)
            c.wait_closed(0.8)        # past header_timeout: the sweeper has acted
            assert srv.respond(held, 200, [], b"late") is True
            r = c.read_response()
            assert r.status == 200 and r.body == b"late"
            assert c.wait_closed(5), "the slow request was neither answered nor closed"
            assert [x.status for x in responses_in(c.buf)] == [408]


def test_respond_after_stop_returns_false():
    srv = HeldServer()
    srv.start(HOST, 0)
    try:
        with RawConn(srv.listen_address[1]) as c:
            c.send(request_bytes("GET", "/hold"), ["GET"])
            held = srv.held.get(timeout=5)
    finally:
        srv.stop()
    assert srv.respond(held, 200, [], b"too late") is False


def test_header_timeout_gets_408():
    with serving(RecordingServer, header_timeout=0.3) as (srv, port):
        with RawConn(port) as c:
            t0 = time.monotonic()
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
            r = c.read_response(timeout=5)
            assert r.status == 408 and r.get("Connection") == "close"
            assert time.monotonic() - t0 < 3
            assert c.wait_closed(5)
        assert srv.targets() == []


def test_body_timeout_gets_408():
    with serving(RecordingServer, body_timeout=0.3) as (srv, port):
        with RawConn(port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            r = c.read_response(timeout=5)
            assert r.status == 408
            assert c.wait_closed(5)
        assert srv.targets() == []


# -- the handler's return value, exceptions, respond() ---------------------------------


class ErrorsServer(hpsocket.HttpServer):
    def __init__(self, **options):
        super().__init__(**options)
        self.errors = queue.Queue()
        self.outcome = None

    def on_request(self, request):
        if request.path == "/ok":
            return 200, [], b"fine"
        if request.path == "/two":
            return 201, [("X-Two", "2")]
        return self.outcome(request)

    def on_error(self, event, conn_id, exc):
        self.errors.put((event, conn_id, exc))


def _raise(request):
    raise KeyError("boom")


@pytest.mark.parametrize("outcome, exc_type", [
    (_raise, KeyError),
    (lambda r: "hello", TypeError),
    (lambda r: (200,), TypeError),
    (lambda r: (200, [], b"", 1), TypeError),
    (lambda r: [200, [], b""], TypeError),
    (lambda r: (99, [], b""), ValueError),
    (lambda r: (600, [], b""), ValueError),
    (lambda r: (101, [], b""), ValueError),
    (lambda r: ("200", [], b""), TypeError),
    (lambda r: (True, [], b""), TypeError),
    (lambda r: (200, [("Bad Name", "v")], b""), ValueError),
    (lambda r: (200, [("Bad:Name", "v")], b""), ValueError),
    (lambda r: (200, [("X", "a\r\nInjected: 1")], b""), ValueError),
    (lambda r: (200, [("X", "a\nb")], b""), ValueError),
    (lambda r: (200, [("X",)], b""), TypeError),
    (lambda r: (200, [("X", 1.5)], b""), TypeError),
    (lambda r: (200, [], 12), TypeError),
    (lambda r: (200, [("Transfer-Encoding", "chunked")], b""), ValueError),
    (lambda r: (200, [("Content-Length", "5")], b"abc"), ValueError),
], ids=["raises", "str", "short-tuple", "long-tuple", "list", "status-99", "status-600",
        "status-str", "status-bool", "status-101", "name-space", "name-colon", "value-crlf", "value-lf",
        "header-1-tuple", "value-float", "body-int", "te-header", "cl-mismatch"])
def test_handler_failures_give_500_and_on_error(outcome, exc_type):
    with serving(ErrorsServer) as (srv, port):
        srv.outcome = outcome
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/bad") + request_bytes("GET", "/ok"), ["GET", "GET"])
            r = c.read_response()
            assert r.status == 500 and r.get("Connection") == "close"
            assert b"Injected" not in c.buf + r.raw
            # The connection closes after the 500: the pipelined /ok is not answered.
            assert c.wait_closed(5) and c.buf == b""
        event, conn_id, exc = srv.errors.get(timeout=5)
        assert event == "on_request" and isinstance(exc, exc_type), exc
        assert isinstance(conn_id, int)
        assert srv.errors.empty()
        # The server still works.
        assert http_get(port, "/ok")[2] == b"fine"
        status, headers, body = http_get(port, "/two")       # (status, headers): no body
        assert (status, dict(headers)["X-Two"], dict(headers)["Content-Length"], body) == (201, "2", "0", b"")


def test_respond_from_another_thread_and_checks():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)
            return None

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/later"), ["GET"])
            req = got.get(timeout=5)
            assert not req.responded
            bad = [
                ((99, [], b""), ValueError), ((600, [], b""), ValueError), (("200", [], b""), TypeError),
                ((200, [("Bad Name", "v")], b""), ValueError), ((200, [("Bad:Name", "v")], b""), ValueError),
                ((200, [("X", "a\r\nb")], b""), ValueError), ((200, [("X", "a\rb")], b""), ValueError),
                ((200, [("X", "a\x00b")], b""), ValueError), ((200, [("", "v")], b""), ValueError),
                ((200, [(1, "v")], b""), TypeError), ((200, [("X", None)], b""), TypeError),
                ((200, "not-pairs", b""), TypeError), ((200, [], object()), TypeError),
            ]
            for args, exc_type in bad:
                with pytest.raises(exc_type):
                    srv.respond(req, *args)
                assert not req.responded
            with pytest.raises(TypeError):
                srv.respond(None, 200)
            # Nothing was sent by the failed calls.
            assert not c.wait_closed(0.05) and c.buf == b""
            # A valid answer after them works, from this (non-worker) thread.
            assert srv.respond(req, 201, [("X-From", "test-thread")], b"later") is True
            assert req.responded
            r = c.read_response()
            assert (r.status, r.get("X-From"), r.body) == (201, "test-thread", b"later")
            with pytest.raises(RuntimeError):
                srv.respond(req, 200, [], b"again")
            with pytest.raises(RuntimeError):
                req.respond(200)
            # Request.respond from another thread.
            c.send(request_bytes("GET", "/method"), ["GET"])
            req2 = got.get(timeout=5)
            t = threading.Thread(target=req2.respond, args=(202, [("A", "b")], "ok"))
            t.start()
            t.join(5)
            r = c.read_response()
            assert (r.status, r.body) == (202, b"ok")
            assert c.buf == b""


def test_respond_after_the_client_left_returns_false():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def __init__(self):
            super().__init__()
            self.closed = threading.Event()

        def on_request(self, request):
            got.put(request)

        def on_close(self, conn_id, operation, error_code):
            self.closed.set()

    with serving(App) as (srv, port):
        c = RawConn(port)
        c.send(request_bytes("GET", "/"))
        req = got.get(timeout=5)
        c.close()
        assert srv.closed.wait(5)
        # on_close runs before the library forgets the connection.
        wait_for(lambda: req.conn_id not in srv.connection_ids, timeout=5)
        assert srv.respond(req, 200, [], b"nobody") is False
        assert req.remote_address is None


def test_respond_to_a_request_of_another_server_is_refused():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)

    with serving(App) as (a, port_a), serving(App) as (b, port_b):
        with RawConn(port_a) as c:
            c.send(request_bytes("GET", "/"), ["GET"])
            req = got.get(timeout=5)
            with pytest.raises(ValueError):
                b.respond(req, 200)
            a.respond(req, 200, [], b"mine")
            assert c.read_response().body == b"mine"


def test_request_objects_are_not_made_by_users():
    with pytest.raises(TypeError):
        hpsocket.Request()


# -- Request attributes -------------------------------------------------------------------


def test_request_attributes():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)
            return 200, [], b""

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            c.send(b"PUT /a%20b/%E2%82%AC/x%2Fy?q=1&q=2&e=&flag&sp=a+b&enc=%26#frag HTTP/1.1\r\n"
                   b"Host: example\r\nX-Rep: one\r\nx-other: o\r\nX-REP: two\r\nContent-Length: 4\r\n"
                   b"x-rep: three\r\nEmpty:\r\n\r\nbody", ["PUT"])
            assert c.read_response().status == 200
            req = got.get(timeout=5)
            assert req.method == "PUT"
            assert req.target == "/a%20b/%E2%82%AC/x%2Fy?q=1&q=2&e=&flag&sp=a+b&enc=%26#frag"
            assert req.path == "/a b/€/x/y"
            assert req.query == "q=1&q=2&e=&flag&sp=a+b&enc=%26"
            assert req.query_params == {"q": ["1", "2"], "e": [""], "flag": [""], "sp": ["a b"], "enc": ["&"]}
            assert req.version == "1.1" and req.keep_alive is True
            assert req.body == b"body"
            h = req.headers
            assert h.items() == [("Host", "example"), ("X-Rep", "one"), ("x-other", "o"), ("X-REP", "two"),
                                 ("Content-Length", "4"), ("x-rep", "three"), ("Empty", "")]
            assert h.get("x-rep") == "one" and h.get("X-OTHER") == "o" and h.get("missing") is None
            assert h.get("missing", "d") == "d"
            assert h.get_all("X-Rep") == ["one", "two", "three"] and h.get_all("nope") == []
            assert h["HOST"] == "example" and "host" in h and "nope" not in h
            assert h.get("Empty") == "" and len(h) == 7
            with pytest.raises(KeyError):
                h["nope"]
            assert isinstance(req.conn_id, int)
            host, cport = req.remote_address
            assert host == HOST and cport == c.sock.getsockname()[1]
            assert "PUT" in repr(req)

            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ["GET"])
            c.read_response()
            req = got.get(timeout=5)
            assert (req.version, req.keep_alive, req.query, req.query_params, req.body) == \
                ("1.0", True, "", {}, b"")
            assert req.headers.items() == [("Connection", "keep-alive")]

            c.send(b"GET /only%3Fpath HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", ["GET"])
            c.read_response()
            req = got.get(timeout=5)
            assert req.path == "/only?path" and req.query == "" and not req.keep_alive


def test_header_values_are_latin1_text():
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)
            return 200, [], b""

    with serving(App) as (srv, port):
        with RawConn(port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: h\r\nX-Bytes: caf\xe9 \xff\r\n\r\n", ["GET"])
            assert c.read_response().status == 200
            assert got.get(timeout=5).headers.get("x-bytes") == "caf\xe9 \xff"


# -- pipelining and order ---------------------------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
def test_fifty_pipelined_requests_in_one_write(threads):
    with serving(EchoServer, **threads_opt(threads)) as (srv, port):
        with RawConn(port) as c:
            reqs = b"".join(
                request_bytes("POST" if i % 3 == 0 else "GET", f"/p{i}", body=b"b" * i if i % 3 == 0 else b"")
                for i in range(50))
            c.send(reqs, ["POST" if i % 3 == 0 else "GET" for i in range(50)])
            rs = c.read_responses(50, timeout=10)
            assert [json.loads(r.body)["target"] for r in rs] == [f"/p{i}" for i in range(50)]
            assert [json.loads(r.body)["body_len"] for r in rs] == [i if i % 3 == 0 else 0 for i in range(50)]
            assert c.buf == b""


@pytest.mark.parametrize("threads", THREADS)
def test_pipelined_answers_made_in_reverse_order_from_threads_leave_in_request_order(threads):
    n = 20
    pending = []
    all_in = threading.Event()
    lock = threading.Lock()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            with lock:
                pending.append(request)
                if len(pending) == n:
                    all_in.set()
            return None

    with serving(App, **threads_opt(threads)) as (srv, port):
        with RawConn(port) as c:
            c.send(b"".join(request_bytes("GET", f"/o{i}") for i in range(n)), ["GET"] * n)
            assert all_in.wait(5), f"only {len(pending)} requests arrived"
            assert sorted(r.target for r in pending) == sorted(f"/o{i}" for i in range(n))
            by_target = {r.target: r for r in pending}
            # Thread i answers request i after thread i+1 answered: the
            # answers are made strictly in reverse order, each on its own thread.
            done = [threading.Event() for _ in range(n + 1)]
            done[n].set()
            results = [None] * n

            def answer(i):
                if done[i + 1].wait(5):
                    results[i] = srv.respond(by_target[f"/o{i}"], 200, [("X-I", str(i))], f"answer {i}")
                done[i].set()

            workers = [threading.Thread(target=answer, args=(i,)) for i in range(n)]
            for t in workers:
                t.start()
            for t in workers:
                t.join(10)
            assert results == [True] * n
            rs = c.read_responses(n, timeout=10)
            assert [r.body for r in rs] == [f"answer {i}".encode() for i in range(n)]
            assert [r.get("X-I") for r in rs] == [str(i) for i in range(n)]


@pytest.mark.parametrize("threads", THREADS)
def test_a_late_first_answer_holds_back_the_later_ones(threads):
    first = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            if request.path == "/slow":
                first.put(request)
                return None
            return 200, [], request.path.encode()

    with serving(App, **threads_opt(threads)) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/slow") + request_bytes("GET", "/fast1") + request_bytes("GET", "/fast2"),
                   ["GET"] * 3)
            slow = first.get(timeout=5)
            # The fast answers are made but must wait behind /slow.
            assert not c.wait_closed(0.2) and c.buf == b""
            srv.respond(slow, 200, [], b"/slow")
            assert [r.body for r in c.read_responses(3)] == [b"/slow", b"/fast1", b"/fast2"]


@pytest.mark.parametrize("threads", THREADS)
def test_large_pipelined_answers_made_in_reverse_order(threads):
    sizes = [4 << 20, 10, 1 << 20, 0, 3 << 20]
    got = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            got.put(request)

    with serving(App, **threads_opt(threads)) as (srv, port):
        with RawConn(port, timeout=20) as c:
            c.send(b"".join(request_bytes("GET", f"/b{i}") for i in range(len(sizes))), ["GET"] * len(sizes))
            reqs = {}
            for _ in sizes:
                r = got.get(timeout=5)
                reqs[r.target] = r
            workers = [threading.Thread(target=srv.respond, args=(reqs[f"/b{i}"], 200, [], bytes([65 + i]) * sizes[i]))
                       for i in reversed(range(len(sizes)))]
            for t in workers:
                t.start()
            for t in workers:
                t.join(10)
            rs = c.read_responses(len(sizes), timeout=20)
            assert [r.body for r in rs] == [bytes([65 + i]) * n for i, n in enumerate(sizes)]
            assert c.buf == b""


def test_handler_exception_on_request_threads_gives_500():
    errors = queue.Queue()

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            if request.path == "/boom":
                raise RuntimeError("boom")
            return 200, [], b"ok"

        def on_error(self, event, conn_id, exc):
            errors.put((event, exc))

    with serving(App, **threads_opt(THREADS[-1])) as (srv, port):
        with RawConn(port) as c:
            c.send(request_bytes("GET", "/fine") + request_bytes("GET", "/boom") + request_bytes("GET", "/fine"),
                   ["GET"] * 3)
            first, second = c.read_responses(2)
            assert (first.status, second.status) == (200, 500)
            assert second.get("Connection") == "close"
            assert c.wait_closed(5) and c.buf == b""
        event, exc = errors.get(timeout=5)
        assert event == "on_request" and isinstance(exc, RuntimeError)


def test_pipelined_request_after_a_body_and_a_refused_one():
    with serving(RecordingServer) as (srv, port):
        data, closed = raw_exchange_ex(
            port, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                  b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /c HTTP/1.1\r\n\r\n"                       # no Host: 400, then close
                  b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n")
        rs = responses_in(data)
        assert closed and [r.status for r in rs] == [200, 200, 400]
        assert srv.targets() == ["/a", "/b"]
        assert srv.seen[0]["body"] == b"hello"


# -- many clients ---------------------------------------------------------------------------


@pytest.mark.parametrize("threads", THREADS)
def test_many_concurrent_keep_alive_clients(threads):
    clients, per_client = 50, 20
    failures = []
    with serving(EchoServer, **threads_opt(threads)) as (srv, port):
        def client(k):
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                ids = set()
                for i in range(per_client):
                    body = f"{k}:{i}".encode() * (i % 4)
                    conn.request("POST" if body else "GET", f"/c{k}/{i}", body=body or None)
                    resp = conn.getresponse()
                    info = json.loads(resp.read())
                    if resp.status != 200 or info["target"] != f"/c{k}/{i}" or info["body_len"] != len(body):
                        failures.append((k, i, resp.status, info))
                    ids.add(info["conn_id"])
                conn.close()
                if len(ids) != 1:
                    failures.append((k, "connections", ids))
            except Exception as exc:   # noqa: BLE001 - reported below
                failures.append((k, repr(exc)))

        workers = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        assert not any(t.is_alive() for t in workers)
        assert failures == []
        assert len(srv.calls) == clients * per_client
        assert len({cid for cid, _ in srv.calls}) == clients


# -- curl ----------------------------------------------------------------------------------

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def run_curl(*args, timeout=30):
    proc = subprocess.run([CURL, "-sS", "--max-time", "20", *args], capture_output=True, timeout=timeout)
    return proc


@needs_curl
def test_curl_keep_alive_across_urls():
    with serving(EchoServer) as (srv, port):
        base = f"http://{HOST}:{port}"
        proc = run_curl("-v", f"{base}/one", f"{base}/two", f"{base}/three")
        assert proc.returncode == 0, proc.stderr
        err = proc.stderr.decode(errors="replace")
        assert err.count("Re-using existing connection") == 2, err
        assert len({cid for cid, _ in srv.calls}) == 1
        assert [t for _, t in srv.calls] == ["/one", "/two", "/three"]


@needs_curl
def test_curl_upload_with_expect_100_continue(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with serving(EchoServer, max_body_size=8 << 20) as (srv, port):
        proc = run_curl("-v", "--data-binary", f"@{path}", "-H", "Expect: 100-continue",
                        "-H", "Content-Type: application/octet-stream", f"http://{HOST}:{port}/upload")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode(errors="replace")
    # The interim answer came (curl would otherwise wait its 1 s expect timeout).
    assert "< HTTP/1.1 100 Continue" in err, err
    info = json.loads(proc.stdout)
    assert info["body_len"] == len(data) and info["body_sha256"] == hashlib.sha256(data).hexdigest()


@needs_curl
def test_curl_upload_over_the_limit_gets_413_instead_of_100(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (2 << 20))
    with serving(EchoServer, max_body_size=1 << 20) as (srv, port):
        proc = run_curl("-v", "-o", os.devnull, "-w", "%{http_code}", "--data-binary", f"@{path}",
                        "-H", "Expect: 100-continue", f"http://{HOST}:{port}/upload")
    err = proc.stderr.decode(errors="replace")
    assert proc.stdout == b"413", err
    assert "100 Continue" not in err
    assert srv.calls == []


@needs_curl
def test_curl_chunked_upload(tmp_path):
    data = os.urandom(300_000)
    path = tmp_path / "chunks.bin"
    path.write_bytes(data)
    with serving(EchoServer) as (srv, port):
        proc = run_curl("-v", "--data-binary", f"@{path}", "-H", "Transfer-Encoding: chunked",
                        f"http://{HOST}:{port}/chunked")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["body_len"] == len(data) and info["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert ["Transfer-Encoding", "chunked"] in info["headers"]


@needs_curl
def test_curl_head_and_http_1_0():
    with serving(EchoServer) as (srv, port):
        proc = run_curl("-I", f"http://{HOST}:{port}/h")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
        proc = run_curl("--http1.0", f"http://{HOST}:{port}/ten")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["version"] == "1.0"


# -- requests, httpx, aiohttp -----------------------------------------------------------------


def test_requests_session():
    requests = pytest.importorskip("requests")
    with serving(EchoServer) as (srv, port):
        base = f"http://{HOST}:{port}"
        with requests.Session() as s:
            r1 = s.get(f"{base}/a", params={"x": "1 2", "y": ["3", "4"]}, timeout=5)
            assert r1.status_code == 200 and r1.json()["query"] == "x=1+2&y=3&y=4"
            r2 = s.post(f"{base}/b", json={"k": "v"}, timeout=5)
            assert r2.json()["body_len"] == len(b'{"k": "v"}')
            r3 = s.head(f"{base}/c", timeout=5)
            assert r3.status_code == 200 and r3.content == b"" and int(r3.headers["Content-Length"]) > 0

            def gen():
                for i in range(10):
                    yield b"chunk%d;" % i

            r4 = s.post(f"{base}/d", data=gen(), timeout=5)     # a generator goes chunked
            info = r4.json()
            assert info["body_len"] == len(b"".join(gen()))
            assert ["Transfer-Encoding", "chunked"] in info["headers"]
            assert len({r.json()["conn_id"] for r in (r1, r2, r4)}) == 1


def test_httpx_client():
    httpx = pytest.importorskip("httpx")
    with serving(EchoServer) as (srv, port):
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=5) as client:
            r1 = client.get("/a", params={"q": "é"})
            assert r1.status_code == 200 and r1.json()["path"] == "/a"
            assert r1.json()["query"] == "q=%C3%A9"
            r2 = client.put("/b", content=b"x" * 100_000)
            assert r2.json()["body_len"] == 100_000 and r2.json()["method"] == "PUT"
            r3 = client.post("/c", content=iter([b"a" * 1000, b"b" * 1000]))   # chunked
            assert r3.json()["body_len"] == 2000
            r4 = client.request("DELETE", "/d")
            assert r4.json()["method"] == "DELETE"
            assert len({r.json()["conn_id"] for r in (r1, r2, r3, r4)}) == 1
            r5 = client.get("/e", headers={"Connection": "close"})
            assert r5.headers["connection"] == "close"


def test_aiohttp_client():
    aiohttp = pytest.importorskip("aiohttp")

    async def main(port):
        results = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async def one(i):
                async with session.post(f"http://{HOST}:{port}/a{i}", data=b"z" * i) as resp:
                    return resp.status, await resp.json(content_type=None)
            results = await asyncio.gather(*(one(i) for i in range(30)))
        return results

    with serving(EchoServer) as (srv, port):
        results = asyncio.run(asyncio.wait_for(main(port), 20))
    assert [s for s, _ in results] == [200] * 30
    assert [(info["target"], info["body_len"]) for _, info in results] == [(f"/a{i}", i) for i in range(30)]
