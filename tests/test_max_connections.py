"""max_connections: connections over the limit are closed at once and the
user is told (the library alone drops them silently)."""

import socket

import hpsocket
from support import HOST, Recorder, wait_for


class Limited(hpsocket.TcpServer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.accepted = Recorder()
        self.refused = Recorder()
        self.closed = Recorder()

    def on_accept(self, conn_id, fd):
        self.accepted.add(conn_id)

    def on_refused(self, conn_id):
        self.refused.add(conn_id)

    def on_close(self, conn_id, operation, error_code):
        self.closed.add(conn_id)

    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


def test_limit_refuses_and_tells():
    with Limited(max_connections=5) as srv:
        assert srv.max_connections == 5
        srv.start(HOST, 0)
        keep = [socket.create_connection(srv.listen_address, timeout=10) for _ in range(5)]
        srv.accepted.wait(5)
        extra = [socket.create_connection(srv.listen_address, timeout=10) for _ in range(7)]
        srv.refused.wait(7)
        for s in extra:        # refused connections see the close
            assert s.recv(1) == b""
        assert srv.refused_connections == 7
        wait_for(lambda: srv.connection_count == 5)
        # the five admitted ones still work
        for s in keep:
            s.sendall(b"ok")
            assert s.recv(2) == b"ok"
        # closing one frees a place
        keep.pop().close()
        srv.closed.wait(1)
        again = socket.create_connection(srv.listen_address, timeout=10)
        srv.accepted.wait(6)
        again.sendall(b"hi")
        assert again.recv(2) == b"hi"
        assert srv.refused_connections == 7
        for s in keep + extra + [again]:
            s.close()
        srv.closed.wait(6)
    assert len(srv.closed) == 6    # refused connections have no on_close


def test_refused_counter_without_hook_and_extras_balance():
    class Plain(hpsocket.TcpServer):
        pass

    with Plain(max_connections=2) as srv:
        srv.start(HOST, 0)
        socks = [socket.create_connection(srv.listen_address, timeout=10) for _ in range(6)]
        wait_for(lambda: srv.refused_connections == 4)
        # a refused connection leaves the library's count just after on_refused
        wait_for(lambda: srv.connection_count == 2)
        for s in socks:
            s.close()
        wait_for(lambda: srv.connection_count == 0)


def test_max_connections_validation():
    srv = hpsocket.TcpServer()
    assert srv.max_connections == 10000
    import pytest
    with pytest.raises(ValueError):
        srv.max_connections = 0
    with pytest.raises(TypeError):
        srv.max_connections = "5"
