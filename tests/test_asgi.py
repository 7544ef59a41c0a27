"""hpsocket.asgi: real Starlette and FastAPI apps over real sockets, driven
by httpx and plain sockets.  The app tests run against uvicorn too, so that
they check the server and not the apps."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("fastapi")

import asgi_apps  # noqa: E402
import hpsocket.asgi  # noqa: E402
from support import HOST, TIMEOUT, recv_exact  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class ServerThread:
    """An ASGI server on its own event loop in a thread: hpsocket.asgi or
    uvicorn, on a port the OS chose."""

    def __init__(self, kind, app, **options):
        self.kind = kind
        self.app = app
        self.options = options
        self.loop = None
        self.server = None
        self.port = None
        self.error = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "the server did not start"
        if self.error is not None:
            self._thread.join(TIMEOUT)
            error, self.error, self.server = self.error, None, None
            raise error
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def _run(self):
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:        # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self._ready.set()
            self.loop.close()

    async def _main(self):
        if self.kind == "hpsocket":
            self.server = hpsocket.asgi.Server(self.app, **self.options)
            await self.server.start(HOST, 0)
            self.port = self.server.listen_address[1]
            self._ready.set()
            await self.server.serve_forever()
        else:
            import uvicorn
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(self.app, log_level="warning", lifespan="auto", **self.options)
            self.server = uvicorn.Server(config)
            task = asyncio.ensure_future(self.server.serve(sockets=[sock]))
            while not self.server.started and not task.done():
                await asyncio.sleep(0.01)
            self._ready.set()
            await task

    def stop(self):
        if self.loop is None or self.loop.is_closed() or not self._thread.is_alive():
            return
        if self.kind == "hpsocket":
            fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)
            fut.result(TIMEOUT)
        else:
            self.server.should_exit = True
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the server did not stop"
        # pytest keeps fixture values until after the leftover check.
        self.server = None


@pytest.fixture(params=["hpsocket", "uvicorn"])
def kind(request):
    if request.param == "uvicorn":
        pytest.importorskip("uvicorn")
    return request.param


@pytest.fixture
def starlette_server(kind):
    with ServerThread(kind, asgi_apps.starlette_app) as srv:
        yield srv


@pytest.fixture
def fastapi_server(kind):
    with ServerThread(kind, asgi_apps.fastapi_app) as srv:
        yield srv


def client(srv):
    return httpx.Client(base_url=srv.url, timeout=TIMEOUT)


# -- Starlette ---------------------------------------------------------------------

def test_starlette_routes_params_and_lifespan_state(starlette_server):
    with client(starlette_server) as c:
        r = c.get("/")
        assert (r.status_code, r.text) == (200, "Hello, World!")
        assert r.headers["content-length"] == "13"
        r = c.get("/users/ada%20lovelace", params={"q": "x y"})
        assert r.json() == {"user": "ada lovelace", "q": "x y", "greeting": "hello from lifespan"}
        assert c.get("/nowhere").status_code == 404


def test_starlette_request_bodies(starlette_server):
    with client(starlette_server) as c:
        for size in (0, 1, 100_000, 3_000_000):
            data = os.urandom(size)
            r = c.post("/echo", content=data, headers={"content-type": "application/x-test"})
            assert r.status_code == 200
            assert r.content == data
            assert r.headers["content-type"] == "application/x-test"
        # chunked upload
        r = c.put("/echo", content=iter([b"a" * 1000, b"b" * 5000, b"c"]))
        assert r.content == b"a" * 1000 + b"b" * 5000 + b"c"


def test_starlette_streaming_response(starlette_server):
    with client(starlette_server) as c:
        r = c.get("/stream", params={"n": 50})
        assert r.status_code == 200
        assert r.text == "".join(f"piece {i}\n" for i in range(50))
        with c.stream("GET", "/big") as r:
            total = sum(len(piece) for piece in r.iter_bytes())
        assert total == 128 * 65536


def test_starlette_file_response(starlette_server):
    with client(starlette_server) as c:
        r = c.get("/file")
        assert r.status_code == 200
        assert r.content == asgi_apps.FILE_DATA
        r = c.head("/file")
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(asgi_apps.FILE_DATA))
        assert r.content == b""


def test_head_of_a_route_has_no_body(starlette_server):
    with client(starlette_server) as c:
        r = c.head("/")
        assert r.status_code == 200
        assert r.headers["content-length"] == "13"
        assert r.content == b""


def test_app_error_is_a_500(starlette_server):
    with client(starlette_server) as c:
        r = c.get("/boom")
        assert r.status_code == 500
    # the server still serves
    with client(starlette_server) as c:
        assert c.get("/").status_code == 200


def test_client_disconnect_reaches_the_app(starlette_server):
    asgi_apps.background_done.clear()
    asgi_apps.background_log.clear()
    asgi_apps.entered.clear()
    s = socket.create_connection((HOST, starlette_server.port), timeout=TIMEOUT)
    s.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    assert asgi_apps.entered.wait(TIMEOUT)
    s.close()
    assert asgi_apps.background_done.wait(TIMEOUT)
    assert asgi_apps.background_log == ["disconnected"]


# -- FastAPI -----------------------------------------------------------------------

def test_fastapi_path_query_and_json_bodies(fastapi_server):
    with client(fastapi_server) as c:
        r = c.get("/items/42", params={"q": "search"})
        assert r.json() == {"item_id": 42, "q": "search"}
        assert c.get("/items/not-a-number").status_code == 422
        r = c.post("/items/", json={"name": "pen", "price": 2.5, "tags": ["a", "b"]})
        assert r.status_code == 200
        assert r.json() == {"name": "pen", "price_with_tax": 3.0, "tags": ["a", "b"], "started": True}
        r = c.post("/items/", json={"name": "pen"})
        assert r.status_code == 422
        assert c.get("/json").json() == {"message": "Hello, World!"}
        assert c.get("/plaintext").text == "Hello, World!"


def test_fastapi_background_task_runs_after_the_response(fastapi_server):
    asgi_apps.background_done.clear()
    asgi_apps.background_log.clear()
    with client(fastapi_server) as c:
        r = c.post("/notify/ada")
        assert r.json() == {"queued": "ada"}
    assert asgi_apps.background_done.wait(TIMEOUT)
    assert asgi_apps.background_log == ["notified ada"]


# -- HTTP details, on raw sockets --------------------------------------------------

def _read_response(s, buf=b""):
    """One response (Content-Length bodies): (head, body, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"closed after {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk
        rest += chunk
    return head, rest[:length], rest[length:]


def test_pipelined_requests_are_answered_in_order(starlette_server):
    with socket.create_connection((HOST, starlette_server.port), timeout=TIMEOUT) as s:
        reqs = b"".join(b"GET /users/u%d?q=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (i, i) for i in range(20))
        s.sendall(reqs)
        rest = b""
        for i in range(20):
            head, body, rest = _read_response(s, rest)
            assert head.startswith(b"HTTP/1.1 200")
            assert b'"user":"u%d"' % i in body and b'"q":"%d"' % i in body


def test_expect_100_continue(starlette_server):
    with socket.create_connection((HOST, starlette_server.port), timeout=TIMEOUT) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = recv_exact(s, 25)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        head, body, _ = _read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello"


def test_bad_requests_are_refused_before_the_app():
    seen = []

    async def app(scope, receive, send):
        if scope["type"] == "http":
            seen.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    with ServerThread("hpsocket", app, max_body_size=1000) as srv:
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", b"HTTP/1.1 400"),
            (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", b"HTTP/1.1 400"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", b"HTTP/1.1 413"),
        ]
        for raw, status in cases:
            with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as s:
                s.sendall(raw)
                head, _, _ = _read_response(s)
                assert head.startswith(status), (raw, head)
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            assert c.get("/fine").text == "ok"
    assert seen == ["/fine"]


# -- the ASGI contract -------------------------------------------------------------

def test_scope_is_asgi_3():
    scopes = []

    async def app(scope, receive, send):
        if scope["type"] == "http":
            scopes.append(scope)
            msg = await receive()
            assert msg == {"type": "http.request", "body": b"abc", "more_body": False}
            await send({"type": "http.response.start", "status": 201,
                        "headers": [(b"x-a", b"1"), [b"x-b", b"2"]]})
            await send({"type": "http.response.body", "body": b"made"})

    with ServerThread("hpsocket", app, root_path="/api") as srv:
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            r = c.post("/a%2Fb%20c/d?x=1&y=%20", content=b"abc", headers={"X-Mixed-Case": "V"})
    assert r.status_code == 201 and r.text == "made"
    assert r.headers["x-a"] == "1" and r.headers["x-b"] == "2"
    scope = scopes[0]
    assert scope["asgi"]["version"] == "3.0"
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a/b c/d"
    assert scope["raw_path"] == b"/a%2Fb%20c/d"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == "/api"
    assert (b"x-mixed-case", b"V") in scope["headers"]
    assert all(k == k.lower() and isinstance(k, bytes) and isinstance(v, bytes) for k, v in scope["headers"])
    assert scope["client"][0] == HOST and scope["server"] == (HOST, srv.port)
    assert "http.response.pathsend" in scope["extensions"]


def test_receive_after_the_body_waits_for_the_disconnect():
    got = []
    done = threading.Event()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        got.append(await receive())      # waits until the client goes
        done.set()

    with ServerThread("hpsocket", app) as srv:
        s = socket.create_connection((HOST, srv.port), timeout=TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not done.wait(0.2)
        s.close()
        assert done.wait(TIMEOUT)
    assert got == [{"type": "http.disconnect"}]


def test_app_returning_without_a_response_gets_500_and_after_start_a_close():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/half":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})

    with ServerThread("hpsocket", app) as srv:
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            assert c.get("/nothing").status_code == 500
            with pytest.raises(httpx.HTTPError):
                c.get("/half")       # chunked body cut by the close


def test_protocol_errors_of_the_app_are_500():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/body-first":
            await send({"type": "http.response.body", "body": b"x"})
        elif scope["path"] == "/bad-status":
            await send({"type": "http.response.start", "status": 99, "headers": []})
        elif scope["path"] == "/bad-header":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb")]})
            await send({"type": "http.response.body", "body": b"x"})

    with ServerThread("hpsocket", app) as srv:
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            for path in ("/body-first", "/bad-status", "/bad-header"):
                assert c.get(path).status_code == 500, path


def test_lifespan_failure_stops_the_start():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match="no database"):
        with ServerThread("hpsocket", app):
            pass


def test_lifespan_unsupported_is_skipped_in_auto_mode():
    async def app(scope, receive, send):
        assert scope["type"] == "http", "only http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with ServerThread("hpsocket", app) as srv:
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            assert c.get("/").text == "ok"
    with pytest.raises(RuntimeError, match="lifespan"):
        with ServerThread("hpsocket", app, lifespan="on"):
            pass


def test_shutdown_lets_requests_in_progress_finish():
    with ServerThread("hpsocket", asgi_apps.starlette_app, graceful_timeout=5) as srv:
        result = {}

        def slow_request():
            with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
                result["r"] = c.get("/slow", params={"s": "0.5"})

        asgi_apps.entered.clear()
        t = threading.Thread(target=slow_request)
        t.start()
        assert asgi_apps.entered.wait(TIMEOUT), "the request did not reach the app"
        srv.stop()
        t.join(TIMEOUT)
    assert result["r"].status_code == 200 and result["r"].text == "slow done"


def test_wrong_options_are_refused():
    with pytest.raises(ValueError):
        hpsocket.asgi.Server(asgi_apps.starlette_app, lifespan="sometimes")
    with pytest.raises(TypeError):
        hpsocket.asgi.Server(asgi_apps.starlette_app, threads=4)


# -- the command line --------------------------------------------------------------

def test_cli_serves_an_app_and_stops_on_sigterm():
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpsocket.asgi", "asgi_apps:fastapi_app", "--host", HOST, "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=HERE)
    try:
        port = None
        deadline = time.monotonic() + TIMEOUT
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "the server exited"
            if "serving on http://" in line:
                port = int(line.rsplit(":", 1)[1])
        assert port
        r = httpx.get(f"http://{HOST}:{port}/items/7?q=cli", timeout=TIMEOUT)
        assert r.json() == {"item_id": 7, "q": "cli"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        log = proc.stderr.read()
        assert '"GET /items/7?q=cli HTTP/1.1" 200' in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)


# -- WebSocket ---------------------------------------------------------------------

ws_sync = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402


def ws_connect(srv, path, **kwargs):
    return ws_sync.connect(f"ws://{HOST}:{srv.port}{path}", open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                           **kwargs)


def test_websocket_echo_text_and_bytes(starlette_server):
    asgi_apps.ws_closes.clear()
    asgi_apps.ws_closed.clear()
    with ws_connect(starlette_server, "/ws", subprotocols=["chat.v2", "chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v2"
        for i in range(200):
            ws.send(f"message {i} é")
            assert ws.recv(TIMEOUT) == f"message {i} é"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(TIMEOUT) == b"\x00\xff" * 1000
        big = os.urandom(512 * 1024)
        ws.send(big)
        assert ws.recv(TIMEOUT) == big
        ws.close(code=4321, reason="client done")
    assert asgi_apps.ws_closed.wait(TIMEOUT)
    assert asgi_apps.ws_closes == [(4321, "client done")]


def test_websocket_pipelined_messages_arrive_in_order(starlette_server):
    with ws_connect(starlette_server, "/ws") as ws:
        for i in range(2000):
            ws.send(str(i))
        got = [ws.recv(TIMEOUT) for _ in range(2000)]
    assert got == [str(i) for i in range(2000)]


def test_websocket_refused_before_accept_is_403(starlette_server):
    with pytest.raises(InvalidStatus) as info:
        with ws_connect(starlette_server, "/ws-deny"):
            pass
    assert info.value.response.status_code == 403


def test_websocket_denial_response(starlette_server):
    with pytest.raises(InvalidStatus) as info:
        with ws_connect(starlette_server, "/ws-denial"):
            pass
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"members only"


def test_websocket_closed_by_the_app_with_code_and_reason(starlette_server):
    with ws_connect(starlette_server, "/ws-goodbye") as ws:
        assert ws.recv(TIMEOUT) == "hello"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 4000 and info.value.rcvd.reason == "bye"


def test_websocket_fastapi_json(fastapi_server):
    asgi_apps.ws_closes.clear()
    asgi_apps.ws_closed.clear()
    with ws_connect(fastapi_server, "/ws/lobby") as ws:
        ws.send('{"n": 1}')
        assert ws.recv(TIMEOUT) == '{"room":"lobby","echo":{"n":1}}'
    assert asgi_apps.ws_closed.wait(TIMEOUT)
    assert asgi_apps.ws_closes == [(1000, "")]


def test_websocket_oversize_message_closes_with_1009():
    with ServerThread("hpsocket", asgi_apps.starlette_app, ws_max_message_size=1000) as srv:
        with ws_connect(srv, "/ws") as ws:
            ws.send("x" * 1000)
            assert ws.recv(TIMEOUT) == "x" * 1000
            ws.send("x" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(TIMEOUT)
        assert info.value.rcvd.code == 1009


def test_websocket_bad_handshakes_never_reach_the_app():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})

    with ServerThread("hpsocket", app, lifespan="off") as srv:
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", b"HTTP/1.1 426"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n", b"HTTP/1.1 400"),
        ]
        for raw, status in cases:
            with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as s:
                s.sendall(raw)
                head, _, _ = _read_response(s)
                assert head.startswith(status), head
    assert seen == []


def test_shutdown_closes_websockets_with_1012():
    with ServerThread("hpsocket", asgi_apps.starlette_app, graceful_timeout=5) as srv:
        with ws_connect(srv, "/ws") as ws:
            ws.send("ping")
            assert ws.recv(TIMEOUT) == "ping"
            srv.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 1012


# -- flow control, both ways -------------------------------------------------------

def test_large_request_bodies_arrive_in_pieces_as_they_come():
    pieces = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        total = 0
        while True:
            msg = await receive()
            assert msg["type"] == "http.request"
            pieces.append(len(msg["body"]))
            total += len(msg["body"])
            if not msg["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})

    with ServerThread("hpsocket", app, lifespan="off") as srv:
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as c:
            assert c.post("/", content=b"x" * 1000).text == "1000"
            assert pieces == [1000]
            pieces.clear()
            assert c.post("/", content=b"x" * 3_000_000).text == "3000000"
            assert len(pieces) > 2 and pieces[-1] == 0
            pieces.clear()
            assert c.post("/", content=iter([b"a" * 10, b"b" * 20])).text == "30"


def test_a_slow_app_stops_the_upload_instead_of_buffering_it():
    release = threading.Event()
    got = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while not release.is_set():
            await asyncio.sleep(0.01)
        total = 0
        while True:
            msg = await receive()
            total += len(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        got.append(total)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    size = 64 << 20
    with ServerThread("hpsocket", app, lifespan="off") as srv:
        sent = threading.Event()
        s = socket.create_connection((HOST, srv.port), timeout=TIMEOUT)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)

        def upload():
            block = b"u" * (1 << 20)
            for _ in range(size >> 20):
                s.sendall(block)
            sent.set()

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        # Not read while the app takes nothing: 64 MiB cannot all be sent.
        assert not sent.wait(1.0)
        release.set()
        assert sent.wait(TIMEOUT * 3)
        head, body, _ = _read_response(s)
        s.close()
        t.join(TIMEOUT)
    assert head.startswith(b"HTTP/1.1 200") and body == b"ok"
    assert got == [size]


def test_a_slow_client_holds_back_a_streamed_response():
    done = threading.Event()
    piece = b"r" * 65536
    count = 512           # 32 MiB

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(piece) * count).encode())]})
        for _ in range(count):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        done.set()

    with ServerThread("hpsocket", app, lifespan="off") as srv:
        with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # Nothing read: the app must be held back, not queue 32 MiB.
            assert not done.wait(1.0)
            head, body, _ = _read_response(s)
    assert done.wait(TIMEOUT)
    assert head.startswith(b"HTTP/1.1 200") and len(body) == len(piece) * count


def test_client_gone_mid_upload_is_a_disconnect():
    seen = []
    finished = threading.Event()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            msg = await receive()
            seen.append(msg["type"])
            if msg["type"] == "http.disconnect" or not msg.get("more_body"):
                break
        finished.set()

    with ServerThread("hpsocket", app, lifespan="off") as srv:
        s = socket.create_connection((HOST, srv.port), timeout=TIMEOUT)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"z" * 200000)
        s.close()
        assert finished.wait(TIMEOUT)
    assert seen[-1] == "http.disconnect"


def test_websocket_protocol_violation_closes_only_that_connection(starlette_server):
    import base64
    with ws_connect(starlette_server, "/ws") as good:
        good.send("before")
        assert good.recv(TIMEOUT) == "before"
        with socket.create_connection((HOST, starlette_server.port), timeout=TIMEOUT) as s:
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                assert chunk
                buf += chunk
            assert buf.startswith(b"HTTP/1.1 101")
            s.sendall(b"\x81\x02hi")          # a client frame without a mask
            rest = buf.partition(b"\r\n\r\n")[2]
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            # a Close frame (any reason) with code 1002
            assert rest[0] == 0x88 and rest[2:4] == (1002).to_bytes(2, "big"), rest
        good.send("after")
        assert good.recv(TIMEOUT) == "after"
