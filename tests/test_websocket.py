"""WebSocket on HttpServer (RFC 6455): the handshake, interop with the
`websockets` library's client and aiohttp's, and the protocol checks done
natively (raw frames, by the categories of the Autobahn test suite:
framing, reserved bits, opcodes, fragmentation, control frames, UTF-8,
close codes, limits), keep-alive pings and the close handshake."""

import asyncio
import contextlib
import queue
import socket
import struct
import threading

import pytest

import hpsocket
from support import wait_for
from ws_support import EchoWS, RawWebSocket, accept_key, close_payload, frame, serving

websockets_sync = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed  # noqa: E402

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def ws_url(port, path="/"):
    return f"ws://127.0.0.1:{port}{path}"


def closed_with(srv, code, timeout=5):
    conn_id, got, reason = srv.closes.get(timeout=timeout)
    assert got == code, (got, reason)
    return reason


# -- the handshake ------------------------------------------------------------------------


def test_handshake_answer():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            assert ws.status == 101
            assert ws.headers["upgrade"].lower() == "websocket"
            assert ws.headers["connection"].lower() == "upgrade"
            assert ws.headers["sec-websocket-accept"] == accept_key(ws.key)
            assert "content-length" not in ws.headers
            assert "sec-websocket-protocol" not in ws.headers
            srv.opened.get(timeout=5)


def test_accept_key_example_of_rfc_6455():
    # RFC 6455 1.3's worked example.
    assert hpsocket._core._ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_not_overridden_means_an_ordinary_request():
    """A server that does not override on_websocket answers an upgrade
    request like any other (404 from the default on_request) and closes."""
    with serving(hpsocket.HttpServer) as (srv, port):
        with RawWebSocket(port) as ws:
            assert ws.status == 404
            assert ws.headers.get("connection") == "close"
            assert ws.wait_closed()


@pytest.mark.parametrize("verdict", [False, None])
def test_refused_upgrade_gets_403_and_close(verdict):
    class Refuse(EchoWS):
        def on_websocket(self, request):
            return verdict

    with serving(Refuse) as (srv, port):
        with RawWebSocket(port) as ws:
            assert ws.status == 403
            assert ws.headers.get("connection") == "close"
            assert ws.wait_closed()
        assert srv.opened.empty()


def test_on_websocket_sees_the_request():
    seen = queue.Queue()

    class App(EchoWS):
        def on_websocket(self, request):
            seen.put((request.method, request.path, request.query_params, request.headers.get("X-Token")))
            return True

    with serving(App) as (srv, port):
        with RawWebSocket(port, "/chat/room%201?user=a", headers=[("X-Token", "t1")]) as ws:
            assert ws.status == 101
        assert seen.get(timeout=5) == ("GET", "/chat/room 1", {"user": ["a"]}, "t1")


def raw_upgrade(port, lines):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


BASE = ["Host: t", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]


@pytest.mark.parametrize("lines, status", [
    (["GET / HTTP/1.1"] + BASE, 426),                                             # no version
    (["GET / HTTP/1.1"] + BASE + ["Sec-WebSocket-Version: 8"], 426),
    (["GET / HTTP/1.1"] + BASE + ["Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13"], 426),
    (["GET / HTTP/1.1"] + BASE[:3] + ["Sec-WebSocket-Version: 13"], 400),         # no key
    (["GET / HTTP/1.1"] + BASE[:3] + ["Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"], 400),
    (["GET / HTTP/1.1"] + BASE[:3] + ["Sec-WebSocket-Key: !!notbase64!!!!!!!!!!!==",
                                      "Sec-WebSocket-Version: 13"], 400),
    (["POST / HTTP/1.1"] + BASE + ["Sec-WebSocket-Version: 13", "Content-Length: 0"], 400),
], ids=["no-version", "version-8", "two-versions", "no-key", "short-key", "bad-base64", "post"])
def test_invalid_handshakes_are_refused(lines, status):
    with serving() as (srv, port):
        data = raw_upgrade(port, lines)
        assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
        if status == 426:
            assert b"\r\nSec-WebSocket-Version: 13\r\n" in data
        assert srv.opened.empty()


def test_subprotocol_negotiation():
    class App(EchoWS):
        def on_websocket(self, request):
            offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
            return "chat.v2" if "chat.v2" in offered else True

    with serving(App) as (srv, port):
        with websockets_sync.connect(ws_url(port), subprotocols=["chat.v1", "chat.v2"]) as c:
            assert c.subprotocol == "chat.v2"
        with RawWebSocket(port) as ws:
            assert "sec-websocket-protocol" not in ws.headers


def test_a_subprotocol_not_offered_is_an_error():
    class App(EchoWS):
        def on_websocket(self, request):
            return "other"

    with serving(App) as (srv, port):
        with RawWebSocket(port, headers=[("Sec-WebSocket-Protocol", "chat")]) as ws:
            assert ws.status == 500
            assert ws.wait_closed()
        event, conn_id, exc = srv.errors.get(timeout=5)
        assert event == "on_websocket" and isinstance(exc, ValueError)


def test_on_websocket_raising_gives_500():
    class App(EchoWS):
        def on_websocket(self, request):
            raise KeyError("nope")

    with serving(App) as (srv, port):
        with RawWebSocket(port) as ws:
            assert ws.status == 500
        event, conn_id, exc = srv.errors.get(timeout=5)
        assert isinstance(exc, KeyError)


def test_pipelined_request_then_upgrade_keep_their_order():
    """An upgrade after a request whose answer comes later: the 101 waits
    for it, and the first frame follows the 101."""
    release = threading.Event()

    class App(EchoWS):
        def on_request(self, request):
            threading.Thread(target=lambda: (release.wait(5), self.respond(request, 200, (), b"first"))).start()

        def on_ws_open(self, conn_id):
            self.ws_send(conn_id, "hello")
            super().on_ws_open(conn_id)

    with serving(App) as (srv, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            srv.opened.get(timeout=5)
            release.set()
            data = b""
            while not data.endswith(b"\x81\x05hello"):
                chunk = s.recv(65536)
                assert chunk, data
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.index(b"first") < data.index(b"HTTP/1.1 101 ") < data.index(b"\x81\x05hello")


# -- interop: the websockets library's client ----------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 1 << 20])
def test_echo_sizes_with_the_websockets_client(size):
    with serving() as (srv, port):
        with websockets_sync.connect(ws_url(port), max_size=None) as c:
            text = "é" * (size // 2) + "a" * (size % 2)
            c.send(text)
            assert c.recv(timeout=5) == text
            data = bytes(range(256)) * (size // 256) + bytes(size % 256)
            c.send(data)
            assert c.recv(timeout=5) == data
        closed_with(srv, 1000)


def test_fragmented_message_with_the_websockets_client():
    with serving() as (srv, port):
        with websockets_sync.connect(ws_url(port)) as c:
            c.send(["frag", "ment", "ed é"])
            assert c.recv(timeout=5) == "fragmented é"
            c.send([b"a" * 1000, b"b" * 70000])
            assert c.recv(timeout=5) == b"a" * 1000 + b"b" * 70000


def test_many_messages_in_order():
    with serving() as (srv, port):
        with websockets_sync.connect(ws_url(port)) as c:
            for i in range(2000):
                c.send(f"m{i}")
            assert [c.recv(timeout=5) for _ in range(2000)] == [f"m{i}" for i in range(2000)]


def test_client_ping_is_answered():
    with serving() as (srv, port):
        with websockets_sync.connect(ws_url(port)) as c:
            assert c.ping(b"are you there").wait(5)


def test_client_close_code_and_reason_reach_on_ws_close():
    with serving() as (srv, port):
        with websockets_sync.connect(ws_url(port)) as c:
            c.close(4001, "going home")
            assert c.close_code == 4001          # echoed by the server
        assert closed_with(srv, 4001) == "going home"


def test_server_close():
    class App(EchoWS):
        def on_ws_message(self, conn_id, message):
            assert self.ws_close(conn_id, 4000, "bye")
            assert not self.ws_send(conn_id, "after the close")   # refused
            assert not self.ws_close(conn_id)                     # one Close only

    with serving(App) as (srv, port):
        with websockets_sync.connect(ws_url(port)) as c:
            c.send("close me")
            with pytest.raises(ConnectionClosed) as info:
                c.recv(timeout=5)
            assert info.value.rcvd.code == 4000 and info.value.rcvd.reason == "bye"
        closed_with(srv, 4000)          # the client echoed our code
        assert srv.errors.empty()


def test_send_from_another_thread_and_broadcast():
    class App(EchoWS):
        def on_ws_message(self, conn_id, message):
            pass

    with serving(App) as (srv, port), contextlib.ExitStack() as stack:
        clients = [stack.enter_context(websockets_sync.connect(ws_url(port))) for _ in range(20)]
        ids = [srv.opened.get(timeout=5) for _ in clients]
        assert srv.ws_broadcast(ids, "to all") == 20
        assert srv.ws_broadcast(ids + [999999], b"\x00bin") == 20    # an unknown id is skipped
        for c in clients:
            assert c.recv(timeout=5) == "to all"
            assert c.recv(timeout=5) == b"\x00bin"
        assert srv.ws_send(ids[0], "one")
        assert clients[0].recv(timeout=5) == "one"


def test_aiohttp_client():
    aiohttp = pytest.importorskip("aiohttp")

    async def talk(port):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(port), timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                await ws.send_str("hi")
                assert (await ws.receive(timeout=5)).data == "hi"
                await ws.send_bytes(b"\x01\x02")
                assert (await ws.receive(timeout=5)).data == b"\x01\x02"
                await ws.close()
                return ws.close_code

    with serving() as (srv, port):
        assert asyncio.run(talk(port)) == 1000
        closed_with(srv, 1000)


# -- the protocol, frame by frame (Autobahn's categories) -----------------------------------


def test_raw_echo_and_lengths():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            for n in (0, 125, 126, 127, 65535, 65536, 100000):
                ws.send_frame(BINARY, b"z" * n)
                f = ws.message()
                assert (f.opcode, f.fin, f.rsv, f.masked, len(f.payload)) == (BINARY, True, 0, False, n)


@pytest.mark.parametrize("data, code", [
    (frame(TEXT, b"unmasked", mask=False), 1002),
    (frame(TEXT, b"rsv1", rsv=4), 1002),
    (frame(TEXT, b"rsv2", rsv=2), 1002),
    (frame(TEXT, b"rsv3", rsv=1), 1002),
    (frame(0x3, b"reserved opcode"), 1002),
    (frame(0x7, b""), 1002),
    (frame(0xB, b""), 1002),
    (frame(0xF, b"x"), 1002),
    (frame(PING, b"x", fin=False), 1002),
    (frame(PING, b"x" * 126), 1002),
    (frame(CLOSE, close_payload(1000) + b"x" * 124), 1002),
    (frame(CONT, b"no message to continue"), 1002),
    (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 1002),
    (frame(TEXT, b"a", fin=False) + frame(BINARY, b"b"), 1002),
    (frame(TEXT, b"\xff"), 1007),
    (frame(TEXT, b"\xed\xa0\x80"), 1007),          # a surrogate
    (frame(TEXT, b"\xc0\xaf"), 1007),              # overlong
    (frame(TEXT, b"\xf4\x90\x80\x80"), 1007),      # above U+10FFFF
    (frame(TEXT, b"\xce"), 1007),                  # cut short at the end
    (frame(TEXT, b"\xce", fin=False) + frame(CONT, b"\xbaA", fin=False) + frame(CONT, b"\xce"), 1007),
    (frame(CLOSE, b"\x03"), 1002),                 # a 1-byte close payload
    (frame(CLOSE, close_payload(1000, b"\xff")), 1007),
], ids=["unmasked", "rsv1", "rsv2", "rsv3", "opcode-3", "opcode-7", "opcode-b", "opcode-f",
        "fragmented-ping", "long-ping", "long-close", "lone-continuation", "text-inside-text",
        "binary-inside-text", "utf8-ff", "utf8-surrogate", "utf8-overlong", "utf8-too-high",
        "utf8-truncated", "utf8-truncated-fragments", "close-1-byte", "close-reason-utf8"])
def test_protocol_errors_close_with_the_right_code(data, code):
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send(data)
            ws.expect_close(code)
        assert closed_with(srv, code)
        # The server goes on.
        with RawWebSocket(port) as ws:
            ws.send_frame(TEXT, b"still here")
            assert ws.message().payload == b"still here"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes(code):
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(CLOSE, close_payload(code))
            ws.expect_close(1002)


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])
def test_valid_close_codes_are_echoed(code):
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(CLOSE, close_payload(code, b"why"))
            f = ws.recv_frame()
            assert f.opcode == CLOSE and f.close_code == code
            assert ws.wait_closed()
        assert closed_with(srv, code) == "why"


def test_close_without_a_code():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(CLOSE)
            f = ws.recv_frame()
            assert f.opcode == CLOSE and f.payload == b""
            assert ws.wait_closed()
        closed_with(srv, 1005)


def test_invalid_utf8_fails_fast_inside_a_fragmented_message():
    """The bad byte fails the connection at once, before the message's last
    fragment arrives (Autobahn 6.4)."""
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(TEXT, "κόσμε".encode(), fin=False)
            ws.send_frame(CONT, b"\xce\xbc\xce\xb5\xf4\x90\x80\x80", fin=False)
            ws.expect_close(1007)


def test_utf8_split_across_fragments_is_valid():
    text = "κόσμε 𝄞".encode()
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            pieces = [text[i:i + 1] for i in range(len(text))]
            ws.send_frame(TEXT, pieces[0], fin=False)
            for p in pieces[1:-1]:
                ws.send_frame(CONT, p, fin=False)
            ws.send_frame(CONT, pieces[-1])
            f = ws.message()
            assert (f.opcode, f.payload) == (TEXT, text)


def test_control_frames_inside_a_fragmented_message():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(BINARY, b"one ", fin=False)
            ws.send_frame(PING, b"mid")
            ws.send_frame(PONG, b"unsolicited")
            ws.send_frame(CONT, b"two ", fin=False)
            ws.send_frame(PING, b"")
            ws.send_frame(CONT, b"three")
            got = [ws.recv_frame() for _ in range(3)]
            assert [(f.opcode, f.payload) for f in got] == [(PONG, b"mid"), (PONG, b""), (BINARY, b"one two three")]


def test_ping_payload_of_125_bytes_is_echoed():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(PING, bytes(range(125)))
            f = ws.recv_frame()
            assert (f.opcode, f.payload) == (PONG, bytes(range(125)))


def test_empty_messages():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(TEXT, b"")
            ws.send_frame(BINARY, b"")
            ws.send_frame(TEXT, b"", fin=False)
            ws.send_frame(CONT, b"")
            assert [(f.opcode, f.payload) for f in (ws.message(), ws.message(), ws.message())] == \
                [(TEXT, b""), (BINARY, b""), (TEXT, b"")]


def test_frames_split_byte_by_byte():
    data = frame(TEXT, "hé".encode() * 100) + frame(PING, b"p") + frame(BINARY, b"\x00" * 300)
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            for i in range(len(data)):
                ws.send(data[i:i + 1])
            got = [ws.recv_frame() for _ in range(3)]
            assert [(f.opcode, len(f.payload)) for f in got] == [(TEXT, 300), (PONG, 1), (BINARY, 300)]


@pytest.mark.parametrize("limit, size, code", [(1000, 1000, None), (1000, 1001, 1009)])
def test_max_message_size(limit, size, code):
    with serving(ws_max_message_size=limit) as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(BINARY, b"a" * (size - 10), fin=False)
            ws.send_frame(CONT, b"b" * 10)
            if code is None:
                assert len(ws.message().payload) == size
            else:
                ws.expect_close(code)


def test_a_huge_declared_length_fails_at_the_header():
    """A frame that claims 2**62 bytes is refused from its head: nothing is
    buffered waiting for it."""
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send(frame(BINARY, b"", length=1 << 62)[:14])
            ws.expect_close(1009)


def test_handler_exception_closes_with_1011(unraisable):
    class App(EchoWS):
        def on_ws_message(self, conn_id, message):
            if message == "boom":
                raise RuntimeError("handler failed")
            self.ws_send(conn_id, message)

    with serving(App) as (srv, port):
        with RawWebSocket(port) as good, RawWebSocket(port) as bad:
            bad.send_frame(TEXT, b"boom")
            bad.expect_close(1011)
            event, conn_id, exc = srv.errors.get(timeout=5)
            assert event == "on_ws_message" and isinstance(exc, RuntimeError)
            good.send_frame(TEXT, b"fine")
            assert good.message().payload == b"fine"


def test_abrupt_disconnect_reports_1006():
    with serving() as (srv, port):
        ws = RawWebSocket(port)
        srv.opened.get(timeout=5)
        ws.send(frame(TEXT, b"half a fr")[:5])
        ws.close()
        closed_with(srv, 1006)


# -- keep-alive and the closing timeout -------------------------------------------------------


def test_keepalive_ping_and_a_silent_peer_is_dropped():
    with serving(ws_ping_interval=0.3, ws_ping_timeout=0.3) as (srv, port):
        with RawWebSocket(port) as ws:
            f = ws.recv_frame(timeout=5)
            assert f.opcode == PING
            ws.send_frame(PONG, f.payload)              # answered: the connection stays
            f = ws.recv_frame(timeout=5)
            assert f.opcode == PING                     # the next round; not answered
            assert ws.wait_closed(5)
        closed_with(srv, 1006)


def test_idle_timeout_closes_with_1001():
    with serving(ws_idle_timeout=0.5, ws_ping_interval=0.1) as (srv, port):
        with RawWebSocket(port) as ws:
            ws.send_frame(TEXT, b"one")
            assert ws.message().payload == b"one"
            # Pings are answered all along: they do not keep it open.
            f = ws.recv_frame(timeout=5)
            while f.opcode == PING:
                ws.send_frame(PONG, f.payload)
                f = ws.recv_frame(timeout=5)
            assert f.opcode == CLOSE and f.close_code == 1001 and f.payload[2:] == b"idle timeout"
            ws.send_frame(CLOSE, f.payload[:2])
            assert ws.wait_closed(5)
        closed_with(srv, 1001)


def test_close_timeout_drops_a_peer_that_does_not_answer():
    class App(EchoWS):
        def on_ws_open(self, conn_id):
            self.ws_close(conn_id, 1001, "shutting down")

    with serving(App, ws_close_timeout=0.3) as (srv, port):
        with RawWebSocket(port) as ws:
            f = ws.recv_frame()
            assert f.opcode == CLOSE and f.close_code == 1001 and f.payload[2:] == b"shutting down"
            assert ws.wait_closed(5)            # we never answered
        closed_with(srv, 1006)


# -- the API's checks ---------------------------------------------------------------------------


def test_api_argument_checks():
    with serving() as (srv, port):
        with RawWebSocket(port) as ws:
            conn_id = srv.opened.get(timeout=5)
            with pytest.raises(ValueError):
                srv.ws_close(conn_id, 1002)            # hpsocket's to send
            with pytest.raises(ValueError):
                srv.ws_close(conn_id, 999)
            with pytest.raises(ValueError):
                srv.ws_close(conn_id, 1000, "x" * 124)
            with pytest.raises(TypeError):
                srv.ws_close(conn_id, "1000")
            with pytest.raises(TypeError):
                srv.ws_close(conn_id, 1000, b"reason")
            with pytest.raises(ValueError):
                srv.ws_ping(conn_id, b"x" * 126)
            with pytest.raises(TypeError):
                srv.ws_send(conn_id, 12)
            with pytest.raises(TypeError):
                srv.ws_send("1", "x")
            with pytest.raises(UnicodeEncodeError):
                srv.ws_send(conn_id, "\ud800")
            assert srv.ws_send(conn_id, bytearray(b"ba")) and srv.ws_send(conn_id, memoryview(b"mv"))
            assert [ws.message().payload for _ in range(2)] == [b"ba", b"mv"]
            assert srv.ws_send(123456789, "unknown") is False
            assert srv.ws_broadcast([], "x") == 0
        # A plain HTTP connection is not a WebSocket.
        wait_for(lambda: srv.connection_count == 0)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            ids = wait_for(lambda: srv.connection_ids)
            assert srv.ws_send(ids[0], "x") is False


@pytest.mark.parametrize("name, value, exc", [
    ("ws_max_message_size", 0, ValueError), ("ws_max_message_size", "1", TypeError),
    ("ws_ping_interval", -1, ValueError), ("ws_ping_timeout", 0, ValueError),
    ("ws_close_timeout", "1", TypeError),
])
def test_options_are_checked(name, value, exc):
    with pytest.raises(exc):
        hpsocket.HttpServer(**{name: value})


def test_option_defaults():
    srv = hpsocket.HttpServer()
    assert (srv.ws_max_message_size, srv.ws_ping_interval, srv.ws_ping_timeout, srv.ws_close_timeout,
            srv.ws_idle_timeout) == (1 << 20, 20.0, 20.0, 10.0, None)
    srv.ws_ping_interval = None
    assert srv.ws_ping_interval is None
