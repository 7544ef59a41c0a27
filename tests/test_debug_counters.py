"""The debug build's native counters (HPSOCKET_DEBUG=1; CI runs the suite
on one): events a class does not handle are answered without the GIL,
callbacks inside Python balance, and replies from a connection's own handler
are written directly unless direct_writes is off.  In a release build these
counters are not kept, which _core.DEBUG tells."""

import socket
import threading

import pytest

import hpsocket
from hpsocket import _core

from support import HOST, TIMEOUT, wait_for

needs_debug = pytest.mark.skipif(not _core.DEBUG, reason="release build: debug counters are not kept")


def test_counters_have_every_name():
    names = set(_core._counters())
    assert {"live_native", "conn_records", "pinned_states", "in_flight", "gil_free_skips",
            "direct_writes", "direct_partial", "direct_waits"} <= names


@pytest.mark.skipif(_core.DEBUG, reason="debug build")
def test_release_build_keeps_no_hot_path_counters():
    class Echo(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    with Echo() as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as s:
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"
    got = _core._counters()
    assert got["direct_writes"] == got["gil_free_skips"] == got["in_flight"] == 0
    with pytest.raises(RuntimeError, match="debug build"):
        _core._set_thread_state_pinning(False)


@needs_debug
def test_unhandled_events_skip_the_gil():
    closed = threading.Event()

    class Quiet(hpsocket.TcpServer):
        pass                        # accept and close answered natively

    before = _core._counters()["gil_free_skips"]
    with Quiet() as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as s:
            s.sendall(b"x")
            wait_for(lambda: srv.connection_count == 1)
        wait_for(lambda: srv.connection_count == 0)
        closed.set()
    # at least OnAccept and OnClose, neither of which entered Python
    assert _core._counters()["gil_free_skips"] - before >= 2
    assert _core._counters()["in_flight"] == 0


@needs_debug
def test_handled_events_do_not_count_as_skipped():
    got = threading.Event()

    class Handles(hpsocket.TcpServer):
        def on_accept(self, conn_id, fd):
            pass

        def on_receive(self, conn_id, data):
            got.set()

        def on_close(self, conn_id, operation, error_code):
            pass

    with Handles() as srv:
        srv.start(HOST, 0)
        before = _core._counters()["gil_free_skips"]
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as s:
            s.sendall(b"x")
            assert got.wait(TIMEOUT)
        wait_for(lambda: srv.connection_count == 0)
        assert _core._counters()["gil_free_skips"] == before
    assert _core._counters()["in_flight"] == 0


@needs_debug
@pytest.mark.parametrize("direct", [True, False])
def test_direct_writes_follow_the_option(direct):
    class Echo(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    before = _core._counters()["direct_writes"]
    with Echo(direct_writes=direct) as srv:
        assert srv.direct_writes is direct
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as s:
            for _ in range(10):
                s.sendall(b"ping")
                assert s.recv(4) == b"ping"
    written = _core._counters()["direct_writes"] - before
    assert (written >= 10) if direct else (written == 0)


@needs_debug
def test_thread_state_pinning_switch():
    _core._set_thread_state_pinning(False)
    _core._set_thread_state_pinning(True)
