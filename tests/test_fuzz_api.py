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
* send / send_packets / send_file data (any object), fetch / peek lengths and
  fetch_into buffers, disconnect periods;
* the compat layer's package helpers (GeneratePkgBuffer / GeneratePkg /
  UnpackTPkgHeader round trips), its Pull protocol parser fed arbitrary
  bytes at arbitrary split points, and its argument converters.

Components are created inside each test and stopped before it ends (the
no_leftovers fixture checks it).  Checks that need a component to be gone
(so that a failure does not keep it alive through the traceback) return an
error message from a helper instead of asserting inside it.
"""

import array
import ctypes
import operator
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import hpsocket
from hpsocket import HPSocketError
from hpsocket.compat import _base as compat_base
from hpsocket.compat import _roles as compat_roles
from hpsocket.compat import helper

from conftest import HOST, wait_for

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FEW = settings(FUZZ, max_examples=40)

U32 = 0xFFFFFFFF
U64 = 2 ** 64 - 1
INT_MAX = 2 ** 31 - 1

SERVERS = (hpsocket.TcpServer, hpsocket.TcpPullServer, hpsocket.TcpPackServer)
AGENTS = (hpsocket.TcpAgent, hpsocket.TcpPullAgent, hpsocket.TcpPackAgent)
CLIENTS = (hpsocket.TcpClient, hpsocket.TcpPullClient, hpsocket.TcpPackClient)
ALL_CLASSES = SERVERS + AGENTS + CLIENTS
PACK_CLASSES = (hpsocket.TcpPackServer, hpsocket.TcpPackAgent, hpsocket.TcpPackClient)
BOOL_OPTIONS = frozenset({"no_delay", "direct_writes", "mark_silence", "reuse_address"})


class _Weird:
    """An object with no buffer, no __index__, no __int__."""

    def __repr__(self):
        return "<_Weird>"


class _IntLike:
    """Has __index__ but is not an int: the API takes only real ints."""

    def __index__(self):
        return 5

    def __int__(self):
        return 5


ints = st.one_of(
    st.integers(),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.sampled_from([0, 1, -1, 0x3FF, 0x400, 0x3FFFFF, 0x400000, INT_MAX, INT_MAX + 1,
                     U32 - 256, U32 - 255, U32, U32 + 1, U64, U64 + 1, 2 ** 63, -2 ** 63,
                     2 ** 200, -2 ** 200]),
)
not_ints = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.binary(max_size=20), st.lists(st.integers(), max_size=3),
    st.complex_numbers(), st.fractions(), st.decimals(allow_nan=False),
    st.builds(_Weird), st.builds(_IntLike), st.builds(bytearray, st.binary(max_size=8)),
)
anything = st.one_of(ints, not_ints)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


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
    first = struct.pack("<I", 8) + b"12345678" if cls is hpsocket.TcpPackServer else b"x" * 64
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

def _noncontiguous(b):
    return memoryview(b)[::2]


buffers = st.one_of(
    st.binary(max_size=1500),
    st.builds(bytearray, st.binary(max_size=1500)),
    st.builds(memoryview, st.binary(max_size=1500)),
    st.builds(lambda b: memoryview(b)[1:], st.binary(max_size=64)),
    st.builds(lambda b: array.array("B", b), st.binary(max_size=64)),
    st.builds(lambda xs: array.array("d", xs), st.lists(st.floats(), max_size=8)),
    st.builds(lambda b: memoryview(bytearray(b * 4)).cast("B", (2, len(b) * 2)) if b else memoryview(b""),
              st.binary(max_size=16)),
    st.builds(lambda b: ctypes.create_string_buffer(b, len(b) or 1), st.binary(max_size=32)),
)
odd_buffers = st.builds(_noncontiguous, st.binary(min_size=2, max_size=64))
data_args = st.one_of(buffers, odd_buffers, not_ints, ints)


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


@pytest.fixture
def pull_live():
    srv, live_id, closed_id, peer = _live(hpsocket.TcpPullServer)
    holder = _Holder([srv, live_id, peer])
    try:
        yield holder
    finally:
        srv.stop()
        peer.close()
        holder.clear()


def test_fetch_lengths(pull_live):
    srv, live_id, peer = pull_live
    peer.sock.sendall(bytes(range(256)) * 64)
    wait_for(lambda: srv.peek(live_id, 64 + 256 * 64) is not None)

    @FUZZ
    @given(n=st.one_of(st.integers(0, 300), ints, not_ints), how=st.sampled_from(["fetch", "peek"]))
    def run(n, how):
        fn = getattr(srv, how)
        try:
            result = fn(live_id, n)
        except TypeError as exc:
            assert not is_int(n), f"{how}({n!r}): {exc!r}"
            return
        except ValueError as exc:
            assert is_int(n) and not 0 <= n <= INT_MAX, f"{how}({n!r}): {exc!r}"
            return
        except OverflowError as exc:
            pytest.fail(f"{how}(conn_id, {n!r}) raised OverflowError, not ValueError: {exc}")
        assert is_int(n) and 0 <= n <= INT_MAX
        assert result is None or (type(result) is bytes and len(result) == n), (n, result)
        if result is not None and how == "peek":
            assert srv.fetch(live_id, n) == result

    run()
    assert srv.connection_ids == [live_id]


def test_fetch_into_buffers(pull_live):
    srv, live_id, peer = pull_live
    peer.sock.sendall(b"z" * 100_000)
    wait_for(lambda: srv.peek(live_id, 64 + 100_000) is not None)

    @FUZZ
    @given(buf=st.one_of(
        st.builds(bytearray, st.integers(0, 200)),
        st.builds(lambda n: memoryview(bytearray(n)), st.integers(0, 200)),
        st.builds(lambda n: memoryview(bytearray(n))[::2], st.integers(2, 200)),
        st.builds(lambda n: array.array("i", [0] * n), st.integers(0, 20)),
        st.builds(lambda n: ctypes.create_string_buffer(n), st.integers(1, 50)),
        st.builds(lambda n: memoryview(bytes(n)), st.integers(0, 20)),
        data_args))
    def run(buf):
        try:
            m = memoryview(buf)
            writable = not m.readonly and m.contiguous
        except TypeError:
            writable = False
        try:
            result = srv.fetch_into(live_id, buf)
        except (TypeError, ValueError) as exc:
            assert not writable, f"fetch_into({buf!r}): {exc!r}"
            return
        assert writable, f"fetch_into({buf!r}) accepted"
        assert result in (True, False)

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


# -- compat: package helpers --------------------------------------------------------

int32 = st.integers(-2 ** 31, 2 ** 31 - 1)
int16 = st.integers(-2 ** 15, 2 ** 15 - 1)
gbk_text = st.text(st.characters(codec="gbk"), max_size=40)
ascii_text = st.text(st.characters(codec="ascii"), max_size=200)


def _gbk_name(max_bytes=30):
    return gbk_text.filter(lambda s: len(s.encode("gbk")) <= max_bytes and not s.endswith("\0"))


@FUZZ
@given(seq=int32, name=_gbk_name(), age=int16, desc=ascii_text)
def test_pkg_round_trip(seq, name, age, desc):
    buf = helper.GeneratePkgBuffer(seq, name, age, desc)
    assert len(buf) == helper.TPkgHeaderSize + 32 + len(desc)
    got_seq, body_len = helper.UnpackTPkgHeader(buf[:helper.TPkgHeaderSize])
    assert (got_seq, body_len) == (seq, len(buf) - helper.TPkgHeaderSize)
    got_name, got_age, got_desc = helper.GeneratePkg(buf[helper.TPkgHeaderSize:])
    assert got_name.rstrip("\0") == name and len(got_name.encode("gbk")) == 30
    assert (got_age, got_desc) == (age, desc)
    # the ctypes views of the same bytes agree
    hdr = helper.TPkgHeader.from_buffer_copy(buf[:8])
    assert (hdr.seq, hdr.body_len) == (seq & 0xFFFFFFFF, body_len)
    body = helper.TPkgBody.from_buffer_copy(buf[8:8 + ctypes.sizeof(helper.TPkgBody)])
    assert body.age == age
    if "\0" not in name:          # a c_char array reads up to the first NUL
        assert body.name.decode("gbk") == name


@FUZZ
@given(seq=st.one_of(int32, ints, not_ints), name=st.one_of(gbk_text, st.text(max_size=40), not_ints),
       age=st.one_of(int16, ints, not_ints), desc=st.one_of(gbk_text, st.text(max_size=40), not_ints))
def test_pkg_build_arbitrary(seq, name, age, desc):
    """Any arguments: a packet whose header counts its body, or a clear
    exception (struct.error, a Unicode error, TypeError)."""
    try:
        buf = helper.GeneratePkgBuffer(seq, name, age, desc)
    except (struct.error, UnicodeError, TypeError, AttributeError, ValueError):
        return
    seq2, body_len = helper.UnpackTPkgHeader(buf[:8])
    assert seq2 == operator.index(seq) and body_len == len(buf) - 8
    # desc is counted in characters (as in the old binding): its GBK bytes
    # are cut to that many
    assert buf[40:] == desc.encode("gbk")[:len(desc)]


@FUZZ
@given(data=st.binary(max_size=100))
def test_pkg_parse_arbitrary_bytes(data):
    try:
        seq, body_len = helper.UnpackTPkgHeader(data)
    except struct.error:
        assert len(data) != 8
    else:
        assert len(data) == 8 and struct.pack("ii", seq, body_len) == data
    try:
        name, age, desc = helper.GeneratePkg(data)
    except (struct.error, UnicodeDecodeError):
        return
    assert len(data) >= 32 and isinstance(name, str) and isinstance(age, int) and isinstance(desc, str)


@FUZZ
@given(header=st.booleans(), length=int32)
def test_pkg_info(header, length):
    info = helper.TPkgInfo(header, length)
    assert (info.is_header, info.length) == (header, length)
    info.Reset()
    assert (info.is_header, info.length) == (True, helper.TPkgHeaderSize)


@FUZZ
@given(init=st.one_of(st.integers(0, 1000), st.binary(max_size=100), not_ints))
def test_cbuffer(init):
    try:
        buf = helper.CBuffer(init)
    except (TypeError, ValueError):
        assert not (isinstance(init, bytes) or isinstance(init, int) and init >= 1)
        return
    n = init if isinstance(init, int) else len(init)
    assert len(buf.Contents()) >= n


# -- compat: the Pull protocol parser -------------------------------------------------


class _Sink:
    """Stands in for a compat Pull object: records heads and bodies."""

    def __init__(self):
        self.events = []

    def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
        self.events.append(("head", Seq, Length, raw))

    def OnReceiveBody(self, Sender, ConnID, Body):
        self.events.append(("body", Body))


class _Stream:
    """The pull buffer of one connection: data arrives in pieces, the parser
    fetches exactly what it asks for."""

    def __init__(self):
        self.buf = bytearray()

    def fetch(self, n):
        if n > len(self.buf):
            return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _feed(stream_bytes, cuts):
    """Feed the bytes to pull_parse in pieces cut at ``cuts``; returns
    (sink, results, stream, info)."""
    sink, stream, info = _Sink(), _Stream(), helper.TPkgInfo()
    results = []
    points = sorted({c % (len(stream_bytes) + 1) for c in cuts} | {len(stream_bytes)})
    start = 0
    for p in points:
        stream.buf += stream_bytes[start:p]
        start = p
        r = compat_roles.pull_parse(sink, 1, 7, len(stream.buf), info, stream.fetch)
        results.append(r)
        if r == compat_base.HR_ERROR:
            break
    stream.fed = start
    return sink, results, stream, info


packets = st.lists(st.tuples(int32, _gbk_name(), int16, ascii_text), max_size=6)


@FUZZ
@given(pkts=packets, cuts=st.lists(st.integers(0, 10 ** 6), max_size=12))
def test_pull_parser_well_formed(pkts, cuts):
    """Whole packets arrive as heads and bodies whatever the split points."""
    wire = b"".join(helper.GeneratePkgBuffer(*p) for p in pkts)
    sink, results, stream, info = _feed(wire, cuts)
    assert all(r == compat_base.HR_OK for r in results)
    expected = []
    for p in pkts:
        b = helper.GeneratePkgBuffer(*p)
        expected.append(("head", p[0], len(b) - 8, b[:8]))
        expected.append(("body", b[8:]))
    assert sink.events == expected
    assert not stream.buf and info.is_header and info.length == helper.TPkgHeaderSize


@FUZZ
@given(data=st.one_of(st.binary(max_size=300),
                      st.builds(lambda h, b: struct.pack("ii", *h) + b,
                                st.tuples(int32, st.integers(-5, 64)), st.binary(max_size=100))),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_pull_parser_arbitrary_bytes(data, cuts):
    """Garbage: heads and bodies as the bytes say, HR_ERROR (close) on a
    negative length, never an exception, and never more bytes taken than given."""
    sink, results, stream, info = _feed(data, cuts)
    assert all(r in (compat_base.HR_OK, compat_base.HR_ERROR) for r in results)
    consumed = sum(len(e[3]) if e[0] == "head" else len(e[1]) for e in sink.events)
    for e in sink.events:
        if e[0] == "head":
            assert e[2] >= 0
    if results and results[-1] == compat_base.HR_ERROR:
        # the header announcing a negative length was taken, then the stream refused
        assert struct.unpack("ii", data[consumed:consumed + 8])[1] < 0
        consumed += 8
    assert consumed + len(stream.buf) == stream.fed


# -- compat: argument converters ------------------------------------------------------


@FUZZ
@given(value=st.one_of(data_args, st.text(max_size=20), not_ints))
def test_compat_to_buffer(value):
    try:
        out = compat_base.to_buffer(value)
    except (TypeError, ValueError):
        return
    assert isinstance(out, (bytes, bytearray, memoryview))


@FUZZ
@given(handle=st.one_of(ints, not_ints))
def test_compat_handles(handle):
    with pytest.raises(ValueError):
        compat_base.core_of(handle)
    import hpsocket.compat.pyhpsocket as HP
    with pytest.raises(ValueError):
        HP.HP_Server_Send(Server=handle, ConnID=1, Buffer=b"x")


@FUZZ
@given(host=st.one_of(st.text(max_size=20), st.binary(max_size=20), not_ints))
def test_compat_host_arg(host):
    try:
        out = compat_base.host_arg(host)
    except UnicodeDecodeError:
        assert isinstance(host, (bytes, bytearray))
        return
    if isinstance(host, (bytes, bytearray)):
        assert isinstance(out, str)
    else:
        assert out is host


def test_compat_pull_server_fuzzed_arguments(listener):
    """The compat functions swallow argument errors as the old binding's
    returned FALSE: never another exception."""
    import hpsocket.compat.pyhpsocket as HP
    from hpsocket.compat import TcpPull

    srv = TcpPull.HP_TcpPullServer()
    assert HP.HP_Server_Start(srv.Server, HOST, 0)
    try:
        @FUZZ
        # (lengths past Py_ssize_t: see test_fetch_lengths)
        @given(conn=st.one_of(ints, not_ints), length=st.one_of(st.integers(-2 ** 62, 2 ** 62), not_ints),
               data=st.one_of(buffers, st.text(max_size=10)))
        def run(conn, length, data):
            for fn, args in [(HP.HP_Server_Send, (conn, data)),
                             (HP.HP_TcpPullServer_Fetch, (conn, length)),
                             (HP.HP_TcpPullServer_Peek, (conn, length)),
                             (HP.HP_Server_Disconnect, (conn,)),
                             (HP.HP_Server_GetRemoteAddress, (conn,)),
                             (HP.HP_Server_GetConnectionExtra, (conn,))]:
                try:
                    fn(srv.Server, *args)
                except (TypeError, ValueError, HPSocketError, ctypes.ArgumentError):
                    pass
                except OverflowError as exc:
                    pytest.fail(f"{fn.__name__}{args!r}: OverflowError {exc}")

        run()
    finally:
        HP.HP_Server_Stop(srv.Server)
