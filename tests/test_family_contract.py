"""The contract every family of components keeps (support.FAMILIES: TCP and
HTTP; each new family adds itself there and gets these tests): starting and its
failures, stopping from anywhere, waiting, the with block, freeing, process
exit, and a handler's exception closing only its own connection."""

import errno
import gc
import socket
import textwrap
import threading
import time
import weakref

import pytest

from hpsocket import HPSocketError, ServiceState, SocketError
from hpsocket import _core

from support import FAMILIES, HOST, ROOT, TIMEOUT, Recorder, connect, run_python, wait_for


@pytest.fixture(params=FAMILIES, ids=lambda f: f.name)
def family(request):
    return request.param


def echo_once(family, srv, data=None):
    with connect(srv) as c:
        request = data if data is not None else family.request
        return family.exchange(c, request) == request


# -- starting -------------------------------------------------------------------


def test_start_on_busy_port_raises_eaddrinuse(family):
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        srv = family.echo_server()
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
    try:
        assert echo_once(family, srv)
    finally:
        srv.stop()


def test_start_on_port_of_another_server_raises_eaddrinuse(family):
    with family.echo_server() as first:
        first.start(HOST, 0)
        second = family.echo_server()
        with pytest.raises(HPSocketError) as info:
            second.start(HOST, first.listen_address[1])
        assert info.value.errno == errno.EADDRINUSE
        assert second.state == ServiceState.STOPPED
        assert echo_once(family, first)    # the first one is unaffected


def test_start_twice_raises_illegal_state(family):
    with family.echo_server() as srv:
        srv.start(HOST, 0)
        address = srv.listen_address
        with pytest.raises(HPSocketError) as info:
            srv.start(HOST, 0)
        assert info.value.code == SocketError.ILLEGAL_STATE
        assert info.value.description
        # Still running, on the same address.
        assert srv.state == ServiceState.STARTED
        assert srv.listen_address == address
        assert echo_once(family, srv)


def test_restart_three_cycles(family):
    shutdowns = Recorder()

    srv = family.server_class(lambda srv, conn_id, data: data,
                              on_shutdown=lambda srv: shutdowns.add(1))()
    for cycle in range(3):
        srv.start(HOST, 0)
        assert srv.state == ServiceState.STARTED
        assert echo_once(family, srv, b"cycle %d" % cycle)
        srv.stop()
        assert srv.state == ServiceState.STOPPED
        assert srv.wait(0) is True
        assert len(shutdowns) == cycle + 1


# -- stopping and waiting -------------------------------------------------------------


def test_stop_on_stopped_and_never_started_is_noop(family):
    for cls in family.classes:
        obj = cls()
        obj.stop()
        obj.stop()
        assert obj.state == ServiceState.STOPPED
        assert obj.wait(0) is True


def test_stop_from_a_handler_does_not_deadlock(family):
    results = Recorder()
    shut = Recorder()

    def on_data(srv, conn_id, data):
        results.add(srv.stop())
        srv.stop()               # a second call from the handler is harmless

    srv = family.server_class(on_data, on_shutdown=lambda srv: shut.add(1))()
    srv.start(HOST, 0)
    try:
        with connect(srv) as c:
            family.send(c, family.request)
            assert results.wait(1) == [None]
            assert srv.wait(TIMEOUT) is True
        assert srv.state == ServiceState.STOPPED
        assert len(shut.wait(1)) == 1
    finally:
        srv.stop()


def test_wait_from_a_handler_raises(family):
    errors = Recorder()

    def on_data(srv, conn_id, data):
        try:
            srv.wait(0)
        except RuntimeError as exc:
            errors.add(str(exc))
        return data

    with family.server(on_data) as srv:
        srv.start(HOST, 0)
        assert echo_once(family, srv)
        assert len(errors.wait(1)) == 1


def test_stop_from_another_thread_while_traffic_flows(family):
    srv = family.echo_server()
    srv.start(HOST, 0)
    address = srv.listen_address
    counts = [0] * 4
    votes = Recorder()

    def client(i):
        try:
            with socket.create_connection(address, timeout=TIMEOUT) as c:
                while True:
                    family.exchange(c, family.request)
                    counts[i] += 1
                    if counts[i] == 50:
                        votes.add(i)
        except (OSError, AssertionError):
            return   # the server went away

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        votes.wait(4)   # every client has had 50 exchanges
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


def test_wait_returns_false_while_running(family):
    with family.echo_server() as srv:
        srv.start(HOST, 0)
        t0 = time.monotonic()
        assert srv.wait(0.2) is False
        assert time.monotonic() - t0 >= 0.15
        assert srv.wait(0) is False
        assert srv.state == ServiceState.STARTED
    assert srv.wait(0) is True


def test_serve_forever_returns_after_stop_from_another_thread(family):
    srv = family.echo_server()
    srv.start(HOST, 0)
    returned = threading.Event()

    def serve():
        srv.serve_forever()
        returned.set()

    t = threading.Thread(target=serve)
    t.start()
    try:
        assert echo_once(family, srv)       # really serving, and blocking
        assert not returned.wait(0.2)
    finally:
        srv.stop()
        t.join(TIMEOUT)
    assert not t.is_alive(), "serve_forever did not return"
    assert returned.is_set()
    assert srv.state == ServiceState.STOPPED


def test_serve_forever_returns_after_stop_from_a_handler(family):
    srv = family.server(lambda srv, conn_id, data: srv.stop())
    srv.start(HOST, 0)
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    try:
        with connect(srv) as c:
            family.send(c, family.request)
            t.join(TIMEOUT)
    finally:
        srv.stop()
        t.join(TIMEOUT)
    assert not t.is_alive()
    assert srv.state == ServiceState.STOPPED


def test_with_block_stops(family):
    with family.echo_server() as srv:
        srv.start(HOST, 0)
        c = connect(srv)
        assert family.exchange(c, family.request) == family.request
    assert srv.state == ServiceState.STOPPED
    with c:
        assert c.recv(10) == b""   # the server closed it


def test_with_block_stops_on_exception(family):
    class Oops(Exception):
        pass

    with pytest.raises(Oops):
        with family.echo_server() as srv:
            srv.start(HOST, 0)
            raise Oops
    assert srv.state == ServiceState.STOPPED


# -- faults ----------------------------------------------------------------------------


def test_handler_exception_closes_only_its_connection(family, unraisable):
    def on_data(srv, conn_id, data):
        if data.startswith(b"boom"):
            raise ValueError("handler failed")
        return data

    with family.server(on_data) as srv:
        srv.start(HOST, 0)
        with connect(srv) as good, connect(srv) as bad:
            assert family.exchange(good, family.request) == family.request
            family.send(bad, b"boom")
            family.assert_failed(bad)                  # 500 and/or the close
            report = unraisable.wait(1)[0]
            assert isinstance(report.exc_value, ValueError)
            # The other connection goes on.
            assert family.exchange(good, family.request) == family.request
        wait_for(lambda: srv.connection_count == 0)


# -- freeing ---------------------------------------------------------------------------


def test_deleted_stopped_server_is_freed(family):
    srv = family.echo_server()
    srv.start(HOST, 0)
    assert echo_once(family, srv)
    srv.stop()
    ref = weakref.ref(srv)
    del srv
    gc.collect()
    assert ref() is None


def test_deleted_never_started_components_are_freed(family):
    before = _core._counters()["live_native"]
    for cls in family.classes:
        obj = cls()
        assert _core._counters()["live_native"] == before + 1
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        assert ref() is None
        assert _core._counters()["live_native"] == before


def test_locally_defined_subclass_is_freed(family):
    """A class defined in a function, once its instances are gone, must be
    collectable: hpsocket must not keep classes (and what their methods
    close over) alive for ever."""

    def make():
        srv = family.server(lambda srv, conn_id, data: None)
        srv.start(HOST, 0)
        srv.stop()
        return weakref.ref(type(srv))

    ref = make()
    gc.collect()
    assert ref() is None, f"{ref()} is still referenced by {[type(r) for r in gc.get_referrers(ref())]}"


def test_server_referenced_from_a_handler_closure_is_freed(family):
    """A stopped server whose handler's closure kept a reference back to it
    (here through a recorded exception's traceback) is one reference cycle,
    which the garbage collector must be able to free."""
    before = _core._counters()["live_native"]

    def run():
        seen = []

        def on_data(srv, conn_id, data):
            raise ValueError("recorded")

        srv = family.server(on_data)
        srv.on_error = lambda event, conn_id, exc: seen.append(exc)
        srv.start(HOST, 0)
        with connect(srv) as c:
            family.send(c, family.request)
            wait_for(lambda: seen)
        srv.stop()
        return weakref.ref(srv)

    ref = run()
    gc.collect()
    assert ref() is None
    assert _core._counters()["live_native"] == before


# -- process exit ------------------------------------------------------------------------


def run_family_script(family, body, timeout=20):
    """body runs in a fresh interpreter with ``family`` bound to this family
    (from support), HOST, TIMEOUT and socket imported."""
    source = textwrap.dedent("""
        import gc, socket, sys
        sys.path.insert(0, "tests")
        from support import FAMILIES, HOST, TIMEOUT
        family = {f.name: f for f in FAMILIES}[%r]
    """) % family.name + textwrap.dedent(body)
    return run_python(source=source, timeout=timeout, cwd=ROOT)


def test_process_exits_with_live_components(family):
    proc = run_family_script(family, """
        srv = family.echo_server()
        srv.start(HOST, 0)
        others = [cls() for cls in family.classes]
        raw = socket.create_connection(srv.listen_address, timeout=TIMEOUT)
        assert family.exchange(raw, family.request) == family.request
        print("main thread done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "main thread done" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_process_exits_with_traffic_in_flight(family):
    proc = run_family_script(family, """
        import threading
        srv = family.echo_server()
        srv.start(HOST, 0)
        started = threading.Event()

        def pump():
            c = socket.create_connection(srv.listen_address, timeout=TIMEOUT)
            started.set()
            try:
                while True:
                    family.exchange(c, family.request)
            except (OSError, AssertionError):
                pass

        threading.Thread(target=pump, daemon=True).start()
        assert started.wait(TIMEOUT)
        print("main thread done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "main thread done" in proc.stdout


def test_deleting_a_running_server_does_not_crash(family):
    proc = run_family_script(family, """
        srv = family.echo_server()
        srv.start(HOST, 0)
        address = srv.listen_address
        c = socket.create_connection(address, timeout=TIMEOUT)
        del srv
        gc.collect()
        # A running server keeps itself alive: it still answers.
        assert family.exchange(c, family.request) == family.request
        c2 = socket.create_connection(address, timeout=TIMEOUT)
        assert family.exchange(c2, family.request) == family.request
        print("ok", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_deleting_never_started_components_in_a_child(family):
    proc = run_family_script(family, """
        import hpsocket
        for cls in family.classes:
            for _ in range(20):
                obj = cls()
                del obj
        gc.collect()
        assert hpsocket._core._counters()["live_native"] == 0
        print("ok", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
