"""The pull model: fetch / peek / fetch_into semantics, argument checking,
fetching from threads other than the callback's, and the crash guard (the
native Fetch/Peek dereference NULL for unknown or closed connections: the
binding must raise HPSocketError instead).

Each semantic test runs for the three pull classes: a TcpPullServer fed by a
plain socket, and a TcpPullAgent / TcpPullClient fed by a plain listening
socket.  The handlers only record what the library reports; the test thread
(not a callback thread) fetches.
"""

import array
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import textwrap
import threading

import pytest

import hpsocket
from hpsocket import HPSocketError, ServiceState, SocketOperation

from conftest import HOST, TIMEOUT, Recorder, wait_for

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


def test_argument_errors(pull):
    pull.feed(b"keep me")
    for bad in ("3", 3.0, None, b"3", True):
        with pytest.raises(TypeError):
            pull.fetch(bad)
        with pytest.raises(TypeError):
            pull.peek(bad)
    for negative in (-1, -(1 << 40)):
        with pytest.raises(ValueError):
            pull.fetch(negative)
        with pytest.raises(ValueError):
            pull.peek(negative)
    for bad in ("buffer", 5, None, 2.5, [0, 0]):
        with pytest.raises(TypeError):
            pull.fetch_into(bad)
    # Read-only buffers are not filled.
    with pytest.raises((TypeError, BufferError)):
        pull.fetch_into(b"\x00" * 3)
    with pytest.raises((TypeError, BufferError)):
        pull.fetch_into(memoryview(bytearray(3)).toreadonly())
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
def test_fetch_from_consumer_thread(unraisable, seed):
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
    assert len(unraisable) == 0, unraisable.items


def test_fetch_from_test_thread_while_callback_fetches_other_connection(unraisable):
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
    assert len(unraisable) == 0, unraisable.items


# -- the crash guard --------------------------------------------------------------


def _all_fetches(comp, *conn):
    """fetch, peek and fetch_into on comp for (conn...)."""
    return [
        lambda: comp.fetch(*conn, 1),
        lambda: comp.peek(*conn, 1),
        lambda: comp.fetch_into(*conn, bytearray(1)),
        lambda: comp.fetch(*conn, 4096),
    ]


def _assert_refused(comp, *conn):
    for call in _all_fetches(comp, *conn):
        with pytest.raises(HPSocketError):
            call()


@pytest.mark.parametrize("role", ["server", "agent"])
def test_unknown_connection_id_raises(role):
    comp, end, cleanup = open_pull_end(role)
    try:
        end.feed(b"data")            # a live connection with a buffer exists
        for bogus in (0, end.cid + 1, end.cid + 1000, 2**63, 2**64 - 1):
            _assert_refused(comp, bogus)
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


CRASH_GUARD_SCRIPT = textwrap.dedent(
    r"""
    import socket, sys, threading
    import hpsocket
    from hpsocket import HPSocketError

    HOST = "127.0.0.1"
    refused = 0

    def refuse(call):
        global refused
        try:
            call()
        except HPSocketError:
            refused += 1
        else:
            raise SystemExit("no HPSocketError from " + repr(call))

    def all_calls(comp, *conn):
        refuse(lambda: comp.fetch(*conn, 1))
        refuse(lambda: comp.peek(*conn, 1))
        refuse(lambda: comp.fetch_into(*conn, bytearray(1)))

    class Server(hpsocket.TcpPullServer):
        def __init__(self):
            super().__init__()
            self.ids = []
            self.seen = threading.Condition()
            self.closed = 0

        def on_receive(self, conn_id, length):
            with self.seen:
                self.ids.append(conn_id)
                self.seen.notify_all()

        def on_close(self, conn_id, operation, error_code):
            with self.seen:
                self.closed += 1
                self.seen.notify_all()

    # Never started.
    all_calls(hpsocket.TcpPullServer(), 1)
    all_calls(hpsocket.TcpPullAgent(), 1)
    all_calls(hpsocket.TcpPullClient())

    srv = Server()
    srv.start(HOST, 0)
    port = srv.listen_address[1]

    # Unknown ids on a running server with live connections.
    socks = [socket.create_connection((HOST, port), timeout=10) for _ in range(4)]
    for s in socks:
        s.sendall(b"x" * 100)
    with srv.seen:
        assert srv.seen.wait_for(lambda: len(set(srv.ids)) == 4, 10)
    for bogus in (0, 12345, 2**64 - 1):
        all_calls(srv, bogus)

    # Closed connections, with data still buffered when they closed.
    for s in socks:
        s.close()
    with srv.seen:
        assert srv.seen.wait_for(lambda: srv.closed == 4, 10)
    # fetch still works inside on_close (and from other threads while it
    # runs); the library forgets a connection after on_close has returned.
    deadline = __import__("time").monotonic() + 10
    while srv.connection_count:
        assert __import__("time").monotonic() < deadline
        __import__("time").sleep(0.01)
    for conn_id in set(srv.ids):
        all_calls(srv, conn_id)

    # Connections closing while another thread keeps fetching on them.
    stop = threading.Event()
    def hammer():
        while not stop.is_set():
            for conn_id in list(srv.ids):
                for call in (srv.fetch, srv.peek):
                    try:
                        call(conn_id, 7)
                    except HPSocketError:
                        pass
    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(60):
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(b"y" * 50)
        s.close()
    with srv.seen:
        assert srv.seen.wait_for(lambda: srv.closed == 64, 10)
    stop.set()
    for t in threads:
        t.join(10)

    # A stopped server.
    srv.stop()
    for conn_id in set(srv.ids):
        all_calls(srv, conn_id)

    # A client whose connection closed, then one that was stopped.
    lsock = socket.create_server((HOST, 0))
    cport = lsock.getsockname()[1]
    for how in ("peer-closed", "stopped"):
        got = threading.Event()
        class Client(hpsocket.TcpPullClient):
            def on_receive(self, conn_id, length):
                got.set()
        cli = Client()
        cli.start(HOST, cport)
        peer, _ = lsock.accept()
        peer.sendall(b"z" * 10)
        assert got.wait(10)
        if how == "peer-closed":
            peer.close()
            deadline = __import__("time").monotonic() + 10
            while cli.state != hpsocket.ServiceState.STOPPED:
                assert __import__("time").monotonic() < deadline
                __import__("time").sleep(0.01)
        else:
            cli.stop()
            peer.close()
        all_calls(cli)
        cli.stop()
    lsock.close()
    print("refused", refused)
    """
)


def test_crash_guard_in_subprocess():
    """The same checks in a fresh interpreter: a segfault there fails this
    test instead of killing pytest."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(hpsocket.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_GUARD_SCRIPT],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, (
        f"returncode {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    assert "refused" in proc.stdout
    assert int(proc.stdout.split("refused")[1]) >= 3 * (3 + 3 + 4 + 2)
