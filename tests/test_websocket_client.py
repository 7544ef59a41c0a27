"""WebSocketClient and WebSocketAgent: against hpsocket's own server, the
`websockets` library's server, and a raw server that checks what a client
must do (mask every frame with a fresh key, on a copy) and sends what a
server must not (masked frames, bad UTF-8, bad handshakes)."""

import asyncio
import contextlib
import queue
import threading

import pytest

import hpsocket
from ws_support import EchoWS, RawWsServer, accept_key, close_payload, frame, read_frame, serving

websockets_server = pytest.importorskip("websockets.asyncio.server")

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Recorder(hpsocket.WebSocketClient):
    def __init__(self, **options):
        super().__init__(**options)
        self.events = queue.Queue()

    def on_ws_open(self, conn_id):
        self.events.put(("open",))

    def on_ws_message(self, conn_id, message):
        self.events.put(("message", message))

    def on_ws_close(self, conn_id, code, reason):
        self.events.put(("close", code, reason))

    def next(self, timeout=5):
        return self.events.get(timeout=timeout)


@contextlib.contextmanager
def client(url, cls=Recorder, **kw):
    c = cls()
    c.start(url, **kw)
    try:
        yield c
    finally:
        c.stop()


@contextlib.contextmanager
def websockets_library_server(handler, **kw):
    """The websockets library's asyncio server in a thread of its own."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    async def main():
        async with websockets_server.serve(handler, "127.0.0.1", 0, compression=None, **kw) as server:
            box["port"] = server.sockets[0].getsockname()[1]
            box["stop"] = asyncio.Event()
            started.set()
            await box["stop"].wait()

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    assert started.wait(5)
    try:
        yield box["port"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        t.join(5)
        loop.close()


# -- against hpsocket's server --------------------------------------------------------------


def test_client_echo_and_close_with_hpsocket_server():
    with serving() as (srv, port):
        with client(f"ws://127.0.0.1:{port}/") as c:
            assert c.next() == ("open",)
            assert c.ws_send("héllo") and c.next() == ("message", "héllo")
            assert c.ws_send(b"\x00\x01" * 40000) and c.next() == ("message", b"\x00\x01" * 40000)
            assert c.ws_close(4002, "done")
            assert c.next() == ("close", 4002, "")      # the server echoes the code
            assert not c.ws_send("after the close")
        conn_id, code, reason = srv.closes.get(timeout=5)
        assert (code, reason) == (4002, "done")


def test_subprotocol_is_negotiated():
    class App(EchoWS):
        def on_websocket(self, request):
            return "v2"

    with serving(App) as (srv, port):
        with client(f"ws://127.0.0.1:{port}/", subprotocols=["v1", "v2"]) as c:
            assert c.subprotocol == "v2"


def test_agent_many_connections_and_wait_open():
    got = queue.Queue()

    class A(hpsocket.WebSocketAgent):
        def on_ws_message(self, conn_id, message):
            got.put((conn_id, message))

    with serving() as (srv, port):
        a = A()
        a.start()
        try:
            ids = [a.connect(f"ws://127.0.0.1:{port}/n/{i}") for i in range(50)]
            for i in ids:
                assert a.wait_open(i, 5) is None
            for i in ids:
                assert a.ws_send(i, f"#{i}")
            assert sorted(got.get(timeout=5) for _ in ids) == sorted((i, f"#{i}") for i in ids)
        finally:
            a.stop()


def test_server_refusal_raises():
    class Refuse(EchoWS):
        def on_websocket(self, request):
            return False

    with serving(Refuse) as (srv, port):
        c = Recorder()
        with pytest.raises(hpsocket.HPSocketError, match="403"):
            c.start(f"ws://127.0.0.1:{port}/")
        assert c.next() == ("close", 1006, "handshake failed: the server answered 403 Forbidden")
        c.stop()


# -- against the websockets library's server ---------------------------------------------------


def test_with_the_websockets_library_server():
    async def handler(ws):
        async for message in ws:
            if message == "fragments":
                await ws.send(["fr", "ag", "ments"])
            elif message == "close":
                await ws.close(4005, "as asked")
            else:
                await ws.send(message)

    with websockets_library_server(handler, max_size=None) as port:
        with client(f"ws://127.0.0.1:{port}/") as c:
            assert c.next() == ("open",)
            for m in ["text é", b"\xff\x00binary", "x" * 70000, b"y" * 1_000_000, ""]:
                assert c.ws_send(m)
                assert c.next() == ("message", m)
            c.ws_send("fragments")
            assert c.next() == ("message", "fragments")
            c.ws_send("close")
            assert c.next() == ("close", 4005, "as asked")


def test_pings_of_the_websockets_library_server_are_answered():
    pongs = []

    async def handler(ws):
        for _ in range(3):
            waiter = await ws.ping(b"ka")
            await asyncio.wait_for(waiter, 5)
            pongs.append(True)
        await ws.send("done")

    with websockets_library_server(handler) as port:
        with client(f"ws://127.0.0.1:{port}/") as c:
            assert c.next() == ("open",)
            assert c.next() == ("message", "done")
    assert pongs == [True, True, True]


# -- what a client must do, checked by a raw server --------------------------------------------


def test_frames_are_masked_with_fresh_keys_on_a_copy():
    with RawWsServer() as raw:
        with client(f"ws://127.0.0.1:{raw.port}/path?q=1") as c:
            conn = raw.wait()
            assert raw.request.startswith("GET /path?q=1 HTTP/1.1\r\n")
            data = bytearray(b"mask me" * 10)
            keys = set()
            for _ in range(20):
                assert c.ws_send(data)
                f, key = read_frame(conn)
                assert f.masked and (f.opcode, f.payload) == (BINARY, bytes(data))
                keys.add(key)
            assert data == bytearray(b"mask me" * 10)      # the caller's buffer is untouched
            assert len(keys) >= 19                           # random keys (a repeat is 1 in 4 billion)
            assert c.ws_ping(b"p")
            f, key = read_frame(conn)
            assert f.masked and (f.opcode, f.payload) == (PING, b"p")


def test_a_server_ping_gets_a_pong():
    with RawWsServer() as raw:
        with client(f"ws://127.0.0.1:{raw.port}/") as c:
            conn = raw.wait()
            conn.send(frame(PING, b"hi", mask=False))
            f, key = read_frame(conn)
            assert (f.opcode, f.payload, f.masked) == (PONG, b"hi", True)


@pytest.mark.parametrize("data, code", [
    (frame(TEXT, b"masked by the server"), 1002),
    (frame(TEXT, b"\xff", mask=False), 1007),
    (frame(0x5, b"", mask=False), 1002),
    (frame(BINARY, b"x", rsv=4, mask=False), 1002),
], ids=["masked", "bad-utf8", "opcode-5", "rsv"])
def test_server_protocol_errors(data, code):
    with RawWsServer() as raw:
        with client(f"ws://127.0.0.1:{raw.port}/") as c:
            conn = raw.wait()
            assert c.next() == ("open",)
            conn.send(data)
            f, key = read_frame(conn)
            assert f.opcode == CLOSE and f.close_code == code and f.masked
            assert c.next()[:2] == ("close", code)


def test_server_close_is_echoed():
    with RawWsServer() as raw:
        with client(f"ws://127.0.0.1:{raw.port}/") as c:
            conn = raw.wait()
            assert c.next() == ("open",)
            conn.send(frame(CLOSE, close_payload(1001, b"bye"), mask=False))
            f, key = read_frame(conn)
            assert f.opcode == CLOSE and f.close_code == 1001
            assert c.next() == ("close", 1001, "bye")


@pytest.mark.parametrize("answer, match", [
    (lambda head, key: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "200"),
    (lambda head, key: (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept_key("wrong").encode() + b"\r\n\r\n"), "Accept"),
    (lambda head, key: (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept_key(key).encode()
                        + b"\r\nSec-WebSocket-Protocol: other\r\n\r\n"), "subprotocol"),
    (lambda head, key: (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept_key(key).encode()
                        + b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), "extension"),
], ids=["not-101", "bad-accept", "subprotocol-not-offered", "extension-not-offered"])
def test_bad_handshake_answers_raise(answer, match):
    with RawWsServer(answer) as raw:
        c = Recorder()
        with pytest.raises(hpsocket.HPSocketError, match=match):
            c.start(f"ws://127.0.0.1:{raw.port}/", subprotocols=["chat"])
        c.stop()


def test_no_answer_times_out():
    with RawWsServer(lambda head, key: b"") as raw:
        c = Recorder()
        with pytest.raises(hpsocket.HttpTimeoutError):
            c.start(f"ws://127.0.0.1:{raw.port}/", timeout=0.3)
        c.stop()


@pytest.mark.parametrize("url, kw, exc", [
    ("wss://127.0.0.1:1/", {}, ValueError),
    ("http://127.0.0.1:1/", {}, ValueError),
    ("ws:///nohost", {}, ValueError),
    (b"ws://127.0.0.1:1/", {}, TypeError),
    ("ws://127.0.0.1:1/", {"subprotocols": "chat"}, TypeError),
    ("ws://127.0.0.1:1/", {"subprotocols": ["a b"]}, ValueError),
], ids=["wss", "http", "no-host", "bytes-url", "str-subprotocols", "bad-token"])
def test_argument_checks(url, kw, exc):
    c = Recorder()
    with pytest.raises(exc):
        c.start(url, **kw)
    c.stop()


def test_reserved_headers_are_refused():
    with serving() as (srv, port):
        c = Recorder()
        with pytest.raises(ValueError):
            c.start(f"ws://127.0.0.1:{port}/", headers=[("Sec-WebSocket-Key", "x")])
        c.stop()
