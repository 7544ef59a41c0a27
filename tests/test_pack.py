"""The pack model: pack_header_flag / max_pack_size validation, flagged
traffic, what happens to peers that send a wrong flag or a bad length, send()
limits, and the exact header on the wire (a 4-byte uint32 in host byte
order: flag << 22 | body length; support.pack_header)."""

import errno
import socket
import sys

import pytest

import hpsocket
from hpsocket import HPSocketError, ServiceState, SocketError, SocketOperation

from support import HOST, TIMEOUT, Recorder, pack_frame, pack_header, recv_exact, unpack_header, wait_for

PACK_CLASSES = [hpsocket.TcpPackServer, hpsocket.TcpPackAgent, hpsocket.TcpPackClient]
PACK_IDS = ["server", "agent", "client"]


def recv_frame(sock, flag=0):
    got_flag, length = unpack_header(recv_exact(sock, 4))
    assert got_flag == flag, f"header flag {got_flag:#x}, expected {flag:#x}"
    return recv_exact(sock, length)


def assert_eof(sock):
    """The peer closed the connection (FIN or RST)."""
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        return
    assert data == b""


class Events:
    def __init__(self, **options):
        super().__init__(**options)
        self.conns = Recorder()
        self.packets = Recorder()
        self.closes = Recorder()

    def on_accept(self, conn_id, client_fd):
        self.conns.add(conn_id)

    def on_connect(self, conn_id):
        self.conns.add(conn_id)

    def on_receive(self, conn_id, data):
        self.packets.add((conn_id, data))

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class EchoServer(Events, hpsocket.TcpPackServer):
    def on_receive(self, conn_id, data):
        super().on_receive(conn_id, data)
        self.send(conn_id, data)


class Agent(Events, hpsocket.TcpPackAgent):
    pass


class Client(Events, hpsocket.TcpPackClient):
    pass


def started(comp):
    """Start any pack component somewhere harmless; returns a cleanup."""
    if isinstance(comp, hpsocket.Server):
        comp.start(HOST, 0)
        return lambda: None
    if isinstance(comp, hpsocket.Agent):
        comp.start()
        return lambda: None
    listener = socket.create_server((HOST, 0))
    comp.start(HOST, listener.getsockname()[1])
    return listener.close


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", PACK_CLASSES, ids=PACK_IDS)
def test_defaults(cls):
    comp = cls()
    assert comp.max_pack_size == 0x40000
    assert comp.pack_header_flag == 0


@pytest.mark.parametrize("cls", PACK_CLASSES, ids=PACK_IDS)
def test_pack_header_flag_validation(cls):
    comp = cls()
    for good in (0, 1, 0x169, 0x3FF):
        comp.pack_header_flag = good
        assert comp.pack_header_flag == good
    comp.pack_header_flag = 0x155
    for bad in (-1, 0x400, 0xFFFF, 1 << 32, -(1 << 70)):
        with pytest.raises(ValueError):
            comp.pack_header_flag = bad
        assert comp.pack_header_flag == 0x155
    for bad in ("1", 1.0, None, True, b"\x01", [1]):
        with pytest.raises(TypeError):
            comp.pack_header_flag = bad
        assert comp.pack_header_flag == 0x155


@pytest.mark.parametrize("cls", PACK_CLASSES, ids=PACK_IDS)
def test_max_pack_size_validation(cls):
    comp = cls()
    for good in (1, 1000, 0x40000, 0x3FFFFF):
        comp.max_pack_size = good
        assert comp.max_pack_size == good
    comp.max_pack_size = 4321
    for bad in (0, -1, 0x400000, 1 << 32, -(1 << 70)):
        with pytest.raises(ValueError):
            comp.max_pack_size = bad
        assert comp.max_pack_size == 4321
    for bad in ("1", 1.0, None, True, b"\x01", [1]):
        with pytest.raises(TypeError):
            comp.max_pack_size = bad
        assert comp.max_pack_size == 4321


@pytest.mark.parametrize("cls", PACK_CLASSES, ids=PACK_IDS)
def test_constructor_keywords(cls):
    comp = cls(max_pack_size=1234, pack_header_flag=0x2AB)
    assert comp.max_pack_size == 1234
    assert comp.pack_header_flag == 0x2AB
    with pytest.raises(ValueError):
        cls(max_pack_size=0)
    with pytest.raises(ValueError):
        cls(max_pack_size=0x400000)
    with pytest.raises(ValueError):
        cls(pack_header_flag=0x400)
    with pytest.raises(ValueError):
        cls(pack_header_flag=-1)
    with pytest.raises(TypeError):
        cls(max_pack_size="big")
    with pytest.raises(TypeError):
        cls(pack_header_flag=1.0)


@pytest.mark.parametrize("cls", [hpsocket.TcpServer, hpsocket.TcpPullAgent, hpsocket.TcpClient])
def test_other_models_have_no_pack_options(cls):
    with pytest.raises(TypeError):
        cls(max_pack_size=1000)
    with pytest.raises(TypeError):
        cls(pack_header_flag=1)
    assert not hasattr(cls(), "max_pack_size")
    assert not hasattr(cls(), "pack_header_flag")


@pytest.mark.parametrize("cls", PACK_CLASSES, ids=PACK_IDS)
def test_settings_cannot_change_while_started(cls):
    comp = cls(max_pack_size=5000, pack_header_flag=0x11)
    cleanup = started(comp)
    try:
        assert comp.state == ServiceState.STARTED
        with pytest.raises(HPSocketError) as info:
            comp.max_pack_size = 6000
        assert info.value.code == SocketError.ILLEGAL_STATE
        with pytest.raises(HPSocketError) as info:
            comp.pack_header_flag = 0x22
        assert info.value.code == SocketError.ILLEGAL_STATE
        assert comp.max_pack_size == 5000
        assert comp.pack_header_flag == 0x11
        # Validation still comes first for invalid values.
        with pytest.raises(ValueError):
            comp.max_pack_size = 0
    finally:
        comp.stop()
        cleanup()
    # Stopped: changeable again.
    comp.max_pack_size = 6000
    comp.pack_header_flag = 0x22
    assert (comp.max_pack_size, comp.pack_header_flag) == (6000, 0x22)


# -- traffic with a flag ------------------------------------------------------------------

FLAG = 0x169


@pytest.mark.parametrize("kind", ["client", "agent", "socket"])
def test_flagged_traffic(kind):
    bodies = [b"\x00", b"flagged", bytes(range(256)) * 300]
    with EchoServer(pack_header_flag=FLAG) as server:
        server.start(HOST, 0)
        port = server.listen_address[1]
        if kind == "socket":
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                for body in bodies:
                    sock.sendall(pack_frame(body, FLAG))
                assert [recv_frame(sock, FLAG) for _ in bodies] == bodies
        else:
            cls = Client if kind == "client" else Agent
            with cls(pack_header_flag=FLAG) as peer:
                if kind == "client":
                    peer.start(HOST, port)
                    cid = peer.connection_id
                    send = peer.send
                else:
                    peer.start()
                    cid = peer.connect(HOST, port)
                    send = lambda data: peer.send(cid, data)   # noqa: E731
                peer.conns.wait(1)
                for body in bodies:
                    assert send(body) is True
                got = peer.packets.wait(len(bodies))
                assert got == [(cid, body) for body in bodies]
                assert len(peer.closes) == 0
        server.packets.wait(len(bodies))
        assert [b for _, b in server.packets.items] == bodies
        if kind == "socket":
            server.closes.wait(1)
        assert all(err == 0 for _, _, err in server.closes.items)


def test_unflagged_server_accepts_any_flag():
    """Flag 0 means the flag is not checked."""
    with EchoServer() as server:
        server.start(HOST, 0)
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as sock:
            sock.sendall(pack_frame(b"one", 0x155) + pack_frame(b"two", 0x3FF) + pack_frame(b"three", 0))
            assert [b for _, b in server.packets.wait(3)] == [b"one", b"two", b"three"]
            # Replies carry the server's flag: 0.
            assert [recv_frame(sock, 0) for _ in range(3)] == [b"one", b"two", b"three"]
        server.closes.wait(1)
        assert server.closes.items[0][2] == 0


# -- bad headers from a peer ------------------------------------------------------------------


def _good_connection_works(server, sock, flag, body):
    sock.sendall(pack_frame(body, flag))
    assert recv_frame(sock, flag) == body


@pytest.mark.parametrize("bad_flag", [0x124, 0, 0x3FF, FLAG ^ 1])
def test_wrong_flag_closes_only_that_connection(bad_flag):
    with EchoServer(pack_header_flag=FLAG) as server:
        server.start(HOST, 0)
        addr = server.listen_address
        with socket.create_connection(addr, timeout=TIMEOUT) as good, \
                socket.create_connection(addr, timeout=TIMEOUT) as bad:
            good_id, bad_id = server.conns.wait(2)
            _good_connection_works(server, good, FLAG, b"before")
            # Which id is which: the one that echoed "before" is good.
            good_id = server.packets.items[0][0]
            bad_id = next(c for c in server.conns.items if c != good_id)

            bad.sendall(pack_frame(b"intruder", bad_flag))
            (event,) = server.closes.wait(1)
            assert event == (bad_id, SocketOperation.RECEIVE, errno.EBADMSG)
            assert isinstance(event[1], SocketOperation)
            assert_eof(bad)
            assert b"intruder" not in [b for _, b in server.packets.items]

            _good_connection_works(server, good, FLAG, b"after")
            # the library drops the closed one from its list just after on_close
            wait_for(lambda: server.connection_ids == [good_id])
            assert len(server.closes) == 1


@pytest.mark.parametrize("length", [1001, 0x3FFFFF, 0], ids=["max+1", "limit", "zero"])
def test_bad_length_closes_only_that_connection(length):
    with EchoServer(max_pack_size=1000) as server:
        server.start(HOST, 0)
        addr = server.listen_address
        with socket.create_connection(addr, timeout=TIMEOUT) as good:
            (good_id,) = server.conns.wait(1)
            with socket.create_connection(addr, timeout=TIMEOUT) as bad:
                bad_id = server.conns.wait(2)[1]
                # Exactly max_pack_size is fine.
                _good_connection_works(server, good, 0, b"m" * 1000)

                bad.sendall(pack_header(length) + b"x" * min(length, 2000))
                (event,) = server.closes.wait(1)
                assert event == (bad_id, SocketOperation.RECEIVE, errno.EMSGSIZE)
                assert_eof(bad)

            _good_connection_works(server, good, 0, b"still here")
            # the library drops the closed one from its list just after on_close
            wait_for(lambda: server.connection_ids == [good_id])
            assert len(server.closes) == 1
            assert [c for c, _ in server.packets.items] == [good_id, good_id]


def _socket_peer_for(comp_cls, **options):
    """A pack agent or client connected to a plain listening socket:
    (component, conn id, server-side socket, listener)."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    comp = comp_cls(**options)
    if isinstance(comp, hpsocket.Client):
        comp.start(HOST, port)
        cid = comp.connection_id
    else:
        comp.start()
        cid = comp.connect(HOST, port)
    sock, _ = listener.accept()
    sock.settimeout(TIMEOUT)
    assert comp.conns.wait(1) == [cid]
    return comp, cid, sock, listener


@pytest.mark.parametrize("bad", ["flag", "length"])
@pytest.mark.parametrize("cls", [Client, Agent], ids=["client", "agent"])
def test_bad_header_from_server_closes_client_side(cls, bad):
    comp, cid, sock, listener = _socket_peer_for(cls, pack_header_flag=FLAG, max_pack_size=100)
    try:
        sock.sendall(pack_frame(b"ok", FLAG))
        assert comp.packets.wait(1) == [(cid, b"ok")]
        if bad == "flag":
            sock.sendall(pack_frame(b"no", FLAG + 1))
            expected = errno.EBADMSG
        else:
            sock.sendall(pack_header(101, FLAG) + b"y" * 101)
            expected = errno.EMSGSIZE
        (event,) = comp.closes.wait(1)
        assert event == (cid, SocketOperation.RECEIVE, expected)
        assert_eof(sock)
        assert len(comp.packets) == 1
    finally:
        comp.stop()
        sock.close()
        listener.close()


def test_bad_header_on_one_agent_connection_spares_the_other():
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    try:
        with Agent(pack_header_flag=FLAG) as agent:
            agent.start()
            first = agent.connect(HOST, port)
            s1, _ = listener.accept()
            agent.conns.wait(1)
            second = agent.connect(HOST, port)
            s2, _ = listener.accept()
            agent.conns.wait(2)
            with s1, s2:
                s1.settimeout(TIMEOUT)
                s2.settimeout(TIMEOUT)
                # Find out which socket is which connection.
                s1.sendall(pack_frame(b"who", FLAG))
                ((id1, _),) = agent.packets.wait(1)
                id2 = second if id1 == first else first
                s2.sendall(pack_frame(b"bad", 0x001))
                (event,) = agent.closes.wait(1)
                assert event == (id2, SocketOperation.RECEIVE, errno.EBADMSG)
                s1.sendall(pack_frame(b"still", FLAG))
                assert agent.packets.wait(2)[1] == (id1, b"still")
                assert agent.send(id1, b"reply") is True
                assert recv_frame(s1, FLAG) == b"reply"
                assert agent.connection_ids == [id1]
    finally:
        listener.close()


# -- send() limits ------------------------------------------------------------------


def test_send_limits_server():
    with EchoServer(max_pack_size=1000) as server:
        server.start(HOST, 0)
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as sock:
            (cid,) = server.conns.wait(1)
            for empty in (b"", bytearray(), memoryview(b"")):
                with pytest.raises(ValueError):
                    server.send(cid, empty)
            for big in (b"x" * 1001, bytearray(1001), memoryview(b"y" * 5000)):
                with pytest.raises(ValueError):
                    server.send(cid, big)
            with pytest.raises(ValueError):
                server.send_packets(cid, [b"a" * 600, b"b" * 401])
            with pytest.raises(ValueError):
                server.send_packets(cid, [b"", b""])
            # Nothing of the above went out; the connection is intact.
            assert server.send(cid, b"z" * 1000) is True
            assert recv_frame(sock) == b"z" * 1000
            # send_packets makes one packet of its parts.
            assert server.send_packets(cid, [b"a" * 600, b"b" * 400]) is True
            assert recv_frame(sock) == b"a" * 600 + b"b" * 400
            assert server.send(cid, memoryview(b"view")) is True
            assert recv_frame(sock) == b"view"


@pytest.mark.parametrize("cls", [Client, Agent], ids=["client", "agent"])
def test_send_limits_client_side(cls):
    comp, cid, sock, listener = _socket_peer_for(cls, max_pack_size=10)
    client = isinstance(comp, hpsocket.Client)

    def send(data):
        return comp.send(data) if client else comp.send(cid, data)

    try:
        for bad in (b"", bytearray(), b"x" * 11, bytearray(100)):
            with pytest.raises(ValueError):
                send(bad)
        assert send(b"0123456789") is True
        assert recv_frame(sock) == b"0123456789"
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(1)            # nothing else was sent
    finally:
        comp.stop()
        sock.close()
        listener.close()


# -- the header on the wire -----------------------------------------------------------

WIRE = (0x5A400005).to_bytes(4, sys.byteorder) + b"hello"


def test_header_bytes_constant():
    assert (0x169 << 22) | 5 == 0x5A400005
    assert pack_frame(b"hello", 0x169) == WIRE
    assert unpack_header(WIRE) == (0x169, 5)
    if sys.byteorder == "little":
        assert WIRE[:4] == b"\x05\x00\x40\x5a"


def test_server_header_on_the_wire():
    with EchoServer(pack_header_flag=0x169) as server:
        server.start(HOST, 0)
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as sock:
            (cid,) = server.conns.wait(1)
            assert server.send(cid, b"hello") is True
            assert recv_exact(sock, 9) == WIRE
            # The server also parses exactly that framing.
            sock.sendall(WIRE)
            assert server.packets.wait(1) == [(cid, b"hello")]
            assert recv_exact(sock, 9) == WIRE


@pytest.mark.parametrize("cls", [Client, Agent], ids=["client", "agent"])
def test_client_side_header_on_the_wire(cls):
    comp, cid, sock, listener = _socket_peer_for(cls, pack_header_flag=0x169)
    try:
        if isinstance(comp, hpsocket.Client):
            assert comp.send(b"hello") is True
        else:
            assert comp.send(cid, b"hello") is True
        assert recv_exact(sock, 9) == WIRE
        sock.sendall(WIRE)
        assert comp.packets.wait(1) == [(cid, b"hello")]
    finally:
        comp.stop()
        sock.close()
        listener.close()
