"""Echo round trips for all nine TCP classes.

* each server model (push, pull, pack) echoing for each client/agent of the
  same model;
* each server echoing for a plain Python socket (framing pack messages by
  hand);
* each client and agent talking to a plain, threaded Python socket echo
  server.

Every test checks the bytes exactly, the addresses the components report,
the connection lists, and that on_close fires once, with SocketOperation.CLOSE
and error 0, on both ends when one side closes the connection.
"""

import random
import socket
import threading

import pytest

import hpsocket
from hpsocket import ServiceState, SocketOperation

from support import HOST, TIMEOUT, Recorder, pack_frame, recv_exact, unpack_header, wait_for

MODELS = ("push", "pull", "pack")
KINDS = ("client", "agent")

# Bytes that would trip C string handling (NUL, high bytes) and a body larger
# than the library's 4 KiB receive buffer, so that it arrives in pieces.
_rng = random.Random(0x5EED)
MESSAGES = [
    b"\x00",
    bytes(range(256)),
    b"hello, world\x00\xff\r\n",
    _rng.randbytes(100_000),
    b"end\x00",
]
EXPECTED = b"".join(MESSAGES)


def parse_frames(data, flag=0):
    """Split a pack stream into bodies, checking every header's flag."""
    bodies = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 4, "truncated header"
        got_flag, length = unpack_header(data, pos)
        assert got_flag == flag, f"header at {pos} has flag {got_flag:#x}, not {flag:#x}"
        assert len(data) - pos - 4 >= length, "truncated body"
        bodies.append(bytes(data[pos + 4:pos + 4 + length]))
        pos += 4 + length
    return bodies


def check_address(addr):
    assert isinstance(addr, tuple) and len(addr) == 2, addr
    host, port = addr
    assert isinstance(host, str) and isinstance(port, int), addr
    assert "\x00" not in host, addr
    assert 0 < port < 65536, addr
    return addr


# -- echo servers -------------------------------------------------------------


class ServerEvents:
    """Records accepts (with the socket's own names), receive sizes and
    closes."""

    def __init__(self, **options):
        super().__init__(**options)
        self.accepts = Recorder()
        self.closes = Recorder()
        self.sock_names = {}

    def on_accept(self, conn_id, client_fd):
        # A duplicate of the library's socket: closing it leaves the
        # connection alone.
        dup = socket.fromfd(client_fd, socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock_names[conn_id] = (dup.getpeername(), dup.getsockname())
        finally:
            dup.close()
        self.accepts.add(conn_id)

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class PushEchoServer(ServerEvents, hpsocket.TcpServer):
    def on_receive(self, conn_id, data):
        assert type(data) is bytes
        self.send(conn_id, data)


class PullEchoServer(ServerEvents, hpsocket.TcpPullServer):
    def on_receive(self, conn_id, length):
        assert type(length) is int
        data = self.fetch(conn_id, length)
        assert data is not None and len(data) == length
        self.send(conn_id, data)


class PackEchoServer(ServerEvents, hpsocket.TcpPackServer):
    def on_receive(self, conn_id, data):
        assert type(data) is bytes
        self.send(conn_id, data)


ECHO_SERVERS = {"push": PushEchoServer, "pull": PullEchoServer, "pack": PackEchoServer}


# -- clients and agents -----------------------------------------------------------


class PeerEvents:
    """Collects what arrives per connection: chunks (push, pull) or packets
    (pack)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.connects = Recorder()
        self.closes = Recorder()
        self.cond = threading.Condition()
        self.chunks = {}

    def on_connect(self, conn_id):
        self.connects.add(conn_id)

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))

    def got(self, conn_id, data):
        with self.cond:
            self.chunks.setdefault(conn_id, []).append(data)
            self.cond.notify_all()

    def received(self, conn_id):
        with self.cond:
            return list(self.chunks.get(conn_id, []))

    def wait_bytes(self, conn_id, n):
        def enough():
            return sum(map(len, self.chunks.get(conn_id, []))) >= n

        with self.cond:
            assert self.cond.wait_for(enough, TIMEOUT), (
                f"got {sum(map(len, self.chunks.get(conn_id, [])))} of {n} bytes")
        return b"".join(self.received(conn_id))

    def wait_packets(self, conn_id, n):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.chunks.get(conn_id, [])) >= n, TIMEOUT), (
                f"got {len(self.chunks.get(conn_id, []))} of {n} packets")
        return self.received(conn_id)


class PushClient(PeerEvents, hpsocket.TcpClient):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class PushAgent(PeerEvents, hpsocket.TcpAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class PullClient(PeerEvents, hpsocket.TcpPullClient):
    def on_receive(self, conn_id, length):
        data = self.fetch(length)
        assert data is not None and len(data) == length
        self.got(conn_id, data)


class PullAgent(PeerEvents, hpsocket.TcpPullAgent):
    def on_receive(self, conn_id, length):
        data = self.fetch(conn_id, length)
        assert data is not None and len(data) == length
        self.got(conn_id, data)


class PackClient(PeerEvents, hpsocket.TcpPackClient):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class PackAgent(PeerEvents, hpsocket.TcpPackAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


PEERS = {
    ("push", "client"): PushClient,
    ("push", "agent"): PushAgent,
    ("pull", "client"): PullClient,
    ("pull", "agent"): PullAgent,
    ("pack", "client"): PackClient,
    ("pack", "agent"): PackAgent,
}


def peer_connect(peer, port):
    """Start a client or agent towards (HOST, port); returns the conn id."""
    if isinstance(peer, hpsocket.Client):
        peer.start(HOST, port)
        cid = peer.connection_id
        assert peer.state == ServiceState.STARTED
    else:
        peer.start()
        cid = peer.connect(HOST, port)
    assert peer.connects.wait(1) == [cid]
    return cid


def peer_send(peer, cid, data):
    if isinstance(peer, hpsocket.Client):
        return peer.send(data)
    return peer.send(cid, data)


def peer_addresses(peer, cid):
    if isinstance(peer, hpsocket.Client):
        return check_address(peer.local_address()), check_address(peer.remote_address())
    return check_address(peer.local_address(cid)), check_address(peer.remote_address(cid))


def peer_close(peer, cid):
    """The client or agent side closes the connection."""
    if isinstance(peer, hpsocket.Client):
        peer.stop()
    else:
        assert peer.disconnect(cid) is True


def peer_exchange(model, peer, cid):
    """Send MESSAGES from the peer and wait for the echo; returns what came
    back (bytes, or the list of packets for pack)."""
    for msg in MESSAGES:
        assert peer_send(peer, cid, msg) is True
    if model == "pack":
        return peer.wait_packets(cid, len(MESSAGES))
    return peer.wait_bytes(cid, len(EXPECTED))


def check_echo(model, got):
    if model == "pack":
        assert len(got) == len(MESSAGES)
        assert got == MESSAGES
    else:
        assert len(got) == len(EXPECTED)
        assert got == EXPECTED


def expect_closed_normally(recorder, conn_id):
    (event,) = recorder.wait(1)
    assert event == (conn_id, SocketOperation.CLOSE, 0)
    assert isinstance(event[1], SocketOperation)


# -- server <-> client/agent of the same model ----------------------------------


@pytest.mark.parametrize("closer", ["server", "peer"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("model", MODELS)
def test_server_with_component_peer(model, kind, closer):
    with ECHO_SERVERS[model]() as server, PEERS[(model, kind)]() as peer:
        server.start(HOST, 0)
        listen = check_address(server.listen_address)
        assert listen[0] == HOST
        port = listen[1]

        cid = peer_connect(peer, port)
        (sid,) = server.accepts.wait(1)

        got = peer_exchange(model, peer, cid)
        check_echo(model, got)

        # Connection lists while connected.
        assert server.connection_ids == [sid]
        assert server.connection_count == 1
        if kind == "agent":
            assert peer.connection_ids == [cid]
            assert peer.connection_count == 1
        else:
            assert peer.connection_id == cid

        # Addresses agree with each other and with the accepted socket.
        peer_local, peer_remote = peer_addresses(peer, cid)
        srv_remote = check_address(server.remote_address(sid))
        srv_local = check_address(server.local_address(sid))
        sock_peer, sock_self = server.sock_names[sid]
        assert srv_remote == sock_peer
        assert srv_local == sock_self
        assert srv_local == (HOST, port)
        assert peer_remote == (HOST, port)
        assert peer_local == srv_remote

        # One side closes; both ends see on_close(CLOSE, 0) exactly once.
        if closer == "server":
            assert server.disconnect(sid) is True
        else:
            peer_close(peer, cid)
        expect_closed_normally(server.closes, sid)
        expect_closed_normally(peer.closes, cid)

        wait_for(lambda: server.connection_count == 0)
        assert server.connection_ids == []
        if kind == "agent":
            wait_for(lambda: peer.connection_count == 0)
            assert peer.connection_ids == []
            assert peer.state == ServiceState.STARTED
        else:
            # A client whose connection closed stops by itself.
            wait_for(lambda: peer.state == ServiceState.STOPPED)
        # Unknown now: the address getters refuse it.
        with pytest.raises(hpsocket.HPSocketError):
            server.remote_address(sid)

    # Stopping everything added no second on_close.
    assert len(server.closes) == 1
    assert len(peer.closes) == 1


# -- server <-> plain Python socket -------------------------------------------------


@pytest.mark.parametrize("closer", ["server", "socket"])
@pytest.mark.parametrize("model", MODELS)
def test_server_with_socket_peer(model, closer):
    with ECHO_SERVERS[model]() as server:
        server.start(HOST, 0)
        port = server.listen_address[1]
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
            (sid,) = server.accepts.wait(1)
            assert server.connection_ids == [sid]
            assert server.connection_count == 1
            assert check_address(server.remote_address(sid)) == sock.getsockname()
            assert check_address(server.local_address(sid)) == sock.getpeername()
            assert sock.getpeername() == (HOST, port)

            if model == "pack":
                for msg in MESSAGES:
                    sock.sendall(pack_frame(msg))
                got = []
                for msg in MESSAGES:
                    flag, length = unpack_header(recv_exact(sock, 4))
                    assert flag == 0
                    assert length == len(msg)
                    got.append(recv_exact(sock, length))
            else:
                for msg in MESSAGES:
                    sock.sendall(msg)
                got = recv_exact(sock, len(EXPECTED))
            check_echo(model, got)

            if closer == "server":
                assert server.disconnect(sid) is True
                assert sock.recv(1) == b""      # EOF, not a reset
            else:
                sock.close()
            expect_closed_normally(server.closes, sid)
            wait_for(lambda: server.connection_count == 0)
            assert server.connection_ids == []

    assert len(server.closes) == 1


# -- client/agent <-> plain Python socket echo server ------------------------------


class SocketEchoServer:
    """One-connection echo server in a thread; records what it received."""

    def __init__(self):
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.eof = threading.Event()
        self.conn = None
        self.names = None
        self.received = bytearray()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(TIMEOUT)
            self.conn = conn
            self.names = (conn.getpeername(), conn.getsockname())
            self.accepted.set()
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        self.eof.set()
                        return
                    self.received += data
                    conn.sendall(data)
        except OSError as exc:     # includes the shutdown below
            self.error = exc
        finally:
            self.eof.set()

    def close_connection(self):
        """Close from the server side (the thread's recv sees EOF)."""
        self.conn.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.listener.close()
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.mark.parametrize("closer", ["socket", "peer"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("model", MODELS)
def test_peer_with_socket_server(model, kind, closer):
    with SocketEchoServer() as raw, PEERS[(model, kind)]() as peer:
        cid = peer_connect(peer, raw.port)
        assert raw.accepted.wait(TIMEOUT)

        got = peer_exchange(model, peer, cid)
        check_echo(model, got)
        # What went over the wire is exactly the messages (framed for pack).
        if model == "pack":
            assert parse_frames(raw.received) == MESSAGES
        else:
            assert bytes(raw.received) == EXPECTED

        if kind == "agent":
            assert peer.connection_ids == [cid]
            assert peer.connection_count == 1

        sock_peer, sock_self = raw.names
        peer_local, peer_remote = peer_addresses(peer, cid)
        assert peer_local == sock_peer
        assert peer_remote == sock_self == (HOST, raw.port)

        if closer == "socket":
            raw.close_connection()
        else:
            peer_close(peer, cid)
            assert raw.eof.wait(TIMEOUT)
        expect_closed_normally(peer.closes, cid)
        if kind == "agent":
            wait_for(lambda: peer.connection_count == 0)
            assert peer.connection_ids == []
        else:
            wait_for(lambda: peer.state == ServiceState.STOPPED)

    assert len(peer.closes) == 1
    assert raw.error is None, raw.error
