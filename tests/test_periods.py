"""Connection age and silence, and disconnecting by them."""

import socket
import threading

import pytest

import hpsocket
from support import HOST, wait_for


class Tracker(hpsocket.TcpServer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.ids = []
        self.closed = []
        self.accepted = threading.Event()

    def on_accept(self, conn_id, fd):
        self.ids.append(conn_id)
        self.accepted.set()

    def on_close(self, conn_id, operation, error_code):
        self.closed.append(conn_id)


def test_connect_and_silence_periods():
    with Tracker(mark_silence=True) as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=10):
            assert srv.accepted.wait(10)
            conn = srv.ids[0]
            first = srv.connect_period(conn)
            assert 0 <= first < 10_000
            wait_for(lambda: srv.connect_period(conn) > first)
            assert srv.silence_period(conn) >= 0
            with pytest.raises(hpsocket.HPSocketError):
                srv.connect_period(conn + 1000)
        wait_for(lambda: srv.closed)


def test_silence_needs_mark_silence():
    with Tracker(mark_silence=False) as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=10):
            assert srv.accepted.wait(10)
            with pytest.raises(hpsocket.HPSocketError):
                srv.silence_period(srv.ids[0])
            with pytest.raises(hpsocket.HPSocketError):
                srv.disconnect_silence_connections(0)
        wait_for(lambda: srv.closed)


def test_disconnect_long_connections_closes_old_ones():
    with Tracker() as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=10) as c:
            assert srv.accepted.wait(10)
            wait_for(lambda: srv.connect_period(srv.ids[0]) >= 1)
            assert srv.disconnect_long_connections(1)
            wait_for(lambda: srv.closed == srv.ids)
            c.settimeout(10)
            assert c.recv(1) == b""


def test_period_argument_checked():
    srv = hpsocket.TcpServer()
    with pytest.raises(TypeError):
        srv.disconnect_long_connections("1")
    with pytest.raises(ValueError):
        srv.disconnect_long_connections(-1)
