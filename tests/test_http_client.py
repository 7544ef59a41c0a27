"""The HTTP clients: HttpAgent and HttpClient (whole responses through
on_response, pipelining, many connections) and HttpSyncClient (blocking,
timeouts), against hpsocket's own HttpServer, against the standard library's
ThreadingHTTPServer, and against raw-socket servers that misbehave (garbage,
a connection closed in the middle of a response, no answer at all).

Every wait is bounded: conditions and events with timeouts, sockets with
timeouts."""

import errno
import hashlib
import http.server
import json
import socket
import threading
import time
import weakref

import pytest

import hpsocket
from hpsocket import HPSocketError, HttpTimeoutError, SocketError

from support import HOST, TIMEOUT, wait_for

BIG = 5 * 1024 * 1024


# -- servers ----------------------------------------------------------------------


def _pattern(n):
    """n bytes that differ from one offset to the next."""
    block = bytes(range(256)) * 64
    return (block * (n // len(block) + 1))[:n]


class EchoServer(hpsocket.HttpServer):
    """hpsocket's server: /big/<n> answers n bytes; /chunked answers in
    pieces; anything else a JSON description of the request."""

    def __init__(self, **options):
        super().__init__(**options)
        self.max_body_size = 8 << 20

    def on_request(self, request):
        if request.path.startswith("/big/"):
            return 200, [("Content-Type", "application/octet-stream")], _pattern(int(request.path[5:]))
        if request.path == "/chunked":
            w = self.start_response(request, 200, [("X-Mode", "chunked")])
            for piece in (b"one,", b"two,", b"three"):
                w.write(piece)
            w.end()
            return None
        info = {
            "method": request.method,
            "target": request.target,
            "headers": request.headers.items(),
            "body": request.body.decode("latin-1"),
        }
        return 200, [("Content-Type", "application/json"), ("X-Twice", "1"), ("x-twice", "2")], \
            json.dumps(info).encode()


class PyHandler(http.server.BaseHTTPRequestHandler):
    """The standard library's server, HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, head_only=False):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for piece in (b"alpha-", b"beta-", b"gamma"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Checksum: abc\r\n\r\n")
            return
        if self.path.startswith("/big/"):
            payload = _pattern(int(self.path[5:]))
        else:
            payload = json.dumps({
                "method": self.command,
                "target": self.path,
                "headers": list(self.headers.items()),
                "body": body.decode("latin-1"),
            }).encode()
        self.send_response(201 if self.command == "PUT" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Multi", "first")
        self.send_header("x-multi", "second")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)

    def do_GET(self):
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self):
        self._answer(head_only=True)


class PyServer:
    """http.server.ThreadingHTTPServer on 127.0.0.1 in a thread."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), PyHandler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)


class RawServer:
    """A listening socket; each accepted connection is handled by
    ``script(conn, server)`` on a thread of its own.  ``received`` holds
    what each connection sent; ``accepted`` counts connections."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(128)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.received = []
        self.accepted = 0
        self.threads = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            with self.lock:
                self.accepted += 1
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, conn):
        try:
            self.script(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def read_heads(self, conn, n):
        """Read until n request heads arrived (bodies must not contain a
        blank line); record and return the bytes."""
        data = b""
        while data.count(b"\r\n\r\n") < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        with self.lock:
            self.received.append(data)
        return data

    def hold(self, conn):
        """Keep the connection open until the client closes it or the
        server is closed."""
        conn.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(TIMEOUT)
        for t in self.threads:
            t.join(TIMEOUT)


def replying(data, requests=1, close=True):
    """A RawServer script: read the requests' heads, send data, then close
    (or keep the connection open until the client closes it)."""
    def script(conn, server):
        server.read_heads(conn, requests)
        if data:
            conn.sendall(data)
        if not close:
            server.hold(conn)
    return script


# -- recording clients ---------------------------------------------------------------


class Recording:
    """Records responses, closes, parse errors and handler errors under a
    condition; wait() blocks (bounded) for a predicate over self."""

    def __init__(self, **options):
        super().__init__(**options)
        self.cond = threading.Condition()
        self.responses = []
        self.closes = []
        self.parse_errors = []
        self.errors = []

    def on_response(self, conn_id, response):
        with self.cond:
            self.responses.append((conn_id, response))
            self.cond.notify_all()

    def on_close(self, conn_id, operation, error_code):
        with self.cond:
            self.closes.append((conn_id, operation, error_code))
            self.cond.notify_all()

    def on_parse_error(self, conn_id, code, description):
        with self.cond:
            self.parse_errors.append((conn_id, code, description))
            self.cond.notify_all()

    def on_error(self, event, conn_id, exc):
        with self.cond:
            self.errors.append((event, conn_id, exc))
            self.cond.notify_all()

    def wait(self, predicate, timeout=TIMEOUT):
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self), timeout), \
                f"timed out: {len(self.responses)} responses, closes {self.closes}, " \
                f"parse errors {self.parse_errors}, errors {self.errors}"

    def bodies(self):
        return [r.body for _, r in self.responses]


class Agent(Recording, hpsocket.HttpAgent):
    pass


class Client(Recording, hpsocket.HttpClient):
    pass


# -- fixtures: weak proxies, so that the leftover check sees them freed ---------------


@pytest.fixture
def hp_server():
    srv = EchoServer()
    srv.start(HOST, 0)
    yield weakref.proxy(srv)
    srv.stop()


@pytest.fixture
def py_server():
    srv = PyServer()
    yield srv
    srv.close()


@pytest.fixture(params=["hpsocket", "stdlib"])
def server_port(request, hp_server, py_server):
    """The port of either server (both are started; one is used)."""
    return hp_server.listen_address[1] if request.param == "hpsocket" else py_server.port


@pytest.fixture
def agent():
    a = Agent()
    a.start(async_connect=False)
    yield weakref.proxy(a)
    a.stop()


@pytest.fixture
def raw_servers():
    """A factory of RawServers, all closed at the end."""
    made = []

    def make(script):
        srv = RawServer(script)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


class Connection:
    """One HTTP connection through either class, the same way: ``send`` a
    request, the recorder ``rec`` sees what comes back."""

    def __init__(self, kind, port):
        if kind == "agent":
            self.rec = Agent()
            self.rec.start(async_connect=False)
            self.conn_id = self.rec.connect(HOST, port)
        else:
            self.rec = Client()
            self.rec.start(HOST, port)
            self.conn_id = self.rec.connection_id

    def send(self, method, path, headers=(), body=b""):
        if isinstance(self.rec, hpsocket.HttpAgent):
            return self.rec.request(self.conn_id, method, path, headers, body)
        return self.rec.request(method, path, headers, body)

    def stop(self):
        self.rec.stop()


@pytest.fixture(params=["agent", "client"])
def connection_to(request):
    """connection_to(port): a Connection through HttpAgent or HttpClient."""
    made = []

    def make(port):
        c = Connection(request.param, port)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
    made.clear()     # pytest keeps `make` (and so this list) past the leftover check


# -- requests and responses -----------------------------------------------------------


@pytest.mark.parametrize("method,body", [
    ("GET", b""), ("POST", b"posted body"), ("PUT", b"\x00\x01binary\xff"), ("DELETE", b""),
    ("PATCH", "text é"), ("OPTIONS", b""),
])
def test_methods_with_bodies_and_headers(server_port, connection_to, method, body):
    c = connection_to(server_port)
    assert c.send(method, "/path/x?q=1", [("X-One", "1"), ("X-Two", b"two")], body) is True
    c.rec.wait(lambda r: r.responses)
    conn_id, resp = c.rec.responses[0]
    assert conn_id == c.conn_id and resp.conn_id == c.conn_id
    assert isinstance(resp, hpsocket.Response)
    assert resp.status == (201 if method == "PUT" and resp.headers.get("X-Multi") else 200)
    assert resp.reason in ("OK", "Created")
    assert resp.version == "1.1" and resp.keep_alive is True
    assert resp.request_method == method and resp.request_target == "/path/x?q=1"
    info = json.loads(resp.body)
    assert info["method"] == method and info["target"] == "/path/x?q=1"
    sent = body.encode() if isinstance(body, str) else body
    assert info["body"].encode("latin-1") == sent
    names = [n.lower() for n, _ in info["headers"]]
    assert names[0] == "host"                       # Host first, then the caller's fields in order
    assert dict((n.lower(), v) for n, v in info["headers"])["host"] == f"127.0.0.1:{server_port}"
    assert names.index("x-one") < names.index("x-two")
    assert names.count("content-length") == (1 if sent or method in ("POST", "PUT", "PATCH") else 0)
    assert resp.headers["content-length"] == str(len(resp.body))
    assert not c.rec.closes and not c.rec.errors


def test_head_has_no_body(server_port, connection_to):
    c = connection_to(server_port)
    assert c.send("HEAD", "/x")
    assert c.send("GET", "/x")       # the next response on the connection is intact
    c.rec.wait(lambda r: len(r.responses) == 2)
    head, get = (resp for _, resp in c.rec.responses)
    assert head.request_method == "HEAD" and head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) > 0
    assert get.request_method == "GET" and json.loads(get.body)["method"] == "GET"


def test_headers_case_insensitive_in_wire_order_with_repeats(py_server, connection_to):
    c = connection_to(py_server.port)
    c.send("GET", "/")
    c.rec.wait(lambda r: r.responses)
    resp = c.rec.responses[0][1]
    assert isinstance(resp.headers, hpsocket.Headers)
    assert resp.headers.get_all("X-MULTI") == ["first", "second"]
    assert resp.headers["x-multi"] == "first"
    names = resp.headers.keys()
    assert names.index("X-Multi") + 1 == names.index("x-multi")     # wire order, spelling kept
    assert "content-type" in resp.headers and "Nope" not in resp.headers


@pytest.mark.parametrize("which", ["hpsocket", "stdlib"])
def test_chunked_response_and_trailers(which, hp_server, py_server, connection_to):
    c = connection_to(hp_server.listen_address[1] if which == "hpsocket" else py_server.port)
    c.send("GET", "/chunked")
    c.rec.wait(lambda r: r.responses)
    resp = c.rec.responses[0][1]
    assert resp.headers["Transfer-Encoding"] == "chunked"
    if which == "hpsocket":
        assert resp.body == b"one,two,three"
        assert len(resp.trailers) == 0
    else:
        assert resp.body == b"alpha-beta-gamma"
        assert resp.trailers.items() == [("X-Checksum", "abc")]
        assert "X-Checksum" not in resp.headers     # trailers are not headers


def test_five_megabyte_response(server_port, connection_to):
    c = connection_to(server_port)
    c.send("GET", f"/big/{BIG}")
    c.rec.wait(lambda r: r.responses, timeout=30)
    resp = c.rec.responses[0][1]
    assert len(resp.body) == BIG
    assert hashlib.sha256(resp.body).digest() == hashlib.sha256(_pattern(BIG)).digest()


def test_pipelined_requests_answered_in_order(hp_server, connection_to):
    c = connection_to(hp_server.listen_address[1])
    methods = ["GET", "POST", "HEAD", "PUT", "GET", "HEAD", "DELETE"] * 4
    for i, m in enumerate(methods):       # all sent before any answer is read
        assert c.send(m, f"/p/{i}", body=b"x" * i if m in ("POST", "PUT") else b"")
    c.rec.wait(lambda r: len(r.responses) == len(methods))
    for i, (m, (_, resp)) in enumerate(zip(methods, c.rec.responses)):
        assert resp.request_method == m and resp.request_target == f"/p/{i}"
        if m == "HEAD":
            assert resp.body == b""
        else:
            info = json.loads(resp.body)
            assert info["target"] == f"/p/{i}" and info["method"] == m
    assert not c.rec.closes


def test_pipelined_responses_in_one_read_with_head_among_them(raw_servers, connection_to):
    # Three responses in one write; the HEAD's declares a body it does not
    # have (the library itself would judge by the last request sent).
    srv = raw_servers(replying(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthird",
        requests=3, close=False))
    c = connection_to(srv.port)
    for m, p in (("GET", "/1"), ("HEAD", "/2"), ("GET", "/3")):
        c.send(m, p)
    c.rec.wait(lambda r: len(r.responses) == 3)
    assert c.rec.bodies() == [b"first", b"", b"third"]
    assert [r.request_target for _, r in c.rec.responses] == ["/1", "/2", "/3"]
    assert srv.received[0].count(b" HTTP/1.1\r\n") == 3


def test_fifty_agent_connections_in_parallel(hp_server, agent):
    port = hp_server.listen_address[1]
    conns = [agent.connect(HOST, port) for _ in range(50)]
    assert len(set(conns)) == 50
    for i, conn_id in enumerate(conns):
        assert agent.request(conn_id, "POST", f"/c/{i}", body=str(conn_id))
    agent.wait(lambda r: len(r.responses) == 50)
    by_conn = {conn_id: resp for conn_id, resp in agent.responses}
    assert set(by_conn) == set(conns)
    for i, conn_id in enumerate(conns):
        info = json.loads(by_conn[conn_id].body)
        assert info["target"] == f"/c/{i}" and info["body"] == str(conn_id)
    assert agent.connection_count == 50 and not agent.closes


def test_request_from_on_response_follows_up(hp_server):
    class Chain(Agent):
        def on_response(self, conn_id, response):
            super().on_response(conn_id, response)
            if len(self.responses) < 5:
                self.request(conn_id, "GET", f"/next/{len(self.responses)}")

    a = Chain()
    a.start(async_connect=False)
    try:
        conn_id = a.connect(HOST, hp_server.listen_address[1])
        a.request(conn_id, "GET", "/next/0")
        a.wait(lambda r: len(r.responses) == 5)
        assert [json.loads(r.body)["target"] for _, r in a.responses] == [f"/next/{i}" for i in range(5)]
    finally:
        a.stop()


def test_request_from_on_connect_of_an_asynchronous_connect(hp_server):
    class Eager(Agent):
        def on_connect(self, conn_id):
            assert self.request(conn_id, "GET", "/first")

    a = Eager()
    a.start()          # async_connect=True: connect() returns before the connection is made
    try:
        conn_id = a.connect(HOST, hp_server.listen_address[1])
        a.wait(lambda r: r.responses)
        assert a.responses[0][0] == conn_id
        assert json.loads(a.responses[0][1].body)["target"] == "/first"
        assert not a.errors
    finally:
        a.stop()


def test_host_and_content_length_not_duplicated(raw_servers, connection_to):
    srv = raw_servers(replying(b"HTTP/1.1 204 No Content\r\n\r\n" * 2, requests=2, close=False))
    c = connection_to(srv.port)
    assert c.send("POST", "/a", [("host", "example.test"), ("content-length", "3")], b"abc")
    assert c.send("GET", "/b", [("Connection", "keep-alive")])
    c.rec.wait(lambda r: len(r.responses) == 2)
    head = srv.received[0]
    first, second = head.split(b"\r\n\r\n")[:2]
    assert first.lower().count(b"host:") == 1 and b"host: example.test" in first
    assert first.lower().count(b"content-length:") == 1
    assert second.startswith(b"abcGET /b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % srv.port)
    assert b"content-length" not in second.lower()


def test_interim_responses_skipped_and_204_has_no_body(raw_servers, connection_to):
    srv = raw_servers(replying(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"     # ignored: 204 has no body
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        requests=3, close=False))
    c = connection_to(srv.port)
    for p in ("/1", "/2", "/3"):
        c.send("GET", p)
    c.rec.wait(lambda r: len(r.responses) == 3)
    assert [(r.status, r.body, r.request_target) for _, r in c.rec.responses] == [
        (204, b"", "/1"), (304, b"", "/2"), (200, b"ok", "/3")]
    assert not c.rec.parse_errors


def test_body_until_close(raw_servers, connection_to):
    srv = raw_servers(replying(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall the rest"))
    c = connection_to(srv.port)
    c.send("GET", "/")
    c.rec.wait(lambda r: r.closes)
    assert c.rec.bodies() == [b"all the rest"]
    resp = c.rec.responses[0][1]
    assert resp.version == "1.0" and resp.keep_alive is False
    assert c.rec.closes[0][2] == 0            # a clean end


# -- misbehaving servers ------------------------------------------------------------------


def test_garbage_gives_parse_error_and_close(raw_servers, connection_to):
    srv = raw_servers(replying(b"SSH-2.0-OpenSSH_9.0\r\n\r\n", close=False))
    c = connection_to(srv.port)
    c.send("GET", "/")
    c.rec.wait(lambda r: r.closes)
    assert not c.rec.responses
    assert len(c.rec.parse_errors) == 1
    conn_id, code, description = c.rec.parse_errors[0]
    assert conn_id == c.conn_id and code > 0 and isinstance(description, str) and description
    assert c.rec.closes[0][2] == errno.EBADMSG


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",        # mid-body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",    # mid-chunk
    b"HTTP/1.1 200 OK\r\nContent-Le",                                  # mid-head
    b"",                                                               # no answer
], ids=["mid-body", "mid-chunk", "mid-head", "no-answer"])
def test_server_closing_mid_response_reports_reset(raw_servers, connection_to, reply):
    srv = raw_servers(replying(reply))
    c = connection_to(srv.port)
    c.send("GET", "/")
    c.rec.wait(lambda r: r.closes)
    assert not c.rec.responses and not c.rec.errors
    assert c.rec.closes[0][2] == errno.ECONNRESET


def test_close_after_complete_response_is_clean(raw_servers, connection_to):
    srv = raw_servers(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
    c = connection_to(srv.port)
    c.send("GET", "/")
    c.rec.wait(lambda r: r.closes)
    assert c.rec.bodies() == [b"ok"] and c.rec.responses[0][1].keep_alive is False
    assert c.rec.closes[0][2] == 0


def test_stop_with_requests_in_flight_is_not_a_reset(raw_servers, connection_to):
    srv = raw_servers(lambda conn, server: (server.read_heads(conn, 1), server.hold(conn)))
    c = connection_to(srv.port)
    c.send("GET", "/")
    wait_for(lambda: srv.received)       # the request is in flight
    c.stop()
    assert len(c.rec.closes) == 1 and c.rec.closes[0][2] != errno.ECONNRESET


def test_upgrade_response_is_delivered_then_the_connection_closes(raw_servers, connection_to):
    srv = raw_servers(replying(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               b"Connection: Upgrade\r\n\r\nraw bytes after", close=False))
    c = connection_to(srv.port)
    c.send("GET", "/ws", [("Upgrade", "websocket"), ("Connection", "Upgrade")])
    c.rec.wait(lambda r: r.closes)
    assert [r.status for _, r in c.rec.responses] == [101]
    assert not c.rec.parse_errors


def test_body_over_max_body_size_closes(hp_server):
    c = Client(max_body_size=1000)
    assert c.max_body_size == 1000
    c.start(HOST, hp_server.listen_address[1])
    try:
        c.request("GET", "/big/999")
        c.request("GET", "/big/1001")
        c.wait(lambda r: r.closes)
        assert [len(b) for b in c.bodies()] == [999]
        assert c.closes[0][2] == errno.EMSGSIZE and not c.parse_errors
    finally:
        c.stop()


def test_handler_exception_goes_to_on_error_and_closes_the_connection(hp_server):
    class Failing(Agent):
        def on_response(self, conn_id, response):
            raise RuntimeError("boom")

    a = Failing()
    a.start(async_connect=False)
    try:
        conn_id = a.connect(HOST, hp_server.listen_address[1])
        a.request(conn_id, "GET", "/")
        a.wait(lambda r: r.closes)
        assert [(e, c, type(x)) for e, c, x in a.errors] == [("on_response", conn_id, RuntimeError)]
        assert not a.parse_errors
    finally:
        a.stop()


def test_unhandled_responses_are_dropped_natively(hp_server):
    class Quiet(hpsocket.HttpAgent):
        def __init__(self):
            super().__init__()
            self.closed = threading.Event()

        def on_close(self, conn_id, operation, error_code):
            self.closed.set()

    a = Quiet()
    a.start(async_connect=False)
    try:
        conn_id = a.connect(HOST, hp_server.listen_address[1])
        assert a.request(conn_id, "GET", "/", [("Connection", "close")])
        assert a.closed.wait(TIMEOUT)
    finally:
        a.stop()


# -- cookies ------------------------------------------------------------------------------


def _cookie_script(conn, server):
    # Sets a cookie, then deletes it (the store is process-wide).
    for set_cookie in (b"Set-Cookie: hpsc_test=v1; Path=/\r\n", b"Set-Cookie: hpsc_test=; Path=/; Max-Age=0\r\n", b""):
        server.read_heads(conn, 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + set_cookie + b"Content-Length: 0\r\n\r\n")
    server.hold(conn)


@pytest.mark.parametrize("use_cookies", [False, True])
def test_cookies_off_by_default_and_on_when_asked(raw_servers, use_cookies):
    srv = raw_servers(_cookie_script)
    c = Client(use_cookies=True) if use_cookies else Client()
    assert c.use_cookies is use_cookies
    c.start(HOST, srv.port)
    try:
        c.request("GET", "/one")
        c.wait(lambda r: len(r.responses) == 1)
        c.request("GET", "/two")
        c.wait(lambda r: len(r.responses) == 2)
        c.request("GET", "/three")
        c.wait(lambda r: len(r.responses) == 3)
        first, second, third = srv.received
        assert second.startswith(b"GET /two HTTP/1.1\r\n")
        assert (b"Cookie: hpsc_test=v1" in second) is use_cookies
        assert b"hpsc_test" not in first + third
    finally:
        c.stop()


def test_use_cookies_only_while_stopped(agent):
    with pytest.raises(HPSocketError) as info:
        agent.use_cookies = True
    assert info.value.code == SocketError.ILLEGAL_STATE


# -- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("args,exc", [
    ((None, "/"), TypeError),
    ((1, "/"), TypeError),
    (("", "/"), ValueError),
    (("GE T", "/"), ValueError),
    (("GET\r\n", "/"), ValueError),
    (("GÉT", "/"), ValueError),
    (("GET", None), TypeError),
    (("GET", ""), ValueError),
    (("GET", "/a b"), ValueError),
    (("GET", "/a\r\nX: y"), ValueError),
    (("GET", "/é"), ValueError),
    (("GET", "/", [("Bad Name", "v")]), ValueError),
    (("GET", "/", [("Bad:Name", "v")]), ValueError),
    (("GET", "/", [("Bad\r\nName", "v")]), ValueError),
    (("GET", "/", [("", "v")]), ValueError),
    (("GET", "/", [("X", "a\r\nInjected: 1")]), ValueError),
    (("GET", "/", [("X", "a\nb")]), ValueError),
    (("GET", "/", [("X", "a\0b")]), ValueError),
    (("GET", "/", [("X",)]), TypeError),
    (("GET", "/", ["X: y"]), TypeError),
    (("GET", "/", "X: y"), TypeError),
    (("GET", "/", [(1, "v")]), TypeError),
    (("GET", "/", [("X", None)]), TypeError),
    (("GET", "/", [("Transfer-Encoding", "chunked")]), ValueError),
    (("POST", "/", [("Content-Length", "4")], b"abc"), ValueError),
    (("POST", "/", [("Content-Length", "x")], b"abc"), ValueError),
    (("GET", "/", [("Host", "a"), ("host", "b")]), ValueError),
    (("POST", "/", (), 123), TypeError),
    (("POST", "/", (), ["a"]), TypeError),
])
def test_invalid_request_arguments(hp_server, agent, args, exc):
    conn_id = agent.connect(HOST, hp_server.listen_address[1])
    with pytest.raises(exc):
        agent.request(conn_id, *args)
    # Nothing was sent: the connection still works.
    assert agent.request(conn_id, "GET", "/ok")
    agent.wait(lambda r: r.responses)
    assert json.loads(agent.responses[0][1].body)["target"] == "/ok"


def test_request_on_unknown_or_closed_connections(hp_server, agent):
    assert agent.request(987654321, "GET", "/") is False
    with pytest.raises(TypeError):
        agent.request("1", "GET", "/")
    with pytest.raises(ValueError):
        agent.request(-1, "GET", "/")
    conn_id = agent.connect(HOST, hp_server.listen_address[1])
    assert agent.disconnect(conn_id)
    agent.wait(lambda r: r.closes)
    assert agent.request(conn_id, "GET", "/") is False
    c = Client()
    assert c.request("GET", "/") is False      # never started


def test_options_are_checked():
    with pytest.raises(TypeError):
        Client(max_body_size="1")
    with pytest.raises(ValueError):
        Client(max_body_size=-1)
    with pytest.raises(TypeError):
        hpsocket.HttpAgent(no_such_option=1)
    assert hpsocket.HttpAgent().use_cookies is False
    with pytest.raises(TypeError):
        hpsocket.Response()


# -- HttpSyncClient --------------------------------------------------------------------------


@pytest.fixture
def sync_client():
    c = hpsocket.HttpSyncClient()
    yield weakref.proxy(c)
    c.close()


@pytest.mark.parametrize("method,body", [
    ("GET", None), ("POST", b"sync body"), ("PUT", "é text"), ("DELETE", None), ("PATCH", b"p"),
])
def test_sync_methods(server_port, sync_client, method, body):
    resp = sync_client.request(method, f"http://127.0.0.1:{server_port}/s?x=1", {"X-A": "1"}, body)
    assert isinstance(resp, hpsocket.Response)
    assert resp.status in (200, 201) and resp.reason in ("OK", "Created") and resp.version == "1.1"
    info = json.loads(resp.body)
    assert info["method"] == method and info["target"] == "/s?x=1"
    sent = body.encode() if isinstance(body, str) else (body or b"")
    assert info["body"].encode("latin-1") == sent
    names = [n.lower() for n, _ in info["headers"]]
    assert names.count("host") == 1 and names.count("x-a") == 1
    assert names.count("content-length") == (1 if sent or method in ("POST", "PUT", "PATCH") else 0)
    assert resp.headers["Content-Length"] == str(len(resp.body))
    assert resp.request_method == method


def test_sync_head_headers_chunked_and_big(py_server, sync_client):
    base = f"http://127.0.0.1:{py_server.port}"
    head = sync_client.request("HEAD", base + "/")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0
    resp = sync_client.request("GET", base + "/")
    assert resp.headers.get_all("X-Multi") == ["first", "second"]       # wire order, repeats
    chunked = sync_client.request("GET", base + "/chunked")
    assert chunked.body == b"alpha-beta-gamma" and chunked.trailers.items() == [("X-Checksum", "abc")]
    big = sync_client.request("GET", base + f"/big/{BIG}", timeout=30)
    assert hashlib.sha256(big.body).digest() == hashlib.sha256(_pattern(BIG)).digest()


def test_sync_keeps_the_connection(raw_servers):
    def script(conn, server):
        for i in range(2):
            server.read_heads(conn, 1)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % i)
        server.hold(conn)

    srv = raw_servers(script)
    with hpsocket.HttpSyncClient() as c:
        assert c.request("GET", f"http://127.0.0.1:{srv.port}/a").body == b"0"
        assert c.request("GET", f"http://127.0.0.1:{srv.port}/b").body == b"1"
    assert srv.accepted == 1


def test_sync_interim_response_then_final(raw_servers, sync_client):
    def script(conn, server):
        server.read_heads(conn, 1)
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.1)        # the final response in a later read
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        server.hold(conn)

    srv = raw_servers(script)
    resp = sync_client.request("POST", f"http://127.0.0.1:{srv.port}/", {"Expect": "100-continue"}, b"x")
    assert (resp.status, resp.body) == (200, b"final")


def test_sync_request_timeout(raw_servers):
    srv = raw_servers(lambda conn, server: (server.read_heads(conn, 1), server.hold(conn)))
    with hpsocket.HttpSyncClient(request_timeout=0.5) as c:
        assert c.request_timeout == 0.5
        start = time.monotonic()
        with pytest.raises(HttpTimeoutError) as info:
            c.request("GET", f"http://127.0.0.1:{srv.port}/")
        assert time.monotonic() - start < 2
        err = info.value
        assert isinstance(err, TimeoutError) and isinstance(err, HPSocketError)
        assert err.errno == errno.ETIMEDOUT
        # A per-request timeout, and the client works again afterwards.
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            c.request("GET", f"http://127.0.0.1:{srv.port}/", timeout=0.2)
        assert time.monotonic() - start < 1.5


def test_sync_connection_refused():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    with hpsocket.HttpSyncClient() as c:
        with pytest.raises(HPSocketError) as info:
            c.request("GET", f"http://127.0.0.1:{port}/")
    assert info.value.errno == errno.ECONNREFUSED
    assert info.value.code == SocketError.CONNECT_SERVER
    assert not isinstance(info.value, TimeoutError)


@pytest.mark.parametrize("reply,expected", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", errno.ECONNRESET),
    (b"", errno.ECONNRESET),
    (b"NOT HTTP AT ALL\r\n\r\n", errno.EBADMSG),
], ids=["mid-body", "no-answer", "garbage"])
def test_sync_misbehaving_servers(raw_servers, sync_client, reply, expected):
    srv = raw_servers(replying(reply))
    start = time.monotonic()
    with pytest.raises(HPSocketError) as info:
        sync_client.request("GET", f"http://127.0.0.1:{srv.port}/")
    assert info.value.errno == expected
    assert not isinstance(info.value, TimeoutError)
    assert time.monotonic() - start < 5


def test_sync_body_until_close(raw_servers, sync_client):
    srv = raw_servers(replying(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"))
    resp = sync_client.request("GET", f"http://127.0.0.1:{srv.port}/")
    assert resp.body == b"until the end" and resp.keep_alive is False


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/", "HTTPS://127.0.0.1:8443/x",
])
def test_sync_https_is_a_value_error(sync_client, url):
    with pytest.raises(ValueError, match="https"):
        sync_client.request("GET", url)


@pytest.mark.parametrize("kwargs,exc", [
    ({"url": "ftp://127.0.0.1/"}, ValueError),
    ({"url": "http:///nohost"}, ValueError),
    ({"url": "http://127.0.0.1:99999/"}, ValueError),
    ({"url": "http://127.0.0.1/a b"}, ValueError),
    ({"url": "http://127.0.0.1/\r\n"}, ValueError),
    ({"url": ""}, ValueError),
    ({"url": None}, TypeError),
    ({"method": "BAD METHOD"}, ValueError),
    ({"method": 5}, TypeError),
    ({"headers": [("X\r\nY", "1")]}, ValueError),
    ({"headers": [("X", "1\r\nY: 2")]}, ValueError),
    ({"headers": {"Transfer-Encoding": "chunked"}}, ValueError),
    ({"body": 3.5}, TypeError),
    ({"timeout": -1}, ValueError),
    ({"timeout": 0}, ValueError),
    ({"timeout": "1"}, TypeError),
    ({"timeout": True}, TypeError),
])
def test_sync_invalid_arguments(sync_client, kwargs, exc):
    args = {"method": "GET", "url": "http://127.0.0.1:9/"}
    args.update(kwargs)
    with pytest.raises(exc):
        sync_client.request(args["method"], args["url"], args.get("headers"), args.get("body"),
                            args.get("timeout"))


@pytest.mark.parametrize("kwargs,exc", [
    ({"connect_timeout": -1}, ValueError),
    ({"connect_timeout": None}, TypeError),
    ({"request_timeout": -0.5}, ValueError),
    ({"request_timeout": "10"}, TypeError),
])
def test_sync_invalid_timeouts(kwargs, exc):
    with pytest.raises(exc):
        hpsocket.HttpSyncClient(**kwargs)


def test_sync_defaults_and_settings():
    with hpsocket.HttpSyncClient() as c:
        assert (c.connect_timeout, c.request_timeout, c.use_cookies) == (5.0, 10.0, False)
        c.connect_timeout = 1.5
        c.request_timeout = None
        assert (c.connect_timeout, c.request_timeout) == (1.5, None)
