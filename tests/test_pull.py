"""The pull model: fetch / peek / fetch_into semantics, argument checking
(the one home of these methods' argument tests), fetching from threads other
than the callback's, and HPSocketError for unknown, closed and stopped
connections (also while other threads fetch as connections close).

Each semantic test runs for the three pull classes: a TcpPullServer fed by a
plain socket, and a TcpPullAgent / TcpPullClient fed by a plain listening
socket.  The handlers only record what the library reports; the test thread
(not a callback thread) fetches.
"""

import array
import ctypes
import decimal
import errno
import fractions
import os
import queue
import random
import socket
import struct
import threading

import pytest

import hpsocket
from hpsocket import HPSocketError, ServiceState, SocketOperation

from support import HOST, INT_MAX, TIMEOUT, IntLike, Recorder, wait_for

ROLES = ("server", "agent", "client")


class Holding:
    """Records events; never fetches by itself."""

    def __init__(self, **options):
        super().__init__(**options)
        self.conns = Recorder()
        self.lengths = Recorder()
        self.closes = Recorder()

    def on_accept(self, conn_id, client_fd):
        self.conns.add(conn_id)

    def on_connect(self, conn_id):
        self.conns.add(conn_id)

    def on_receive(self, conn_id, length):
        self.lengths.add((conn_id, length))

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class HoldServer(Holding, hpsocket.TcpPullServer):
    pass


class HoldAgent(Holding, hpsocket.TcpPullAgent):
    pass


class HoldClient(Holding, hpsocket.TcpPullClient):
    pass


class PullEnd:
    """One pull connection and the plain socket at its other end, with
    fetch/peek/fetch_into that hide the Client's missing conn_id."""

    def __init__(self, role, comp, cid, sock):
        self.role = role
        self.comp = comp
        self.cid = cid
        self.sock = sock
        self.pending = 0

    def _args(self, *rest):
        return rest if self.role == "client" else (self.cid,) + rest

    def fetch(self, n):
        data = self.comp.fetch(*self._args(n))
        if data is not None:
            self.pending -= len(data)
        return data

    def peek(self, n):
        return self.comp.peek(*self._args(n))

    def fetch_into(self, buf):
        ok = self.comp.fetch_into(*self._args(buf))
        if ok:
            self.pending -= memoryview(buf).nbytes
        return ok

    def feed(self, data):
        """Send data from the socket and wait until the library reports
        everything buffered."""
        self.sock.sendall(data)
        self.pending += len(data)
        lengths = self.comp.lengths

        def arrived():
            with lengths.cond:
                return bool(lengths.items) and lengths.items[-1] == (self.cid, self.pending)

        wait_for(arrived)
        assert all(c == self.cid for c, _ in self.comp.lengths.items)


def open_pull_end(role):
    """(component, PullEnd, cleanup) with a connected, silent connection."""
    if role == "server":
        comp = HoldServer()
        comp.start(HOST, 0)
        sock = socket.create_connection(comp.listen_address, timeout=TIMEOUT)
        (cid,) = comp.conns.wait(1)
        listener = None
    else:
        listener = socket.create_server((HOST, 0))
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        if role == "agent":
            comp = HoldAgent()
            comp.start()
            cid = comp.connect(HOST, port)
        else:
            comp = HoldClient()
            comp.start(HOST, port)
            cid = comp.connection_id
        sock, _ = listener.accept()
        sock.settimeout(TIMEOUT)
        assert comp.conns.wait(1) == [cid]

    def cleanup():
        comp.stop()
        sock.close()
        if listener is not None:
            listener.close()

    return comp, PullEnd(role, comp, cid, sock), cleanup


@pytest.fixture(params=ROLES)
def pull(request):
    comp, end, cleanup = open_pull_end(request.param)
    del comp
    try:
        yield end
    finally:
        cleanup()
        # pytest keeps the fixture value until after every teardown: it must
        # not keep the component alive for conftest's leak check.
        end.comp = None


# -- semantics ------------------------------------------------------------------


def test_peek_does_not_consume(pull):
    pull.feed(b"0123456789")
    assert pull.peek(4) == b"0123"
    assert pull.peek(4) == b"0123"
    assert pull.peek(10) == b"0123456789"
    assert pull.fetch(4) == b"0123"
    assert pull.peek(6) == b"456789"
    assert pull.peek(6) == b"456789"
    assert pull.fetch(6) == b"456789"
    assert pull.peek(1) is None
    assert pull.fetch(1) is None


def test_fetch_more_than_buffered_consumes_nothing(pull):
    pull.feed(b"abcdefghij")
    assert pull.fetch(11) is None
    assert pull.peek(11) is None
    buf = bytearray(b"\xee" * 11)
    assert pull.fetch_into(buf) is False
    assert buf == b"\xee" * 11          # untouched
    assert pull.fetch(1000) is None
    assert pull.fetch(10) == b"abcdefghij"
    # More arrives: the lengths add up again.
    pull.feed(b"klm")
    assert pull.fetch(4) is None
    assert pull.fetch(3) == b"klm"


def test_fetch_zero(pull):
    pull.feed(b"xyz")
    assert pull.fetch(0) == b""
    assert pull.peek(0) == b""
    assert pull.fetch_into(bytearray()) is True
    assert pull.fetch(3) == b"xyz"


def test_fetch_into_fills_buffers(pull):
    payload = bytes(range(1, 33))       # 32 bytes
    pull.feed(payload)

    ba = bytearray(4)
    assert pull.fetch_into(ba) is True
    assert ba == payload[0:4]

    # A memoryview of a slice: exactly that slice is written.
    target = bytearray(b"-" * 12)
    assert pull.fetch_into(memoryview(target)[3:9]) is True
    assert target == b"---" + payload[4:10] + b"---"

    # Any writable buffer, e.g. array('B').
    arr = array.array("B", bytes(5))
    assert pull.fetch_into(arr) is True
    assert arr.tobytes() == payload[10:15]

    # A multi-byte item array: nbytes counts, not len.
    words = array.array("H", [0, 0])
    assert pull.fetch_into(words) is True
    assert words.tobytes() == payload[15:19]

    rest = bytearray(13)
    assert pull.fetch_into(rest) is True
    assert rest == payload[19:32]
    assert pull.fetch_into(bytearray(1)) is False


# Lengths: any int from 0 to INT_MAX; anything else that is an int is a
# ValueError (never OverflowError), anything that is not is a TypeError.
BAD_LENGTH_TYPES = ("3", 3.0, float("nan"), None, b"3", bytearray(b"3"), True, [3], complex(3),
                    fractions.Fraction(3), decimal.Decimal(3), IntLike())
BAD_LENGTH_VALUES = (-1, -(1 << 40), -2 ** 200, INT_MAX + 1, 2 ** 63, 2 ** 64, 2 ** 200)
# Buffers for fetch_into: writable and contiguous, or a TypeError.
BAD_BUFFER_TYPES = ("buffer", 5, 2 ** 70, True, None, 2.5, complex(1), fractions.Fraction(1),
                    decimal.Decimal(1), [0, 0], object(), IntLike())


def test_argument_errors(pull):
    pull.feed(b"keep me")
    for bad in BAD_LENGTH_TYPES:
        with pytest.raises(TypeError):
            pull.fetch(bad)
        with pytest.raises(TypeError):
            pull.peek(bad)
    for bad in BAD_LENGTH_VALUES:
        with pytest.raises(ValueError):
            pull.fetch(bad)
        with pytest.raises(ValueError):
            pull.peek(bad)
    # The largest length is accepted: not that much is buffered.
    assert pull.peek(INT_MAX) is None
    assert pull.fetch(INT_MAX) is None
    for bad in BAD_BUFFER_TYPES:
        with pytest.raises(TypeError):
            pull.fetch_into(bad)
    # Read-only buffers are not filled: like socket.recv_into and io
    # readinto, a read-only buffer is the wrong type of argument.
    with pytest.raises(TypeError):
        pull.fetch_into(b"\x00" * 3)
    with pytest.raises((TypeError, BufferError)):
        pull.fetch_into(memoryview(bytearray(3)).toreadonly())
    with pytest.raises((TypeError, BufferError)):
        pull.fetch_into(memoryview(bytes(3)))
    # A non-contiguous one neither.
    with pytest.raises((TypeError, ValueError)):
        pull.fetch_into(memoryview(bytearray(16))[::2])
    # Any writable contiguous buffer is taken (larger than what is
    # buffered: False, nothing consumed).
    for ok in (ctypes.create_string_buffer(8), array.array("d", [0.0]), array.array("i", [0, 0, 0]),
               memoryview(bytearray(16)).cast("B", (2, 8))):
        assert pull.fetch_into(ok) is False
    if pull.role != "client":
        comp = pull.comp
        for bad in ("1", 1.0, None, True):
            with pytest.raises(TypeError):
                comp.fetch(bad, 1)
            with pytest.raises(TypeError):
                comp.peek(bad, 1)
            with pytest.raises(TypeError):
                comp.fetch_into(bad, bytearray(1))
        for bad in (-1, 1 << 64):
            with pytest.raises(ValueError):
                comp.fetch(bad, 1)
            with pytest.raises(ValueError):
                comp.peek(bad, 1)
            with pytest.raises(ValueError):
                comp.fetch_into(bad, bytearray(1))
    # Nothing was consumed by the failed calls.
    assert pull.fetch(7) == b"keep me"


@pytest.mark.parametrize("cls", [hpsocket.TcpPullServer, hpsocket.TcpPullAgent, hpsocket.TcpPullClient])
def test_argument_errors_before_start(cls):
    """The arguments are checked first: a component that never started
    raises TypeError / ValueError for bad ones, not HPSocketError."""
    comp = cls()
    conn = () if issubclass(cls, hpsocket.Client) else (1,)
    with pytest.raises(TypeError):
        comp.fetch(*conn, "4")
    with pytest.raises(TypeError):
        comp.peek(*conn, "4")
    with pytest.raises(ValueError):
        comp.fetch(*conn, -1)
    with pytest.raises(ValueError):
        comp.peek(*conn, -1)
    with pytest.raises(TypeError):
        comp.fetch_into(*conn, 5)
    with pytest.raises(TypeError):
        comp.fetch_into(*conn, b"immutable")


def test_silent_connection_has_nothing_buffered(pull):
    """A live connection that has not received anything yet has 0 bytes
    buffered: fetch/peek return None and fetch_into False, as for any other
    "fewer bytes than asked" -- it is not an unknown connection."""
    assert pull.peek(1) is None
    assert pull.fetch(1) is None
    assert pull.fetch_into(bytearray(1)) is False
    # Still usable afterwards.
    pull.feed(b"late")
    assert pull.fetch(4) == b"late"


def test_fetch_inside_on_close_sees_leftover_data():
    """on_close still can fetch what the peer sent before closing."""

    class Server(hpsocket.TcpPullServer):
        def __init__(self):
            super().__init__()
            self.lengths = Recorder()
            self.leftover = Recorder()

        def on_receive(self, conn_id, length):
            self.lengths.add(length)

        def on_close(self, conn_id, operation, error_code):
            self.leftover.add((operation, error_code, self.peek(conn_id, 8), self.fetch(conn_id, 8)))

    with Server() as server:
        server.start(HOST, 0)
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as sock:
            sock.sendall(b"leftover")
            wait_for(lambda: server.lengths.items and server.lengths.items[-1] == 8)
        (event,) = server.leftover.wait(1)
        assert event == (SocketOperation.CLOSE, 0, b"leftover", b"leftover")


# -- fetching from other threads ----------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_fetch_from_consumer_thread(seed):
    """on_receive only wakes a consumer thread; that thread peeks a length
    prefix and fetches whole messages while more data keeps arriving.
    (Over HP-Socket's own pull buffers, which a worker appends to without a
    lock, this read a misaligned stream in most runs.)"""

    wake = queue.Queue()

    class Server(hpsocket.TcpPullServer):
        def on_receive(self, conn_id, length):
            wake.put(conn_id)

    rng = random.Random(f"pull-consumer-{seed}")
    messages = [rng.randbytes(rng.randint(0, 3000)) for _ in range(3000)]
    wire = b"".join(struct.pack("<I", len(m)) + m for m in messages)
    got = []
    failures = []
    consumer_threads = set()

    def consume(server):
        consumer_threads.add(threading.get_ident())
        try:
            while len(got) < len(messages):
                conn_id = wake.get(timeout=TIMEOUT)
                while True:
                    head = server.peek(conn_id, 4)
                    if head is None:
                        break
                    (n,) = struct.unpack("<I", head)
                    whole = server.fetch(conn_id, 4 + n)
                    if whole is None:
                        break
                    assert whole[:4] == head
                    got.append(whole[4:])
        except BaseException as exc:   # reported by the test thread
            failures.append(exc)

    with Server() as server:
        server.start(HOST, 0)
        consumer = threading.Thread(target=consume, args=(server,), daemon=True)
        consumer.start()
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as sock:
            # Irregular writes, so that messages straddle reads.
            pos = 0
            while pos < len(wire):
                step = rng.randint(1, 9000)
                sock.sendall(wire[pos:pos + step])
                pos += step
            consumer.join(TIMEOUT)
            assert not consumer.is_alive(), f"consumer got {len(got)} of {len(messages)} messages"
    assert not failures, failures
    assert threading.get_ident() not in consumer_threads
    assert len(got) == len(messages)
    assert got == messages


def test_fetch_from_test_thread_while_callback_fetches_other_connection():
    """Two connections: one drained inside on_receive, one left for the
    test thread; neither disturbs the other."""

    class Server(hpsocket.TcpPullServer):
        def __init__(self):
            super().__init__()
            self.conns = Recorder()
            self.drained = bytearray()
            self.lengths = Recorder()
            self.manual = None

        def on_accept(self, conn_id, client_fd):
            self.conns.add(conn_id)

        def on_receive(self, conn_id, length):
            if conn_id == self.manual:
                self.lengths.add(length)
                return
            self.drained += self.fetch(conn_id, length)

    with Server() as server:
        server.start(HOST, 0)
        with socket.create_connection(server.listen_address, timeout=TIMEOUT) as manual_sock:
            (manual,) = server.conns.wait(1)
            server.manual = manual
            with socket.create_connection(server.listen_address, timeout=TIMEOUT) as auto_sock:
                server.conns.wait(2)
                blob = os.urandom(200_000)
                auto_sock.sendall(blob)
                manual_sock.sendall(b"M" * 5000)
                wait_for(lambda: len(server.drained) == len(blob))
                assert bytes(server.drained) == blob
                wait_for(lambda: server.lengths.items and server.lengths.items[-1] == 5000)
                assert server.fetch(manual, 5000) == b"M" * 5000


# -- unknown, closed and stopped connections ----------------------------------------
#
# fetch / peek / fetch_into on a connection the component does not have (any
# more) raise HPSocketError; nothing is returned and nothing is filled.


def _all_fetches(comp, *conn):
    """fetch, peek and fetch_into on comp for (conn...)."""
    return [
        lambda: comp.fetch(*conn, 1),
        lambda: comp.peek(*conn, 1),
        lambda: comp.fetch_into(*conn, bytearray(1)),
        lambda: comp.fetch(*conn, 4096),
    ]


def _assert_refused(comp, *conn, errno_=None):
    for call in _all_fetches(comp, *conn):
        with pytest.raises(HPSocketError) as info:
            call()
        if errno_ is not None:
            assert info.value.errno == errno_, info.value


@pytest.mark.parametrize("role", ["server", "agent"])
def test_unknown_connection_id_raises(role):
    comp, end, cleanup = open_pull_end(role)
    try:
        end.feed(b"data")            # a live connection with a buffer exists
        for bogus in (0, end.cid + 1, end.cid + 1000, 2**63, 2**64 - 1):
            _assert_refused(comp, bogus, errno_=errno.ENOTCONN)
        assert end.fetch(4) == b"data"
    finally:
        cleanup()


@pytest.mark.parametrize("leftover", [False, True], ids=["drained", "leftover"])
@pytest.mark.parametrize("role", ROLES)
def test_closed_connection_raises(role, leftover):
    comp, end, cleanup = open_pull_end(role)
    try:
        end.feed(b"0123456789")
        if not leftover:
            assert end.fetch(10) == b"0123456789"
        end.sock.close()
        comp.closes.wait(1)
        conn = () if role == "client" else (end.cid,)
        if role == "client":
            wait_for(lambda: comp.state == ServiceState.STOPPED)
        else:
            wait_for(lambda: comp.connection_count == 0)
        _assert_refused(comp, *conn)
    finally:
        cleanup()


@pytest.mark.parametrize("role", ROLES)
def test_stopped_component_raises(role):
    comp, end, cleanup = open_pull_end(role)
    try:
        end.feed(b"0123456789")
        comp.stop()
        assert comp.state == ServiceState.STOPPED
        conn = () if role == "client" else (end.cid,)
        _assert_refused(comp, *conn)
    finally:
        cleanup()


@pytest.mark.parametrize("cls", [hpsocket.TcpPullServer, hpsocket.TcpPullAgent, hpsocket.TcpPullClient])
def test_never_started_component_raises(cls):
    comp = cls()
    conn = () if issubclass(cls, hpsocket.Client) else (1,)
    _assert_refused(comp, *conn)
    if conn:
        _assert_refused(comp, 0)


def test_connections_closing_while_other_threads_fetch_raise():
    """Two threads keep fetching and peeking on every connection the server
    has seen while 60 connections each send a little and close: every call
    returns (bytes or None) or raises HPSocketError.  Once the connections
    are gone, every call on them raises."""

    stop = threading.Event()
    unexpected = []

    def hammer(srv, counts):
        while True:
            last = stop.is_set()      # one more pass once every connection is gone
            for conn_id in list(srv.conns.items):
                for call in (srv.fetch, srv.peek):
                    try:
                        result = call(conn_id, 7)
                    except HPSocketError:
                        counts["refused"] += 1
                        continue
                    except BaseException as exc:     # reported by the test thread
                        unexpected.append(repr(exc))
                        return
                    if last:
                        unexpected.append(f"{call.__name__}({conn_id}, 7) on a closed connection: {result!r}")
                    elif result is not None and len(result) != 7:
                        unexpected.append(f"{call.__name__}({conn_id}, 7) returned {result!r}")
            if last:
                return

    with HoldServer() as srv:
        srv.start(HOST, 0)
        # A started server without any connection.
        _assert_refused(srv, 12345, errno_=errno.ENOTCONN)
        counts = [{"refused": 0} for _ in range(2)]
        threads = [threading.Thread(target=hammer, args=(srv, c)) for c in counts]
        for t in threads:
            t.start()
        try:
            for _ in range(60):
                with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as s:
                    s.sendall(b"y" * 50)
            srv.closes.wait(60)
            # The library forgets a connection once its on_close has returned.
            wait_for(lambda: srv.connection_count == 0)
        finally:
            stop.set()
            for t in threads:
                t.join(TIMEOUT)
        assert not any(t.is_alive() for t in threads)
        assert not unexpected, unexpected[:5]
        assert len(set(srv.conns.items)) == 60
        # Each thread's last pass was refused on every connection.
        assert all(c["refused"] >= 2 * 60 for c in counts), counts
        for conn_id in srv.conns.items:
            _assert_refused(srv, conn_id)
