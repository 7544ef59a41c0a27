"""Argument checking (TypeError/ValueError before any native call), results
for unknown connections, abstract base classes and HPSocketError.  (The pull
classes' fetch/peek/fetch_into: test_pull.py.)"""

import errno
import pickle
import socket
import sys
import weakref

import pytest

import hpsocket
from hpsocket import HPSocketError, ServiceState, SocketError
from hpsocket import _core

from support import HOST, EchoServer, connect, recv_exact, wait_for

UNKNOWN = 987654321


# The fixtures hand out weak proxies: pytest keeps fixture values until after
# the conftest's leftover check, which needs the components freed by then.


@pytest.fixture
def server():
    srv = EchoServer()
    srv.start(HOST, 0)
    yield weakref.proxy(srv)
    srv.stop()


@pytest.fixture
def agent():
    a = hpsocket.TcpAgent()
    a.start()
    yield weakref.proxy(a)
    a.stop()



# -- start ------------------------------------------------------------------------


@pytest.mark.parametrize("host,port,exc", [
    (None, 0, TypeError),
    (127, 0, TypeError),
    (b"127.0.0.1", 0, TypeError),
    (("127.0.0.1", 0), 0, TypeError),
    ("", 0, ValueError),
    ("127.0.0.1\0evil", 0, ValueError),
    (HOST, -1, ValueError),
    (HOST, 65536, ValueError),
    (HOST, 2 ** 70, ValueError),
    (HOST, "80", TypeError),
    (HOST, 80.0, TypeError),
    (HOST, None, TypeError),
    (HOST, True, TypeError),
])
def test_server_start_bad_arguments(host, port, exc):
    srv = EchoServer()
    with pytest.raises(exc):
        srv.start(host, port)
    assert srv.state == ServiceState.STOPPED
    assert srv not in _core._live
    # Nothing was half-started: it starts normally afterwards.
    srv.start(HOST, 0)
    srv.stop()


def test_server_start_bad_argument_when_running_keeps_it_running(server):
    with pytest.raises(ValueError):
        server.start(HOST, 99999)
    with pytest.raises(TypeError):
        server.start(1, 0)
    assert server.state == ServiceState.STARTED
    with connect(server) as c:
        c.sendall(b"ok")
        assert c.recv(2) == b"ok"


def test_server_start_unresolvable_host_raises_hpsocket_error():
    srv = EchoServer()
    with pytest.raises(HPSocketError) as info:
        srv.start("not an address", 0)
    assert info.value.description
    assert srv.state == ServiceState.STOPPED


@pytest.mark.parametrize("host,port,exc", [
    (None, 1, TypeError),
    (HOST, -1, ValueError),
    (HOST, 65536, ValueError),
    (HOST, "1", TypeError),
    ("", 1, ValueError),
])
def test_client_start_bad_arguments(host, port, exc):
    client = hpsocket.TcpClient()
    with pytest.raises(exc):
        client.start(host, port)
    assert client.state == ServiceState.STOPPED


def test_agent_start_bad_bind_address():
    agent = hpsocket.TcpAgent()
    with pytest.raises(TypeError):
        agent.start(bind_address=5)
    with pytest.raises(ValueError):
        agent.start(bind_address="")
    assert agent.state == ServiceState.STOPPED


# -- send --------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["text", 5, None, 1.5, object(), [b"a"]])
def test_send_non_buffer_raises_type_error(server, data):
    with connect(server) as c:
        wait_for(lambda: server.connection_ids)
        [conn_id] = server.connection_ids
        with pytest.raises(TypeError):
            server.send(conn_id, data)
        # The connection is unaffected.
        c.sendall(b"fine")
        assert c.recv(4) == b"fine"


def test_send_buffer_types_accepted(server):
    import array

    with connect(server) as c:
        wait_for(lambda: server.connection_ids)
        [conn_id] = server.connection_ids
        for data in (b"ab", bytearray(b"cd"), memoryview(b"xxef")[2:], array.array("B", b"gh")):
            assert server.send(conn_id, data) is True
        assert recv_exact(c, 8) == b"abcdefgh"
        # Empty data is a successful no-op.
        assert server.send(conn_id, b"") is True


@pytest.mark.parametrize("conn_id,exc", [
    ("1", TypeError),
    (1.0, TypeError),
    (None, TypeError),
    (True, TypeError),
    (-1, ValueError),
    (2 ** 64, ValueError),
])
def test_conn_id_argument_checked(server, conn_id, exc):
    with pytest.raises(exc):
        server.send(conn_id, b"x")
    with pytest.raises(exc):
        server.disconnect(conn_id)
    with pytest.raises(exc):
        server.set_extra(conn_id, object())
    with pytest.raises(exc):
        server.get_extra(conn_id)
    with pytest.raises(exc):
        server.remote_address(conn_id)


def test_send_on_unknown_conn_returns_false(server):
    assert server.send(UNKNOWN, b"data") is False
    assert server.send(0, b"data") is False
    assert server.send_packets(UNKNOWN, [b"a", b"b"]) is False


def test_send_on_stopped_server_returns_false():
    srv = EchoServer()
    assert srv.send(1, b"x") is False


def test_disconnect_unknown_returns_false(server):
    assert server.disconnect(UNKNOWN) is False
    assert server.disconnect(UNKNOWN, force=False) is False


def test_disconnect_known_then_again(server):
    with connect(server) as c:
        wait_for(lambda: server.connection_ids)
        [conn_id] = server.connection_ids
        assert server.disconnect(conn_id) is True
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
    wait_for(lambda: server.connection_count == 0)
    assert server.disconnect(conn_id) is False
    assert server.send(conn_id, b"late") is False


# -- connect -------------------------------------------------------------------------


@pytest.mark.parametrize("host,port,exc", [
    (None, 80, TypeError),
    (b"127.0.0.1", 80, TypeError),
    (HOST, -1, ValueError),
    (HOST, 65536, ValueError),
    (HOST, "80", TypeError),
    ("", 80, ValueError),
    ("a\0b", 80, ValueError),
])
def test_agent_connect_bad_arguments(agent, host, port, exc):
    with pytest.raises(exc):
        agent.connect(host, port)
    assert agent.connection_count == 0


def test_agent_connect_when_stopped_raises_hpsocket_error():
    agent = hpsocket.TcpAgent()
    with pytest.raises(HPSocketError) as info:
        agent.connect(HOST, 1)
    assert info.value.code == SocketError.ILLEGAL_STATE


# -- unknown connections ----------------------------------------------------------------


def test_set_extra_unknown_conn_raises(server):
    with pytest.raises(HPSocketError) as info:
        server.set_extra(UNKNOWN, object())
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(HPSocketError):
        server.set_extra(UNKNOWN, None)
    assert server.get_extra(UNKNOWN) is None
    assert server.get_extra(UNKNOWN, "dflt") == "dflt"


def test_set_extra_on_stopped_server_raises():
    srv = EchoServer()
    with pytest.raises(HPSocketError) as info:
        srv.set_extra(1, object())
    assert info.value.errno == errno.ENOTCONN


def test_set_extra_unknown_does_not_leak_object(server):
    class Obj:
        pass

    obj = Obj()
    ref = weakref.ref(obj)
    rc = sys.getrefcount(obj)
    for _ in range(10):
        with pytest.raises(HPSocketError):
            server.set_extra(UNKNOWN, obj)
    assert sys.getrefcount(obj) == rc
    del obj
    assert ref() is None


def test_remote_address_unknown_conn_raises_enotconn(server):
    with pytest.raises(HPSocketError) as info:
        server.remote_address(UNKNOWN)
    err = info.value
    assert err.errno == errno.ENOTCONN
    assert isinstance(err, OSError)
    assert str(UNKNOWN) in err.description
    with pytest.raises(HPSocketError) as info:
        server.local_address(UNKNOWN)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(HPSocketError):
        server.pending_data_length(UNKNOWN)
    with pytest.raises(HPSocketError):
        server.is_receive_paused(UNKNOWN)
    assert server.pause_receive(UNKNOWN) is False


def test_remote_address_known_conn(server):
    with connect(server) as c:
        wait_for(lambda: server.connection_ids)
        [conn_id] = server.connection_ids
        assert server.remote_address(conn_id) == c.getsockname()
        assert server.local_address(conn_id) == server.listen_address


def test_listen_address_when_stopped_raises():
    srv = EchoServer()
    with pytest.raises(HPSocketError) as info:
        srv.listen_address
    assert info.value.code == SocketError.ILLEGAL_STATE


# -- abstract classes -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [hpsocket.Component, hpsocket.Server, hpsocket.Agent, hpsocket.Client])
def test_abstract_classes_cannot_be_instantiated(cls):
    before = _core._counters()["live_native"]
    with pytest.raises(TypeError):
        cls()
    with pytest.raises(TypeError):
        cls(worker_threads=1)
    assert _core._counters()["live_native"] == before


def test_subclass_of_abstract_class_cannot_be_instantiated():
    class MyServer(hpsocket.Server):
        def on_receive(self, conn_id, data):
            pass

    with pytest.raises(TypeError):
        MyServer()


# -- HPSocketError --------------------------------------------------------------------


def test_hpsocket_error_is_oserror():
    assert issubclass(HPSocketError, OSError)
    err = HPSocketError(SocketError.SOCKET_BIND, "bind failed", errno.EADDRINUSE)
    assert isinstance(err, OSError)
    assert err.code is SocketError.SOCKET_BIND
    assert err.description == "bind failed"
    assert err.errno == errno.EADDRINUSE
    assert err.strerror == "bind failed"
    assert "bind failed" in str(err)
    with pytest.raises(OSError):
        raise err


def test_hpsocket_error_without_errno():
    err = HPSocketError(1, "illegal")
    assert err.code is SocketError.ILLEGAL_STATE
    assert isinstance(err.code, SocketError)
    assert err.errno is None
    assert err.description == "illegal"
    assert str(err) == "illegal"


def test_hpsocket_error_unknown_code_kept():
    err = HPSocketError(999, "odd")
    assert err.code == 999
    assert err.description == "odd"


def test_hpsocket_error_errno_mapping_subclass_not_used():
    # OSError(errno, ...) would pick a subclass such as ConnectionRefusedError;
    # HPSocketError stays itself.
    err = HPSocketError(SocketError.CONNECT_SERVER, "refused", errno.ECONNREFUSED)
    assert type(err) is HPSocketError
    assert err.errno == errno.ECONNREFUSED


def test_hpsocket_error_pickles():
    err = HPSocketError(SocketError.SOCKET_BIND, "bind failed", errno.EADDRINUSE)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is HPSocketError
    assert (copy.code, copy.description, copy.errno) == (err.code, err.description, err.errno)
    err2 = HPSocketError(SocketError.ILLEGAL_STATE, "state")
    copy2 = pickle.loads(pickle.dumps(err2))
    assert (copy2.code, copy2.description, copy2.errno) == (SocketError.ILLEGAL_STATE, "state", None)


def test_client_connect_refused_raises_hpsocket_error():
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]   # bound, not listening: refused
        client = hpsocket.TcpClient()
        with pytest.raises(HPSocketError) as info:
            client.start(HOST, port)
    assert info.value.description
    assert client.state == ServiceState.STOPPED
    assert client.wait(0) is True


def test_socket_error_description():
    for code in SocketError:
        assert isinstance(hpsocket.socket_error_description(code), str)
    assert hpsocket.socket_error_description(SocketError.SOCKET_BIND)
