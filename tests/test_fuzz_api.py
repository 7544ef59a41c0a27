"""Property-based fuzzing (hypothesis) of every Python entry point that
parses input.

* pack header parameters (max_pack_size, pack_header_flag) through
  constructor keywords and properties: any object; only ValueError/TypeError
  are raised, accepted values read back exactly, rejected ones change nothing;
* every tunable of every class, the same way; a rejected value must not
  break a later start();
* host / port / bind_address of Server.start, Agent.start, Agent.connect
  and Client.start: arbitrary text (NUL, non-ASCII, surrogates, empty,
  huge), any port, wrong types -> ValueError/TypeError/HPSocketError only;
* conn_id arguments of every connection method (any int, negative, past
  2**64, wrong types) against a live server with a live, a closed and
  unknown connections;
* send / send_packets / send_file data (any object), disconnect periods.

fetch / peek / fetch_into arguments are tested in test_pull.py, the compat
layer's helpers and parser in test_compat.py.  The strategies are in
support.py.

Components are created inside each test and stopped before it ends (the
no_leftovers fixture checks it).  Checks that need a component to be gone
(so that a failure does not keep it alive through the traceback) return an
error message from a helper instead of asserting inside it.
"""

import array
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpsocket
from hpsocket import HPSocketError

from support import (FUZZ, HOST, INT_MAX, U32, U64, anything, buffers, data_args, is_int, not_ints,
                     ints, pack_frame, wait_for)

FEW = settings(FUZZ, max_examples=40)

SERVERS = (hpsocket.TcpServer, hpsocket.TcpPullServer, hpsocket.TcpPackServer)
AGENTS = (hpsocket.TcpAgent, hpsocket.TcpPullAgent, hpsocket.TcpPackAgent)
CLIENTS = (hpsocket.TcpClient, hpsocket.TcpPullClient, hpsocket.TcpPackClient)
ALL_CLASSES = SERVERS + AGENTS + CLIENTS
PACK_CLASSES = (hpsocket.TcpPackServer, hpsocket.TcpPackAgent, hpsocket.TcpPackClient)
BOOL_OPTIONS = frozenset({"no_delay", "direct_writes", "mark_silence", "reuse_address"})


# -- pack header parameters ------------------------------------------------------

PACK_LIMITS = {"max_pack_size": (1, 0x3FFFFF), "pack_header_flag": (0, 0x3FF)}


@FUZZ
@given(cls=st.sampled_from(PACK_CLASSES), name=st.sampled_from(sorted(PACK_LIMITS)),
       value=anything, via=st.sampled_from(["kwarg", "property"]))
def test_pack_parameters(cls, name, value, via):
    lo, hi = PACK_LIMITS[name]
    valid = is_int(value) and lo <= value <= hi
    if via == "kwarg":
        try:
            obj = cls(**{name: value})
        except (ValueError, TypeError) as exc:
            assert not valid, f"{cls.__name__}({name}={value!r}) rejected: {exc!r}"
            assert isinstance(exc, TypeError) == (not is_int(value)), exc
            return
        assert valid, f"{cls.__name__}({name}={value!r}) accepted"
        got = getattr(obj, name)
        assert got == value and type(got) is int, (got, value)
        return
    obj = cls()
    before = getattr(obj, name)
    try:
        setattr(obj, name, value)
    except (ValueError, TypeError) as exc:
        assert not valid, f"{name} = {value!r} rejected: {exc!r}"
        assert isinstance(exc, TypeError) == (not is_int(value)), exc
        assert getattr(obj, name) == before
        return
    assert valid, f"{name} = {value!r} accepted"
    assert getattr(obj, name) == value


@settings(FEW, max_examples=8)
@given(flag=st.integers(0, 0x3FF), size=st.integers(1, 0x3FFFFF))
def test_pack_parameters_survive_start(flag, size):
    """Accepted values are the ones start() takes, and read back while running."""
    srv = hpsocket.TcpPackServer(pack_header_flag=flag, max_pack_size=size, worker_threads=1)
    try:
        srv.start(HOST, 0)
        assert (srv.pack_header_flag, srv.max_pack_size) == (flag, size)
        with pytest.raises(HPSocketError):
            srv.max_pack_size = 1          # only while stopped
    finally:
        srv.stop()


# -- tunables --------------------------------------------------------------------


def _tunables(cls):
    return sorted(cls._OPTIONS - set(PACK_LIMITS))


@FUZZ
@given(data=st.data(), cls=st.sampled_from(ALL_CLASSES), value=anything,
       via=st.sampled_from(["kwarg", "property"]))
def test_tunables(data, cls, value, via):
    name = data.draw(st.sampled_from(_tunables(cls)), label="name")
    if name in BOOL_OPTIONS:
        obj = cls(**{name: value}) if via == "kwarg" else cls()
        if via == "property":
            setattr(obj, name, value)
        got = getattr(obj, name)
        assert got is bool(value), (name, value, got)
        return
    obj = cls()
    before = getattr(obj, name)
    in_range = is_int(value) and 0 <= value <= U32
    try:
        if via == "kwarg":
            obj = cls(**{name: value})
        else:
            setattr(obj, name, value)
    except (ValueError, TypeError) as exc:
        if not is_int(value):
            assert isinstance(exc, TypeError), exc
        else:
            assert isinstance(exc, ValueError), exc
        assert getattr(obj, name) == before, f"rejected {name}={value!r} changed it"
        return
    assert in_range, f"{cls.__name__}.{name} = {value!r} accepted"
    got = getattr(obj, name)
    assert got == value and type(got) is int, (name, value, got)


def _start_after_rejected(name, value):
    """None, or why a server that rejected ``name = value`` misbehaves."""
    srv = hpsocket.TcpServer(worker_threads=1)
    try:
        setattr(srv, name, value)
    except (ValueError, TypeError):
        pass
    else:
        return None
    try:
        srv.start(HOST, 0)
    except HPSocketError as exc:
        return f"after the rejected {name} = {value!r}, start() failed: {exc}"
    finally:
        srv.stop()
    return None


def test_rejected_tunable_leaves_component_usable():
    """A ValueError must leave the component as it was: it still starts.
    (Every int tunable of a server, at the edges of its range.)"""
    problems = []
    for name in _tunables(hpsocket.TcpServer):
        if name in BOOL_OPTIONS:
            continue
        for value in (-1, U32 - 255, U32, U32 + 1, 2 ** 64):
            msg = _start_after_rejected(name, value)
            if msg:
                problems.append(msg)
    assert not problems, problems


# -- host / port / bind_address --------------------------------------------------

hosts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=20),
    st.sampled_from(["", "\0", "127.0.0.1\0", "\0127.0.0.1", "127.0.0.1 ", " 127.0.0.1",
                     "127.0.0.1:80", "127.1", "0", "1", "localhost", "::1", "[::1]", "::",
                     "255.255.255.255", "256.0.0.1", "-1", "é", "中文", "\ud800", "\udfff",
                     "x" * 255, "a" * 5000, "1.2.3.4" * 100, "\n", "%s%n"]),
)
ports = st.one_of(st.just(0), ints.filter(lambda p: not 0 < p < 65536 or p in (1, 65535)), not_ints)
# valid host / port, with an occasional wrong one
host_args = st.one_of(hosts, not_ints, st.just(None))


def _expected_host_error(host, what="host"):
    """The exception type start/connect must raise for this host, or None
    when it passes the argument checks (the library may still refuse it)."""
    if not isinstance(host, str):
        return TypeError
    try:
        b = host.encode("utf-8")
    except UnicodeEncodeError:
        return ValueError
    if not b or b"\0" in b:
        return ValueError
    return None


def _expected_port_error(port):
    if not is_int(port):
        return TypeError
    if not 0 <= port <= 65535:
        return ValueError
    return None


def _check_call(fn, expected, *args):
    """Call fn; it must raise ``expected`` if that is an exception type,
    else succeed or raise HPSocketError."""
    try:
        result = fn(*args)
    except HPSocketError as exc:
        assert expected in (None, HPSocketError), f"{fn.__name__}{args!r}: {exc!r}, expected {expected}"
        return None
    except (ValueError, TypeError) as exc:
        assert expected is not None and isinstance(exc, expected), \
            f"{fn.__name__}{args!r}: {exc!r}, expected {expected}"
        return None
    assert expected is None, f"{fn.__name__}{args!r} succeeded, expected {expected}"
    return result if result is not None else True


@FUZZ
@given(host=host_args, port=st.one_of(st.just(0), ports))
def test_server_start_arguments(host, port):
    srv = hpsocket.TcpServer(worker_threads=1)
    try:
        expected = _expected_host_error(host) or _expected_port_error(port)
        if expected is None and isinstance(port, int) and port != 0:
            # a valid fixed port is only tried on an address that is not ours
            host = "192.0.2.1" if port % 2 else host
        if _check_call(srv.start, expected, host, port):
            assert srv.state == hpsocket.ServiceState.STARTED
    finally:
        srv.stop()
    assert srv.state == hpsocket.ServiceState.STOPPED


@FEW
@given(bind=host_args, async_connect=anything)
def test_agent_start_arguments(bind, async_connect):
    agent = hpsocket.TcpAgent(worker_threads=1)
    try:
        expected = None if bind is None else _expected_host_error(bind)
        _check_call(agent.start, expected, bind, async_connect)
    finally:
        agent.stop()


@pytest.fixture
def listener():
    """A plain listening socket that accepts and closes everything."""
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(512)
    ls.settimeout(0.2)
    stop = threading.Event()

    def run():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield ls.getsockname()[1]
    stop.set()
    t.join(5)
    ls.close()


def test_agent_connect_arguments(listener):
    agent = hpsocket.TcpAgent(worker_threads=1)
    agent.start()

    @FUZZ
    @given(host=st.one_of(host_args, st.just(HOST)), port=st.one_of(st.just(listener), ports))
    def run(host, port):
        expected = _expected_host_error(host) or _expected_port_error(port)
        cid = _check_call(agent.connect, expected, host, port)
        if cid is not None:
            assert is_int(cid)
            agent.disconnect(cid)

    try:
        run()
    finally:
        agent.stop()
    assert agent.connection_count == 0


@FEW
@given(host=st.one_of(hosts, st.just(HOST), not_ints), port=st.one_of(st.just(1), ports),
       bind=st.one_of(st.none(), st.just(HOST), host_args))
def test_client_start_arguments(host, port, bind):
    cli = hpsocket.TcpClient()
    try:
        expected = (_expected_host_error(host) or _expected_port_error(port)
                    or (None if bind is None else _expected_host_error(bind)))
        # asynchronous: a resolvable host (e.g. "167772161" = 10.0.0.1)
        # must not make the test wait for a TCP connect timeout
        _check_call(cli.start, expected, host, port, True, bind)
    finally:
        cli.stop()


@FEW
@given(async_connect=anything)
def test_client_start_async_flag(listener, async_connect):
    cli = hpsocket.TcpClient()
    try:
        cli.start(HOST, listener, async_connect)
    finally:
        cli.stop()


# -- a live server with one live peer, for the connection methods ----------------


class _Peer:
    """A raw socket connected to the server, drained by a thread."""

    def __init__(self, port, first=b""):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        if first:
            self.sock.sendall(first)
        self.received = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        try:
            while True:
                b = self.sock.recv(1 << 16)
                if not b:
                    return
                self.received += len(b)
        except OSError:
            return

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def _live(cls, **options):
    """(server, live_conn_id, closed_conn_id, peer): a started server of cls
    with one live connection that has received data, and the id of one that
    closed."""

    class Srv(cls):
        def on_receive(self, conn_id, data):
            pass

    srv = Srv(worker_threads=2, **options)
    srv.start(HOST, 0)
    port = srv.listen_address[1]
    first = pack_frame(b"12345678") if cls is hpsocket.TcpPackServer else b"x" * 64
    gone = _Peer(port, first)
    wait_for(lambda: srv.connection_count == 1)
    closed_id = srv.connection_ids[0]
    gone.close()
    wait_for(lambda: srv.connection_count == 0)
    peer = _Peer(port, first)
    wait_for(lambda: srv.connection_count == 1)
    live_id = srv.connection_ids[0]
    if cls is hpsocket.TcpPullServer:
        wait_for(lambda: srv.peek(live_id, 1) is not None)
    return srv, live_id, closed_id, peer


class _Holder(list):
    """What a fixture yields: pytest keeps fixture values until after the
    no_leftovers check, so the fixture empties this list when it is done."""


@pytest.fixture(params=SERVERS, ids=lambda c: c.__name__)
def live(request):
    srv, live_id, closed_id, peer = _live(request.param, **(
        {"max_pack_size": 1000} if request.param is hpsocket.TcpPackServer else {}))
    holder = _Holder([srv, live_id, closed_id])
    try:
        yield holder
    finally:
        srv.stop()
        peer.close()
        holder.clear()


def _conn_ids(live_id, closed_id):
    return st.one_of(
        ints, not_ints,
        st.sampled_from([live_id, closed_id, live_id + 1, live_id - 1, 0, U64, U64 + 1, -live_id]),
    )


# Methods taking (conn_id, *args) and whether they may close or alter the live
# connection (then they are not called on it).
def _conn_methods(srv):
    methods = [
        ("send", (b"x",)), ("send_packets", ([b"x", b"y"],)), ("remote_address", ()),
        ("local_address", ()), ("pending_data_length", ()), ("pause_receive", (False,)),
        ("is_receive_paused", ()), ("connect_period", ()), ("silence_period", ()),
        ("set_extra", (object(),)), ("set_extra", (None,)), ("get_extra", ()), ("get_extra", (7,)),
        ("disconnect", ()), ("disconnect", (False,)),
    ]
    if isinstance(srv, hpsocket.TcpPullServer):
        methods += [("fetch", (1,)), ("peek", (1,)), ("fetch_into", (bytearray(1),))]
    return methods


def test_conn_id_arguments(live):
    srv, live_id, closed_id = live
    methods = _conn_methods(srv)

    @FUZZ
    @given(cid=_conn_ids(live_id, closed_id), which=st.integers(0, len(methods) - 1))
    def run(cid, which):
        name, args = methods[which]
        if cid == live_id and name == "disconnect":
            return
        fn = getattr(srv, name)
        try:
            result = fn(cid, *args)
        except TypeError as exc:
            assert not is_int(cid), f"{name}({cid!r}): {exc!r}"
            return
        except ValueError as exc:
            assert is_int(cid) and not 0 <= cid <= U64, f"{name}({cid!r}): {exc!r}"
            return
        except HPSocketError:
            assert cid != live_id or name == "silence_period", f"{name}(live id) raised"
            return
        assert is_int(cid) and 0 <= cid <= U64, f"{name}({cid!r}) accepted"
        if cid != live_id:
            if name in ("send", "send_packets", "disconnect", "pause_receive"):
                assert result is False, (name, cid, result)
            elif name == "get_extra":
                assert result == (args[0] if args else None), (name, cid, result)
            elif name in ("fetch", "peek"):
                pytest.fail(f"{name}({cid}) on an unknown connection returned {result!r}")

    run()
    srv.set_extra(live_id, None)
    assert srv.connection_ids == [live_id]


def test_client_methods_when_not_connected():
    """A client's connection methods before start and after stop."""
    for cls in CLIENTS:
        cli = cls()
        for name, args in [("send", (b"x",)), ("send_packets", ([b"x"],)), ("remote_address", ()),
                           ("local_address", ()), ("pending_data_length", ()), ("pause_receive", ()),
                           ("is_receive_paused", ()), ("set_extra", (1,)), ("get_extra", ()),
                           ("fetch", (1,)), ("peek", (1,)), ("fetch_into", (bytearray(2),))]:
            fn = getattr(cli, name, None)
            if fn is None:
                continue
            try:
                result = fn(*args)
            except HPSocketError:
                continue
            if name in ("send", "send_packets", "pause_receive"):
                assert result is False, (cls.__name__, name, result)
            elif name == "get_extra":
                assert result is None
            elif name in ("fetch", "peek"):
                assert result is None, (cls.__name__, name, result)


# -- data arguments ----------------------------------------------------------------


def _nbytes(obj):
    """Byte length if obj offers a contiguous buffer, else None."""
    try:
        m = memoryview(obj)
    except TypeError:
        return None
    if not m.contiguous:
        return None
    return m.nbytes


def _check_send_result(srv, name, arg, total, result_or_exc):
    pack = isinstance(srv, hpsocket.TcpPackServer)
    if isinstance(result_or_exc, BaseException):
        exc = result_or_exc
        if isinstance(exc, BufferError) and "contiguous" in str(exc):
            return      # a non-contiguous buffer: see test_send_noncontiguous_buffer
        assert isinstance(exc, (TypeError, ValueError)), f"{name}({arg!r}) raised {exc!r}"
        if isinstance(exc, ValueError):
            assert total is not None and pack and not 1 <= total <= srv.max_pack_size or \
                name == "send_packets" and total == 0, f"{name}({arg!r}): {exc!r}"
        return
    assert total is not None, f"{name}({arg!r}) accepted a non-buffer"
    if pack:
        assert 1 <= total <= srv.max_pack_size, f"{name}: pack body of {total} bytes accepted"
    assert result_or_exc is True, (name, total, result_or_exc)


def test_send_data(live):
    srv, live_id, _ = live

    @FUZZ
    @given(data=data_args)
    def run(data):
        try:
            result = srv.send(live_id, data)
        except BaseException as exc:        # noqa: B036 - checked below
            result = exc
        _check_send_result(srv, "send", data, _nbytes(data), result)

    run()
    assert srv.connection_ids == [live_id], "the live connection was closed"


def _noncontiguous_problems():
    srv, live_id, _, peer = _live(hpsocket.TcpServer)
    odd = memoryview(b"abcdef")[::2]
    problems = []
    try:
        for name, args in [("send", (odd,)), ("send_packets", ([b"x", odd],))]:
            try:
                getattr(srv, name)(live_id, *args)
            except (TypeError, ValueError):
                pass
            except BufferError as exc:
                problems.append(f"{name}(conn_id, memoryview(b'abcdef')[::2]) raised BufferError: {exc}")
    finally:
        srv.stop()
        peer.close()
    return problems


def test_send_noncontiguous_buffer():
    """README: wrong types raise TypeError (fetch_into turns the BufferError
    of a non-contiguous buffer into one); send and send_packets let a bare
    BufferError out instead."""
    problems = _noncontiguous_problems()
    assert not problems, problems


def test_send_packets_data(live):
    srv, live_id, _ = live

    @FUZZ
    @given(bufs=st.one_of(st.lists(buffers, max_size=5), st.lists(data_args, max_size=4),
                          st.tuples(buffers, buffers), st.iterables(buffers, max_size=3),
                          data_args))
    def run(bufs):
        try:
            items = list(bufs)
        except (TypeError, NotImplementedError) as exc:
            # not iterable (or a multi-dimensional memoryview, which cannot
            # be iterated): send_packets must refuse it the same way
            with pytest.raises((TypeError, type(exc))):
                srv.send_packets(live_id, bufs)
            return
        # an iterable is consumed by list(); give the method a fresh list
        arg = items if items is not None and not isinstance(bufs, (list, tuple, bytes, bytearray, str,
                                                                   memoryview, array.array)) else bufs
        sizes = [_nbytes(i) for i in items]
        total = None if None in sizes else sum(sizes)
        try:
            result = srv.send_packets(live_id, arg)
        except BaseException as exc:        # noqa: B036
            result = exc
        _check_send_result(srv, "send_packets", arg, total, result)

    run()
    assert srv.connection_ids == [live_id]


def test_send_file_arguments(live, tmp_path):
    srv, live_id, _ = live
    small = tmp_path / "small"
    small.write_bytes(b"0123456789")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")

    @FEW
    @given(path=st.one_of(st.sampled_from([str(small), small, bytes(small), str(empty), str(tmp_path),
                                           str(small) + "\0", "", "/nonexistent/x", "\ud800"]),
                          st.text(max_size=10), not_ints),
           head=st.one_of(st.none(), buffers, not_ints), tail=st.one_of(st.none(), buffers))
    def run(path, head, tail):
        try:
            result = srv.send_file(live_id, path, head, tail)
        except (OSError, ValueError, TypeError):
            return
        assert result is True

    run()
    assert srv.connection_ids == [live_id]


def test_period_arguments():
    srv = hpsocket.TcpServer(worker_threads=1, mark_silence=True)
    srv.start(HOST, 0)
    try:
        run_periods(srv)
    finally:
        srv.stop()


def run_periods(srv):
    @FUZZ
    @given(period=anything, force=anything, which=st.sampled_from(
        ["disconnect_long_connections", "disconnect_silence_connections"]))
    def run(period, force, which):
        fn = getattr(srv, which)
        try:
            result = fn(period, force)
        except TypeError:
            assert not is_int(period)
            return
        except ValueError:
            assert is_int(period) and not 0 <= period <= INT_MAX
            return
        assert is_int(period) and 0 <= period <= INT_MAX
        assert result in (True, False)

    run()
