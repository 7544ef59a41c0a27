"""Starting, stopping, restarting, waiting, freeing and process exit;
connection extras; tunables and no_delay."""

import errno
import gc
import os
import socket
import threading
import time
import weakref

import pytest

import hpsocket
from hpsocket import HPSocketError, ServiceState, SocketError
from hpsocket import _core

from support import HOST, ROOT, TIMEOUT, EchoServer, Recorder, connect, roundtrip, run_python, wait_for


# -- helpers -------------------------------------------------------------------


def run_script(source, timeout=20):
    """Run source in a fresh interpreter (from the repository root); return
    the CompletedProcess.  A hang fails the test (subprocess.TimeoutExpired)."""
    return run_python(source=source, timeout=timeout, cwd=ROOT)


# -- start failures --------------------------------------------------------------


def test_start_on_busy_port_raises_eaddrinuse():
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        srv = EchoServer()
        with pytest.raises(HPSocketError) as info:
            srv.start(HOST, port)
        err = info.value
        assert isinstance(err, OSError)
        assert err.errno == errno.EADDRINUSE
        assert err.code == SocketError.SOCKET_BIND
        assert isinstance(err.description, str) and err.description
        assert err.description in str(err)
        assert srv.state == ServiceState.STOPPED
    # The failed server can still start elsewhere.
    srv.start(HOST, 0)
    srv.stop()


def test_start_on_port_of_another_server_raises_eaddrinuse():
    with EchoServer() as first:
        first.start(HOST, 0)
        second = EchoServer()
        with pytest.raises(HPSocketError) as info:
            second.start(HOST, first.listen_address[1])
        assert info.value.errno == errno.EADDRINUSE
        assert second.state == ServiceState.STOPPED
        # The first one is unaffected.
        with connect(first) as c:
            assert roundtrip(c, b"x") == b"x"


def test_start_twice_raises_illegal_state():
    with EchoServer() as srv:
        srv.start(HOST, 0)
        address = srv.listen_address
        with pytest.raises(HPSocketError) as info:
            srv.start(HOST, 0)
        assert info.value.code == SocketError.ILLEGAL_STATE
        assert info.value.description
        # Still running, on the same address.
        assert srv.state == ServiceState.STARTED
        assert srv.listen_address == address
        with connect(srv) as c:
            assert roundtrip(c, b"still") == b"still"


def test_agent_and_client_start_twice_raise_illegal_state():
    with EchoServer() as srv:
        srv.start(HOST, 0)
        with hpsocket.TcpAgent() as agent:
            agent.start()
            with pytest.raises(HPSocketError) as info:
                agent.start()
            assert info.value.code == SocketError.ILLEGAL_STATE
        with hpsocket.TcpClient() as client:
            client.start(*srv.listen_address)
            with pytest.raises(HPSocketError) as info:
                client.start(*srv.listen_address)
            assert info.value.code == SocketError.ILLEGAL_STATE


def test_restart_three_cycles():
    shutdowns = Recorder()

    class S(EchoServer):
        def on_shutdown(self):
            shutdowns.add(1)

    srv = S()
    for cycle in range(3):
        srv.start(HOST, 0)
        assert srv.state == ServiceState.STARTED
        with connect(srv) as c:
            assert roundtrip(c, b"cycle %d" % cycle) == b"cycle %d" % cycle
        srv.stop()
        assert srv.state == ServiceState.STOPPED
        assert srv.wait(0) is True
        assert len(shutdowns) == cycle + 1


def test_stop_on_stopped_and_never_started_is_noop():
    srv = EchoServer()
    srv.stop()
    srv.stop()
    assert srv.state == ServiceState.STOPPED
    assert srv.wait(0) is True


# -- stopping --------------------------------------------------------------------


def test_stop_from_on_receive_does_not_deadlock():
    shut = Recorder()
    results = Recorder()

    class S(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            results.add(self.stop())
            # A second call from the handler is harmless.
            self.stop()

        def on_shutdown(self):
            shut.add(threading.get_ident())

    srv = S()
    srv.start(HOST, 0)
    try:
        with connect(srv) as c:
            c.sendall(b"stop please")
            assert results.wait(1) == [None]
            assert srv.wait(TIMEOUT) is True
        assert srv.state == ServiceState.STOPPED
        assert len(shut.wait(1)) == 1
    finally:
        srv.stop()


def test_wait_from_handler_raises():
    errors = Recorder()

    class S(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            try:
                self.wait(0)
            except RuntimeError as exc:
                errors.add(str(exc))
            self.send(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert roundtrip(c, b"w") == b"w"
        assert len(errors.wait(1)) == 1


def test_stop_from_another_thread_while_traffic_flows():
    srv = EchoServer()
    srv.start(HOST, 0)
    address = srv.listen_address
    counts = [0] * 4

    def client(i):
        try:
            with socket.create_connection(address, timeout=TIMEOUT) as c:
                while True:
                    roundtrip(c, b"x" * 512)
                    counts[i] += 1
                    if counts[i] == 50:
                        stop_now_votes.add(i)
        except (OSError, AssertionError):
            return   # the server went away

    stop_now_votes = Recorder()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        stop_now_votes.wait(4)   # every client has had 50 round trips
    finally:
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        stopper.join(TIMEOUT)
        assert not stopper.is_alive(), "stop() hung"
        for t in threads:
            t.join(TIMEOUT)
            assert not t.is_alive(), "client did not see the server stop"
        srv.stop()
    assert srv.state == ServiceState.STOPPED
    assert srv.wait(0) is True
    assert min(counts) >= 50


def test_wait_returns_false_while_running():
    with EchoServer() as srv:
        srv.start(HOST, 0)
        t0 = time.monotonic()
        assert srv.wait(0.2) is False
        assert time.monotonic() - t0 >= 0.15
        assert srv.wait(0) is False
        assert srv.state == ServiceState.STARTED
    assert srv.wait(0) is True


def test_serve_forever_returns_after_stop_from_another_thread():
    srv = EchoServer()
    srv.start(HOST, 0)
    returned = threading.Event()

    def serve():
        srv.serve_forever()
        returned.set()

    t = threading.Thread(target=serve)
    t.start()
    try:
        # It is really serving (and blocking).
        with connect(srv) as c:
            assert roundtrip(c, b"serving") == b"serving"
        assert not returned.wait(0.2)
    finally:
        srv.stop()
        t.join(TIMEOUT)
    assert not t.is_alive(), "serve_forever did not return"
    assert returned.is_set()
    assert srv.state == ServiceState.STOPPED


def test_serve_forever_returns_after_stop_from_handler():
    class S(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.stop()

    srv = S()
    srv.start(HOST, 0)
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    try:
        with connect(srv) as c:
            c.sendall(b"quit")
            t.join(TIMEOUT)
    finally:
        srv.stop()
        t.join(TIMEOUT)
    assert not t.is_alive()
    assert srv.state == ServiceState.STOPPED


def test_context_manager_stops():
    with EchoServer() as srv:
        assert isinstance(srv, EchoServer)
        srv.start(HOST, 0)
        c = connect(srv)
        assert roundtrip(c, b"cm") == b"cm"
    assert srv.state == ServiceState.STOPPED
    with c:
        assert c.recv(10) == b""   # the server closed it


def test_context_manager_stops_on_exception():
    class Oops(Exception):
        pass

    with pytest.raises(Oops):
        with EchoServer() as srv:
            srv.start(HOST, 0)
            raise Oops
    assert srv.state == ServiceState.STOPPED


# -- process exit and freeing -----------------------------------------------------


def test_process_exits_with_live_components():
    proc = run_script("""
        import socket, hpsocket

        class Echo(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                self.send(conn_id, data)

        class Client(hpsocket.TcpClient):
            def on_receive(self, conn_id, data):
                pass

        class Agent(hpsocket.TcpAgent):
            def on_receive(self, conn_id, data):
                pass

        srv = Echo()
        srv.start("127.0.0.1", 0)
        client = Client()
        client.start(*srv.listen_address)
        client.send(b"hello")
        agent = Agent()
        agent.start()
        agent.connect(*srv.listen_address)
        raw = socket.create_connection(srv.listen_address, timeout=10)
        raw.sendall(b"ping")
        assert raw.recv(4) == b"ping"
        print("main thread done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "main thread done" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_process_exits_with_traffic_in_flight():
    proc = run_script("""
        import socket, threading, hpsocket

        class Echo(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                self.send(conn_id, data)

        srv = Echo()
        srv.start("127.0.0.1", 0)
        started = threading.Event()

        def pump():
            c = socket.create_connection(srv.listen_address, timeout=10)
            started.set()
            try:
                while True:
                    c.sendall(b"y" * 4096)
                    c.recv(65536)
            except OSError:
                pass

        threading.Thread(target=pump, daemon=True).start()
        assert started.wait(10)
        print("main thread done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "main thread done" in proc.stdout


def test_deleting_running_server_does_not_crash():
    proc = run_script("""
        import gc, socket, hpsocket

        class Echo(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                self.send(conn_id, data)

        srv = Echo()
        srv.start("127.0.0.1", 0)
        address = srv.listen_address
        c = socket.create_connection(address, timeout=10)
        del srv
        gc.collect()
        # A running server keeps itself alive: it still echoes.
        c.sendall(b"after del")
        got = b""
        while len(got) < 9:
            chunk = c.recv(100)
            assert chunk, got
            got += chunk
        assert got == b"after del", got
        c2 = socket.create_connection(address, timeout=10)
        c2.sendall(b"new")
        assert c2.recv(3) == b"new"
        print("ok", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_deleting_never_started_components_in_subprocess():
    proc = run_script("""
        import gc, hpsocket
        for cls in (hpsocket.TcpServer, hpsocket.TcpPullServer, hpsocket.TcpPackServer,
                    hpsocket.TcpAgent, hpsocket.TcpPullAgent, hpsocket.TcpPackAgent,
                    hpsocket.TcpClient, hpsocket.TcpPullClient, hpsocket.TcpPackClient):
            for _ in range(20):
                obj = cls()
                del obj
        gc.collect()
        assert hpsocket._core._counters()["live_native"] == 0
        print("ok", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_deleted_stopped_server_is_freed():
    srv = EchoServer()
    srv.start(HOST, 0)
    with connect(srv) as c:
        assert roundtrip(c, b"a") == b"a"
    srv.stop()
    ref = weakref.ref(srv)
    del srv
    gc.collect()
    assert ref() is None


def test_deleted_never_started_server_is_freed():
    before = _core._counters()["live_native"]
    srv = EchoServer()
    assert _core._counters()["live_native"] == before + 1
    ref = weakref.ref(srv)
    del srv
    gc.collect()
    assert ref() is None
    assert _core._counters()["live_native"] == before


def test_locally_defined_subclass_is_freed():
    """A class defined in a function, once its instances are gone, must be
    collectable: hpsocket must not keep classes (and what their methods
    close over) alive for ever."""

    def make():
        class Local(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                pass

        srv = Local()
        srv.start(HOST, 0)
        srv.stop()
        return weakref.ref(Local)

    ref = make()
    gc.collect()
    assert ref() is None, f"{ref()} is still referenced by {[type(r) for r in gc.get_referrers(ref())]}"


def test_server_referenced_from_handler_closure_is_freed():
    """A stopped server whose handler's closure kept a reference back to it
    (here through a recorded exception's traceback) is one reference cycle,
    which the garbage collector must be able to free."""
    before = _core._counters()["live_native"]

    def run():
        seen = []

        class Local(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                raise ValueError("recorded")

            def on_error(self, event, conn_id, exc):
                seen.append(exc)

        srv = Local()
        srv.start(HOST, 0)
        with connect(srv) as c:
            c.sendall(b"x")
            wait_for(lambda: seen)
        srv.stop()
        return weakref.ref(srv)

    ref = run()
    gc.collect()
    assert ref() is None
    assert _core._counters()["live_native"] == before


# -- connection extras --------------------------------------------------------------


class Marker:
    def __init__(self, n):
        self.n = n


def test_extras_released_after_1000_connections():
    records_before = _core._counters()["conn_records"]
    refs = []
    refs_lock = threading.Lock()
    closes = Recorder()
    mismatches = []

    class S(hpsocket.TcpServer):
        def on_accept(self, conn_id, client_fd):
            obj = Marker(conn_id)
            with refs_lock:
                refs.append(weakref.ref(obj))
            self.set_extra(conn_id, obj)

        def on_close(self, conn_id, operation, error_code):
            extra = self.get_extra(conn_id)
            if extra is None or extra.n != conn_id:
                mismatches.append((conn_id, extra))
            closes.add(conn_id)

    n = 1000
    with S() as srv:
        srv.start(HOST, 0)
        address = srv.listen_address
        for i in range(n):
            c = socket.create_connection(address, timeout=TIMEOUT)
            c.close()
            if i % 100 == 99:
                # Bound the backlog of closes in flight.
                closes.wait(i + 1 - 50)
        closes.wait(n)
        wait_for(lambda: srv.connection_count == 0)
        assert len(refs) == n
        assert mismatches == []
        gc.collect()
        alive = [r() for r in refs if r() is not None]
        assert alive == [], f"{len(alive)} extras still alive, e.g. {alive[:3]}"
        wait_for(lambda: _core._counters()["conn_records"] == records_before, timeout=5)
    assert _core._counters()["conn_records"] == records_before


def test_set_extra_replaces_and_none_removes():
    results = Recorder()

    class S(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            first, second = Marker(1), Marker(2)
            r1 = weakref.ref(first)
            self.set_extra(conn_id, first)
            a = self.get_extra(conn_id)
            self.set_extra(conn_id, second)
            del first, a
            b = self.get_extra(conn_id)
            self.set_extra(conn_id, None)
            c = self.get_extra(conn_id, "default")
            results.add((r1() is None, b.n, c))
            self.send(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert roundtrip(c, b"e") == b"e"
        assert results.wait(1) == [(True, 2, "default")]


def test_extras_released_when_server_stops():
    refs = []
    accepted = Recorder()

    class S(hpsocket.TcpServer):
        def on_accept(self, conn_id, client_fd):
            obj = Marker(conn_id)
            refs.append(weakref.ref(obj))
            self.set_extra(conn_id, obj)
            accepted.add(conn_id)

    srv = S()
    srv.start(HOST, 0)
    socks = [connect(srv) for _ in range(5)]
    try:
        accepted.wait(5)
    finally:
        srv.stop()
        for s in socks:
            s.close()
    gc.collect()
    assert [r() for r in refs] == [None] * 5


# -- tunables ---------------------------------------------------------------------


SERVER_DEFAULTS = {
    "max_connections": 10000,
    "socket_buffer_size": 4096,
    "keep_alive_time": 30000,
    "keep_alive_interval": 10000,
    "accept_socket_count": 64,
    "listen_queue": 128,
    "free_socket_pool": 150,
    "free_socket_hold": 600,
    "free_socket_lock_time": 10000,
    "free_buffer_pool": 300,
    "free_buffer_hold": 1200,
}


def test_server_tunable_defaults():
    srv = hpsocket.TcpServer()
    for name, value in SERVER_DEFAULTS.items():
        assert getattr(srv, name) == value, name
    assert isinstance(srv.worker_threads, int) and srv.worker_threads >= 1
    assert srv.mark_silence in (0, 1, True, False)
    assert srv.no_delay is True


def test_agent_and_client_tunable_defaults():
    agent = hpsocket.TcpAgent()
    assert agent.max_connections == 10000
    assert agent.socket_buffer_size == 4096
    assert agent.worker_threads >= 1
    assert agent.no_delay is True
    client = hpsocket.TcpClient()
    assert client.socket_buffer_size == 4096
    assert client.keep_alive_time == 30000
    assert client.no_delay is True


def test_tunables_via_properties():
    srv = hpsocket.TcpServer()
    values = {name: value + 7 for name, value in SERVER_DEFAULTS.items()}
    values["worker_threads"] = 3
    for name, value in values.items():
        setattr(srv, name, value)
    for name, value in values.items():
        assert getattr(srv, name) == value, name
    srv.mark_silence = True
    assert srv.mark_silence
    srv.mark_silence = False
    assert not srv.mark_silence
    srv.no_delay = False
    assert srv.no_delay is False
    srv.keep_alive_time = 0   # 0 disables keep-alive: allowed
    assert srv.keep_alive_time == 0
    srv.max_connections = 0xFFFFFFFF
    assert srv.max_connections == 0xFFFFFFFF


def test_tunables_via_constructor():
    srv = hpsocket.TcpServer(worker_threads=2, max_connections=77, socket_buffer_size=8192,
                             keep_alive_time=1000, listen_queue=16, no_delay=False)
    assert srv.worker_threads == 2
    assert srv.max_connections == 77
    assert srv.socket_buffer_size == 8192
    assert srv.keep_alive_time == 1000
    assert srv.listen_queue == 16
    assert srv.no_delay is False
    agent = hpsocket.TcpAgent(worker_threads=2, reuse_address=True)
    assert agent.worker_threads == 2
    assert agent.reuse_address
    client = hpsocket.TcpClient(socket_buffer_size=1024)
    assert client.socket_buffer_size == 1024
    pack = hpsocket.TcpPackServer(max_pack_size=1000, pack_header_flag=0x12)
    assert pack.max_pack_size == 1000
    assert pack.pack_header_flag == 0x12


def test_subclass_constructor_passes_tunables():
    class S(EchoServer):
        def __init__(self, greeting, **kw):
            super().__init__(**kw)
            self.greeting = greeting

    srv = S("hi", worker_threads=1)
    assert srv.worker_threads == 1
    assert srv.greeting == "hi"
    srv.start(HOST, 0)
    try:
        with connect(srv) as c:
            assert roundtrip(c, b"one worker") == b"one worker"
    finally:
        srv.stop()


@pytest.mark.parametrize("value", ["3", 3.0, None, True, b"3", [3]])
def test_tunable_wrong_type(value):
    srv = hpsocket.TcpServer()
    with pytest.raises(TypeError):
        srv.worker_threads = value
    with pytest.raises(TypeError):
        srv.socket_buffer_size = value
    with pytest.raises(TypeError):
        hpsocket.TcpServer(max_connections=value)
    assert srv.worker_threads >= 1
    assert srv.socket_buffer_size == 4096


@pytest.mark.parametrize("name,value", [
    ("worker_threads", 0),
    ("worker_threads", -1),
    ("max_connections", 0),
    ("max_connections", 2 ** 32),
    ("socket_buffer_size", 0),
    ("socket_buffer_size", -4096),
    ("keep_alive_time", -1),
    ("keep_alive_interval", 2 ** 64),
    ("listen_queue", 0),
    ("accept_socket_count", 0),
])
def test_tunable_bad_value(name, value):
    srv = hpsocket.TcpServer()
    before = getattr(srv, name)
    with pytest.raises(ValueError):
        setattr(srv, name, value)
    assert getattr(srv, name) == before
    with pytest.raises(ValueError):
        hpsocket.TcpServer(**{name: value})


def test_pack_tunable_bad_values():
    pack = hpsocket.TcpPackServer()
    with pytest.raises(ValueError):
        pack.max_pack_size = 0
    with pytest.raises(ValueError):
        pack.max_pack_size = 0x400000
    with pytest.raises(ValueError):
        pack.pack_header_flag = 0x400
    with pytest.raises(TypeError):
        pack.pack_header_flag = "1"
    assert pack.max_pack_size == 0x40000


def test_unknown_kwarg_raises_type_error():
    with pytest.raises(TypeError, match="bogus"):
        hpsocket.TcpServer(bogus=1)
    # Tunables of another role are unknown too.
    with pytest.raises(TypeError, match="worker_threads"):
        hpsocket.TcpClient(worker_threads=2)
    with pytest.raises(TypeError, match="listen_queue"):
        hpsocket.TcpAgent(listen_queue=2)
    with pytest.raises(TypeError, match="max_pack_size"):
        hpsocket.TcpServer(max_pack_size=100)
    with pytest.raises(TypeError):
        hpsocket.TcpServer(3)


def test_setting_tunable_while_started_raises():
    srv = hpsocket.TcpServer(worker_threads=2)
    srv.start(HOST, 0)
    try:
        for name in ("worker_threads", "max_connections", "socket_buffer_size",
                     "keep_alive_time", "listen_queue", "no_delay", "mark_silence"):
            before = getattr(srv, name)
            with pytest.raises(HPSocketError) as info:
                setattr(srv, name, 5)
            assert info.value.code == SocketError.ILLEGAL_STATE
            assert getattr(srv, name) == before, name
        # Reading is fine.
        assert srv.worker_threads == 2
    finally:
        srv.stop()
    srv.worker_threads = 3
    assert srv.worker_threads == 3


def test_max_connections_is_applied():
    closes = Recorder()

    class S(EchoServer):
        def on_close(self, conn_id, operation, error_code):
            closes.add(conn_id)

    with S(max_connections=1) as srv:
        srv.start(HOST, 0)
        with connect(srv) as first:
            assert roundtrip(first, b"1") == b"1"
            with connect(srv) as second:
                # Over the limit: dropped.
                try:
                    second.sendall(b"2")
                    assert second.recv(10) == b""
                except ConnectionResetError:
                    pass
            assert roundtrip(first, b"1 again") == b"1 again"
            assert srv.connection_count == 1


# -- no_delay ----------------------------------------------------------------------


def _nodelay_seen(no_delay):
    seen = Recorder()

    class S(EchoServer):
        def on_accept(self, conn_id, client_fd):
            s = socket.socket(fileno=os.dup(client_fd))
            try:
                seen.add(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            finally:
                s.close()

    kw = {} if no_delay is None else {"no_delay": no_delay}
    with S(**kw) as srv:
        srv.start(HOST, 0)
        for _ in range(3):
            with connect(srv) as c:
                assert roundtrip(c, b"nd") == b"nd"
        return seen.wait(3)


def test_no_delay_default_sets_tcp_nodelay():
    assert all(v != 0 for v in _nodelay_seen(None))


def test_no_delay_true_sets_tcp_nodelay():
    assert all(v != 0 for v in _nodelay_seen(True))


def test_no_delay_false_leaves_it_off():
    assert _nodelay_seen(False) == [0, 0, 0]


def test_no_delay_set_by_property_between_runs():
    srv = hpsocket.TcpServer()
    srv.no_delay = False
    assert srv.no_delay is False
    srv.no_delay = True
    assert srv.no_delay is True
