"""TCP specifics of the lifecycle (agents and clients started twice, exit
with live clients and agents); connection extras; tunables and no_delay.
The contract every family keeps is in test_family_contract.py."""

import gc
import os
import socket
import threading
import weakref

import pytest

import hpsocket
from hpsocket import HPSocketError, SocketError
from hpsocket import _core

from support import HOST, ROOT, TIMEOUT, EchoServer, Recorder, connect, roundtrip, run_python, wait_for


# -- helpers -------------------------------------------------------------------


def run_script(source, timeout=20):
    """Run source in a fresh interpreter (from the repository root); return
    the CompletedProcess.  A hang fails the test (subprocess.TimeoutExpired)."""
    return run_python(source=source, timeout=timeout, cwd=ROOT)


# -- starting -----------------------------------------------------------------------


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


# -- process exit -------------------------------------------------------------------


def test_process_exits_with_live_clients_and_agents():
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
