"""What one operation costs: dispatching an event into Python, send, fetch,
creating and starting a component; the ctypes binding's equivalents beside
them where it has them.

Dispatch benchmarks call the native receive trampoline from a new native
thread (no Python thread state, like HP-Socket's workers), 10,000 times per
round; the figure per event is the round time / 10,000.
"""

import ctypes
import socket
import threading

import pytest

import hpsocket
from hpsocket import _core

N_DISPATCH = 10_000


class Nothing(hpsocket.TcpServer):
    def on_receive(self, conn_id, data):
        pass


class NotHandled(hpsocket.TcpServer):
    pass


def _dispatch(benchmark, component, **kw):
    benchmark.extra_info["events_per_round"] = N_DISPATCH
    benchmark.pedantic(_core._bench_dispatch, args=(component, N_DISPATCH), kwargs=dict(native_thread=True, **kw),
                       rounds=20, warmup_rounds=2)


@pytest.mark.benchmark(group="dispatch on_receive (10k events, native thread)")
def test_dispatch_python_method(benchmark):
    _dispatch(benchmark, Nothing())


@pytest.mark.benchmark(group="dispatch on_receive (10k events, native thread)")
def test_dispatch_not_overridden(benchmark):
    _dispatch(benchmark, NotHandled())


@pytest.mark.benchmark(group="dispatch on_receive (10k events, native thread)")
@pytest.mark.skipif(not _core.DEBUG, reason="the pinning switch exists in debug builds only "
                    "(HPSOCKET_DEBUG=1); measured in a release build it was 7.7 us")
def test_dispatch_without_persistent_thread_state(benchmark):
    _core._set_thread_state_pinning(False)
    try:
        _dispatch(benchmark, Nothing())
    finally:
        _core._set_thread_state_pinning(True)


@pytest.mark.benchmark(group="dispatch on_receive (10k events, native thread)")
def test_dispatch_ctypes_callback(benchmark):
    """What the ctypes binding does per event: a CFUNCTYPE callback that
    copies the data with string_at."""
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_byte), ctypes.c_int)

    def on_receive(sender, conn_id, data, length):
        ctypes.string_at(data, length)
        return 0

    cb = proto(on_receive)
    _dispatch(benchmark, Nothing(), callback_address=ctypes.cast(cb, ctypes.c_void_p).value)


@pytest.fixture
def connection():
    """A server with one connection whose peer drains everything."""
    accepted = threading.Event()
    ids = []

    class Sink(hpsocket.TcpServer):
        def on_accept(self, conn_id, fd):
            ids.append(conn_id)
            accepted.set()

    srv = Sink()
    srv.start("127.0.0.1", 0)
    peer = socket.create_connection(srv.listen_address)
    stop = threading.Event()

    def drain():
        peer.settimeout(0.2)
        while not stop.is_set():
            try:
                if not peer.recv(1 << 20):
                    break
            except socket.timeout:
                pass
            except OSError:
                break

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    assert accepted.wait(10)
    yield srv, ids[0]
    stop.set()
    srv.stop()
    t.join(5)
    peer.close()


@pytest.mark.benchmark(group="send")
@pytest.mark.parametrize("size", [64, 65536], ids=["64B", "64KiB"])
def test_send(benchmark, connection, size):
    srv, conn_id = connection
    data = b"x" * size
    assert benchmark(srv.send, conn_id, data)


@pytest.mark.benchmark(group="send")
@pytest.mark.parametrize("size", [64, 65536], ids=["64B", "64KiB"])
def test_send_ctypes_call(benchmark, connection, size):
    """The same native send through a ctypes function call, as the ctypes
    binding makes it (argument conversion, GIL released by ctypes)."""
    lib = ctypes.CDLL(_core.__file__.rsplit("/", 1)[0] + "/libhpsocket4c.so")
    fn = lib.HP_Server_Send
    fn.restype = ctypes.c_bool
    fn.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    srv, conn_id = connection
    handle = _core._native_handle(srv)
    data = b"x" * size
    assert benchmark(fn, handle, conn_id, data, size)


@pytest.fixture
def pull_buffer():
    """A pull server holding 32 MiB received on one connection."""
    total = 32 << 20
    ready = threading.Event()
    ids = []

    class Holder(hpsocket.TcpPullServer):
        def on_receive(self, conn_id, length):
            if length >= total:
                ids.append(conn_id)
                ready.set()

    srv = Holder()
    srv.start("127.0.0.1", 0)
    peer = socket.create_connection(srv.listen_address)
    peer.sendall(b"y" * total)
    assert ready.wait(20)
    yield srv, ids[0]
    srv.stop()
    peer.close()


@pytest.mark.benchmark(group="pull")
def test_fetch_64B(benchmark, pull_buffer):
    srv, conn_id = pull_buffer
    benchmark.pedantic(srv.fetch, args=(conn_id, 64), rounds=100_000, iterations=1)


@pytest.mark.benchmark(group="pull")
def test_peek_64B(benchmark, pull_buffer):
    srv, conn_id = pull_buffer
    benchmark(srv.peek, conn_id, 64)


@pytest.mark.benchmark(group="lifecycle")
def test_create_start_stop_server(benchmark):
    def cycle():
        srv = hpsocket.TcpServer(worker_threads=2)
        srv.start("127.0.0.1", 0)
        srv.stop()

    benchmark.pedantic(cycle, rounds=30, warmup_rounds=2)
