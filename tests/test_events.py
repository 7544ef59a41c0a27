"""Event dispatch: what the on_* handlers' results and exceptions do to the
connection concerned (and only to it), on_error, which overrides are
dispatched, and the threads events run on."""

import errno
import socket
import threading

import pytest

import hpsocket
from hpsocket import HandleResult, HPSocketError, ServiceState, SocketError, SocketOperation

from support import HOST, TIMEOUT, EchoServer, Recorder, connect, roundtrip, wait_for


# -- helpers -------------------------------------------------------------------


def assert_closed_by_peer(sock):
    """The server closed the connection: EOF or reset, within the socket
    timeout (a timeout fails the test)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return
    except ConnectionResetError:
        return


def local_port(sock):
    return sock.getsockname()[1]


class Tracking(hpsocket.TcpServer):
    """Echo server recording accepts (conn_id -> peer port) and closes."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.accepted = {}
        self.accept_event = threading.Condition()
        self.closes = Recorder()

    def on_accept(self, conn_id, client_fd):
        port = self.remote_address(conn_id)[1]
        with self.accept_event:
            self.accepted[port] = conn_id
            self.accept_event.notify_all()

    def conn_of(self, sock):
        port = local_port(sock)
        with self.accept_event:
            ok = self.accept_event.wait_for(lambda: port in self.accepted, TIMEOUT)
        assert ok, "connection was not accepted"
        return self.accepted[port]

    def on_receive(self, conn_id, data):
        self.send(conn_id, data)

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


def closes_of(server, conn_id):
    return [c for c in server.closes.items if c[0] == conn_id]


# -- HandleResult.ERROR --------------------------------------------------------


def test_error_from_on_receive_closes_only_that_connection():
    class S(Tracking):
        def on_receive(self, conn_id, data):
            if data.startswith(b"bad"):
                return HandleResult.ERROR
            self.send(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        good, bad = connect(srv), connect(srv)
        with good, bad:
            bad_id = srv.conn_of(bad)
            good_id = srv.conn_of(good)
            assert roundtrip(good, b"hello") == b"hello"
            bad.sendall(b"bad data")
            assert_closed_by_peer(bad)
            srv.closes.wait(1)
            wait_for(lambda: closes_of(srv, bad_id))
            [(cid, op, err)] = closes_of(srv, bad_id)
            assert op == SocketOperation.RECEIVE
            assert isinstance(op, SocketOperation)
            assert err == errno.ECANCELED
            # The other connection is untouched and still echoes.
            for i in range(20):
                msg = b"still alive %d" % i
                assert roundtrip(good, msg) == msg
            assert closes_of(srv, good_id) == []
            wait_for(lambda: srv.connection_ids == [good_id])
    assert srv.state == ServiceState.STOPPED


def test_ignore_and_ok_results_keep_the_connection():
    class S(Tracking):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)
            if data == b"ignore":
                return HandleResult.IGNORE
            if data == b"ok":
                return HandleResult.OK
            return None

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            for msg in (b"ignore", b"ok", b"none", b"ignore"):
                assert roundtrip(c, msg) == msg
            assert len(srv.closes) == 0


def test_error_from_on_accept_drops_without_on_close():
    class S(Tracking):
        def __init__(self):
            super().__init__()
            self.refused = Recorder()

        def on_accept(self, conn_id, client_fd):
            port = self.remote_address(conn_id)[1]
            if port in self.refuse_ports:
                self.refused.add(conn_id)
                return HandleResult.ERROR
            super().on_accept(conn_id, client_fd)

    srv = S()
    srv.refuse_ports = set()
    with srv:
        srv.start(HOST, 0)
        # Reserve a client port so that on_accept can recognise it.
        dropped = socket.socket()
        dropped.settimeout(TIMEOUT)
        dropped.bind((HOST, 0))
        srv.refuse_ports.add(local_port(dropped))
        with dropped:
            dropped.connect(srv.listen_address)
            [dropped_id] = srv.refused.wait(1)
            assert_closed_by_peer(dropped)
        with connect(srv) as kept:
            kept_id = srv.conn_of(kept)
            assert roundtrip(kept, b"ping") == b"ping"
        srv.closes.wait(1)
    # stop() has waited for every worker: any on_close would have run by now.
    assert srv.state == ServiceState.STOPPED
    assert [c[0] for c in srv.closes.items] == [kept_id]
    assert closes_of(srv, dropped_id) == []


def test_error_from_on_prepare_listen_fails_start():
    calls = Recorder()

    class S(hpsocket.TcpServer):
        refuse = True

        def on_prepare_listen(self, listen_fd):
            calls.add(listen_fd)
            return HandleResult.ERROR if self.refuse else None

    srv = S()
    with pytest.raises(HPSocketError) as info:
        srv.start(HOST, 0)
    assert info.value.code == SocketError.SOCKET_PREPARE
    assert info.value.description
    assert srv.state == ServiceState.STOPPED
    assert len(calls) == 1
    assert isinstance(calls.items[0], int) and calls.items[0] > 0
    # The failure left nothing half-started: start works once allowed.
    srv.refuse = False
    srv.start(HOST, 0)
    try:
        assert srv.state == ServiceState.STARTED
        with connect(srv):
            pass
    finally:
        srv.stop()
    assert len(calls) == 2


# -- exceptions and bad results ------------------------------------------------


class Boom(Exception):
    pass


def test_raising_on_receive_is_unraisable_and_closes_only_its_connection(unraisable):
    raised = Recorder()

    class S(Tracking):
        def on_receive(self, conn_id, data):
            if data.startswith(b"boom"):
                exc = Boom(f"boom on {conn_id}")
                raised.add(exc)
                raise exc
            self.send(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        good, bad = connect(srv), connect(srv)
        with good, bad:
            bad_id = srv.conn_of(bad)
            good_id = srv.conn_of(good)
            bad.sendall(b"boom!")
            assert_closed_by_peer(bad)
            [args] = unraisable.wait(1)
            [exc] = raised.items
            assert args.exc_value is exc
            assert args.exc_type is Boom
            assert args.exc_traceback is not None
            message = f"{args.err_msg or 'Exception ignored in'}: {args.object!r}"
            assert "on_receive" in message
            wait_for(lambda: closes_of(srv, bad_id))
            [(_, op, err)] = closes_of(srv, bad_id)
            assert op == SocketOperation.RECEIVE
            assert err == errno.ECANCELED
            for i in range(10):
                assert roundtrip(good, b"x%d" % i) == b"x%d" % i
            assert closes_of(srv, good_id) == []
    assert len(unraisable) == 1
    # The exception's traceback references the server; the class (kept by
    # hpsocket's class cache, see test_lifecycle) references `raised`.
    raised.items.clear()


def test_custom_on_error_receives_event_conn_and_exception():
    errors = Recorder()

    class S(Tracking):
        def on_receive(self, conn_id, data):
            raise Boom(data)

        def on_error(self, event, conn_id, exc):
            errors.add((event, conn_id, exc, threading.get_ident()))

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            cid = srv.conn_of(c)
            c.sendall(b"payload")
            assert_closed_by_peer(c)
        [(event, conn_id, exc, _)] = errors.wait(1)
        assert event == "on_receive"
        assert conn_id == cid
        assert isinstance(exc, Boom)
        assert exc.args == (b"payload",)
        wait_for(lambda: closes_of(srv, cid))
        assert closes_of(srv, cid)[0][1:] == (SocketOperation.RECEIVE, errno.ECANCELED)
    errors.items.clear()   # see the comment in the test above


def test_raising_on_error_is_itself_unraisable(unraisable):
    class S(Tracking):
        def on_receive(self, conn_id, data):
            raise Boom("first")

        def on_error(self, event, conn_id, exc):
            raise ValueError("second") from exc

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            cid = srv.conn_of(c)
            c.sendall(b"x")
            assert_closed_by_peer(c)
        [args] = unraisable.wait(1)
        assert isinstance(args.exc_value, ValueError)
        assert isinstance(args.exc_value.__cause__, Boom)
        wait_for(lambda: closes_of(srv, cid))


@pytest.mark.parametrize("garbage", ["x", 7, -1, 2.0, object()])
def test_garbage_result_is_type_error_and_closes(unraisable, garbage):
    class S(Tracking):
        def on_receive(self, conn_id, data):
            if data == b"garbage":
                return garbage
            self.send(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        good, bad = connect(srv), connect(srv)
        with good, bad:
            bad_id = srv.conn_of(bad)
            srv.conn_of(good)
            bad.sendall(b"garbage")
            assert_closed_by_peer(bad)
            [args] = unraisable.wait(1)
            assert isinstance(args.exc_value, TypeError)
            assert "on_receive" in repr(args.object)
            wait_for(lambda: closes_of(srv, bad_id))
            assert closes_of(srv, bad_id)[0][1:] == (SocketOperation.RECEIVE, errno.ECANCELED)
            assert roundtrip(good, b"fine") == b"fine"


def test_garbage_result_goes_to_custom_on_error():
    errors = Recorder()

    class S(Tracking):
        def on_receive(self, conn_id, data):
            return "x"

        def on_error(self, event, conn_id, exc):
            errors.add((event, conn_id, exc))

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            cid = srv.conn_of(c)
            c.sendall(b"hi")
            assert_closed_by_peer(c)
        [(event, conn_id, exc)] = errors.wait(1)
        assert (event, conn_id) == ("on_receive", cid)
        assert isinstance(exc, TypeError)


def test_raising_on_accept_drops_connection_without_on_close(unraisable):
    class S(Tracking):
        def on_accept(self, conn_id, client_fd):
            raise Boom("no")

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert_closed_by_peer(c)
        [args] = unraisable.wait(1)
        assert isinstance(args.exc_value, Boom)
        assert "on_accept" in repr(args.object)
    assert len(srv.closes) == 0


# -- which overrides are dispatched --------------------------------------------


def test_override_in_subclass_of_subclass():
    class Inherits(EchoServer):
        pass

    class Upper(EchoServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data.upper())

    class UpperAgain(Upper):
        pass

    for cls, expect in ((Inherits, b"abc"), (Upper, b"ABC"), (UpperAgain, b"ABC")):
        with cls() as srv:
            srv.start(HOST, 0)
            with connect(srv) as c:
                assert roundtrip(c, b"abc") == expect, cls


def test_override_from_python_mixin():
    class Mixin:
        def on_receive(self, conn_id, data):
            self.send(conn_id, data[::-1])

    class S(Mixin, hpsocket.TcpServer):
        pass

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert roundtrip(c, b"abc") == b"cba"


def test_super_call_to_base_event_is_harmless():
    seen = Recorder()

    class S(hpsocket.TcpServer):
        def on_accept(self, conn_id, client_fd):
            seen.add(("accept", super().on_accept(conn_id, client_fd)))

        def on_receive(self, conn_id, data):
            self.send(conn_id, data)
            return super().on_receive(conn_id, data)

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert roundtrip(c, b"q") == b"q"
        assert seen.wait(1) == [("accept", None)]


def test_on_send_reports_sent_bytes():
    sent = Recorder()

    class S(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, b"reply:" + data)

        def on_send(self, conn_id, data):
            sent.add((conn_id, data))

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            assert roundtrip(c, b"one") == b"reply:one"
            assert roundtrip(c, b"two") == b"reply:two"
            items = sent.wait(2)
        assert all(type(d) is bytes for _, d in items)
        assert len({cid for cid, _ in items}) == 1
        assert b"".join(d for _, d in items) == b"reply:onereply:two"


def test_base_class_events_not_overridden_are_not_dispatched():
    """A subclass that overrides nothing still works as a (silent) server:
    data is accepted and nothing reaches Python."""

    class Silent(hpsocket.TcpServer):
        pass

    with Silent() as srv:
        srv.start(HOST, 0)
        with connect(srv) as c:
            c.sendall(b"into the void")
            wait_for(lambda: srv.connection_count == 1)
        wait_for(lambda: srv.connection_count == 0)


# -- threads ---------------------------------------------------------------------


def test_event_threads():
    threads = {}
    lock = threading.Lock()
    done = Recorder()

    def note(name):
        with lock:
            threads.setdefault(name, set()).add(threading.get_ident())

    class S(hpsocket.TcpServer):
        def on_prepare_listen(self, listen_fd):
            note("prepare")

        def on_accept(self, conn_id, client_fd):
            note("accept")

        def on_receive(self, conn_id, data):
            note("receive")
            self.send(conn_id, data)

        def on_close(self, conn_id, operation, error_code):
            note("close")
            done.add(conn_id)

        def on_shutdown(self):
            note("shutdown")

    srv = S()
    starter_ident = []

    def starter():
        starter_ident.append(threading.get_ident())
        srv.start(HOST, 0)

    t = threading.Thread(target=starter)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive()
    try:
        assert srv.state == ServiceState.STARTED
        with connect(srv) as c:
            assert roundtrip(c, b"abc") == b"abc"
        done.wait(1)
    finally:
        stopper_ident = []

        def stopper():
            stopper_ident.append(threading.get_ident())
            srv.stop()

        t = threading.Thread(target=stopper)
        t.start()
        t.join(TIMEOUT)
        assert not t.is_alive()
        srv.stop()

    main = threading.main_thread().ident
    assert threads["prepare"] == {starter_ident[0]}
    assert threads["shutdown"] == {stopper_ident[0]}
    for name in ("accept", "receive", "close"):
        assert main not in threads[name], name
        assert starter_ident[0] not in threads[name], name
        assert stopper_ident[0] not in threads[name], name


def test_on_shutdown_runs_on_calling_thread_when_stopped_from_main():
    idents = Recorder()

    class S(hpsocket.TcpServer):
        def on_shutdown(self):
            idents.add(threading.get_ident())

    srv = S()
    srv.start(HOST, 0)
    srv.stop()
    assert idents.wait(1) == [threading.get_ident()]
    # A second stop does not shut down again.
    srv.stop()
    assert len(idents) == 1


# -- more error paths -------------------------------------------------------------


def test_extra_attached_in_refusing_on_accept_is_released():
    import gc
    import weakref

    class Obj:
        pass

    refs = Recorder()

    class S(hpsocket.TcpServer):
        def on_accept(self, conn_id, client_fd):
            obj = Obj()
            self.set_extra(conn_id, obj)
            refs.add(weakref.ref(obj))
            return HandleResult.ERROR

    with S() as srv:
        srv.start(HOST, 0)
        for _ in range(3):
            with connect(srv) as c:
                assert_closed_by_peer(c)
        refs.wait(3)
        gc.collect()
        wait_for(lambda: all(r() is None for r in refs.items))


def test_on_error_for_on_prepare_listen():
    errors = Recorder()

    class S(hpsocket.TcpServer):
        def on_prepare_listen(self, listen_fd):
            raise KeyError("prepare")

        def on_error(self, event, conn_id, exc):
            errors.add((event, conn_id, type(exc), threading.get_ident()))

    srv = S()
    with pytest.raises(HPSocketError) as info:
        srv.start(HOST, 0)
    assert info.value.code == SocketError.SOCKET_PREPARE
    assert errors.items == [("on_prepare_listen", None, KeyError, threading.get_ident())]
    assert srv.state == ServiceState.STOPPED


def test_raising_on_close_is_reported_and_extra_still_released(unraisable):
    import gc
    import weakref

    class Obj:
        pass

    refs = Recorder()

    class S(hpsocket.TcpServer):
        def on_accept(self, conn_id, client_fd):
            obj = Obj()
            self.set_extra(conn_id, obj)
            refs.add(weakref.ref(obj))

        def on_close(self, conn_id, operation, error_code):
            raise Boom("close")

    with S() as srv:
        srv.start(HOST, 0)
        with connect(srv):
            refs.wait(1)
        [args] = unraisable.wait(1)
        assert isinstance(args.exc_value, Boom)
        assert "on_close" in repr(args.object)
        gc.collect()
        wait_for(lambda: refs.items[0]() is None)
