"""Helpers shared by the test modules (tests/ and tests/stress/):

* bounded waiting and plain-socket helpers: wait_for, connect, recv_exact,
  roundtrip, Recorder, HOST, TIMEOUT;
* the pack wire format: pack_header, pack_frame, unpack_header;
* child interpreters: python_env, run_python;
* echo servers: EchoServer, and the bulk echo routine (bulk_echo) run by
  test_bulk.py and test_direct_send.py;
* families (Family, FAMILIES): what the contract tests of
  test_family_contract.py need of each family of components;
* hypothesis settings and strategies for argument fuzzing (FUZZ, ints,
  not_ints, buffers, data_args, ...), shared by test_fuzz_api.py and the
  compat fuzzing in test_compat.py.

Import it as ``from support import ...``: pytest puts tests/ on sys.path
when it loads tests/conftest.py, for the modules in tests/stress/ too.
Fixtures stay in conftest.py, which imports its helpers from here.
"""

import array
import ctypes
import hashlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import hpsocket

HOST = "127.0.0.1"
TIMEOUT = 10.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The repository root: the directory that holds the hpsocket package."""


# -- waiting and plain sockets -------------------------------------------------


def wait_for(predicate, timeout=TIMEOUT, interval=0.005):
    """Poll predicate until it is true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def connect(server):
    """A plain client socket connected to a started server."""
    return socket.create_connection(server.listen_address, timeout=TIMEOUT)


def recv_exact(sock, n):
    """Exactly n bytes from sock; AssertionError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def roundtrip(sock, data):
    """Send data and read until at least len(data) bytes came back."""
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {got!r}")
        got += chunk
    return got


class ClientThread(threading.Thread):
    """A load client on a daemon thread: run() calls work() and keeps what
    it raised; finish() stops it (work() watches self.stop) and fails the
    test if it raised or did not end."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            self.work()
        except BaseException as exc:      # noqa: B036 - reported by finish()
            self.error = exc

    def finish(self, timeout=30):
        self.stop.set()
        self.join(timeout)
        assert not self.is_alive(), f"{type(self).__name__} did not end"
        assert self.error is None, f"{type(self).__name__} failed: {self.error!r}"


class Recorder:
    """Thread-safe list of events with a bounded wait for a count."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, n=1, timeout=TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= n, timeout)
        assert ok, f"expected {n} events within {timeout} s, got {len(self.items)}: {self.items[:10]}"
        return list(self.items)

    def clear(self):
        with self.cond:
            self.items.clear()

    def __len__(self):
        with self.cond:
            return len(self.items)


# -- the pack wire format (hpsocket/_frame.h) -----------------------------------

# A packet is a 4-byte header and its body.  The header is a uint32 in the
# host's byte order ("=I"): the flag in the top 10 bits, the body's length in
# the low 22 bits.
_HEADER = struct.Struct("=I")
PACK_MAX_FLAG = 0x3FF
PACK_MAX_SIZE = 0x3FFFFF


def pack_header(length, flag=0):
    """The 4 header bytes announcing a body of `length` bytes with `flag`
    (any length up to 22 bits: a test may announce what it does not send)."""
    return _HEADER.pack((flag << 22) | length)


def pack_frame(body, flag=0):
    """One packet on the wire: header and body."""
    return pack_header(len(body), flag) + body


def unpack_header(data, offset=0):
    """(flag, length) of the header at data[offset:offset + 4]."""
    (h,) = _HEADER.unpack_from(data, offset)
    return h >> 22, h & PACK_MAX_SIZE


# -- child interpreters --------------------------------------------------------


def python_env(**extra):
    """os.environ for a child interpreter: the repository root first on
    PYTHONPATH (so that it imports this checkout's hpsocket), plus `extra`."""
    env = dict(os.environ)
    path = [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def run_python(*args, source=None, timeout, env=None, cwd=None, stacks_on_hang=False):
    """Run a child interpreter, ``python -c source args...`` (source is
    dedented) or ``python args...``, with python_env() unless env is given;
    return the CompletedProcess with stdout and stderr captured as text.
    A hang fails the test: subprocess.TimeoutExpired after timeout s, or with
    stacks_on_hang an AssertionError carrying the child's Python stacks
    (SIGUSR1, if it registered faulthandler for it) and native stacks."""
    argv = [sys.executable]
    if source is not None:
        argv += ["-c", textwrap.dedent(source)]
    argv += [str(a) for a in args]
    env = python_env() if env is None else env
    if not stacks_on_hang:
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            proc.send_signal(signal.SIGUSR1)
        except OSError:
            pass
        stacks = native_stacks(proc.pid)
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"child hung for {timeout} s\n--- native stacks ---\n{stacks}\n"
                             f"--- stdout ---\n{out[-2000:]}\n--- stderr ---\n{err[-6000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def native_stacks(pid):
    """Every thread's native stack in process pid, from gdb; or why not."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(no gdb here: no native stacks)"
    try:
        got = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(gdb failed: {exc!r})"
    return got.stdout[-30000:] + got.stderr[-2000:]


# -- echo servers --------------------------------------------------------------


class EchoServer(hpsocket.TcpServer):
    """Push-model echo server: sends back what it receives."""

    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


# -- families: what the contract tests need of each ----------------------------


class Family:
    """A family of components (TCP, HTTP; WebSocket, UDP and aio add
    theirs) as tests/test_family_contract.py sees it: every concrete class,
    a server whose data handler is given, and how a plain socket sends it a
    request, reads the reply and sees a handler's failure.  A new family
    gets the lifecycle, freeing, exit and fault contract tests by adding
    one of these (a subclass where its wire differs) to FAMILIES."""

    def __init__(self, name, classes, server_base, request=b"ping"):
        self.name = name
        self.classes = classes            # every concrete class of the family
        self.server_base = server_base    # its server class, to subclass
        self.request = request

    def handlers(self, on_data):
        """The event handlers that route a request's data to on_data and
        send back what it returns."""

        def on_receive(srv, conn_id, data):
            reply = on_data(srv, conn_id, data)
            if reply is not None:
                srv.send(conn_id, reply)

        return dict(on_receive=on_receive)

    def server_class(self, on_data, **methods):
        """A server class whose data event calls on_data(server, conn_id,
        data), which returns what to answer (None: no answer); methods are
        more event handlers (on_shutdown=..., say)."""
        return type("%sTestServer" % self.name.title(), (self.server_base,),
                    dict(methods, **self.handlers(on_data)))

    def server(self, on_data, **options):
        return self.server_class(on_data)(**options)

    def echo_server(self, **options):
        return self.server(lambda srv, conn_id, data: data, **options)

    def send(self, sock, data):
        """Send one request carrying data, without reading."""
        sock.sendall(data)

    def exchange(self, sock, data):
        """One request carrying data; the reply's data."""
        return roundtrip(sock, data)

    def assert_failed(self, sock):
        """What a client sees of a handler that raised: here the close."""
        assert sock.recv(10) == b""

    def __repr__(self):
        return self.name


class HttpFamily(Family):
    """HTTP: the data is a POST's body, the reply a 200's body; a handler
    that raises gets its client a 500 with Connection: close, then the
    close."""

    def handlers(self, on_data):
        def on_request(srv, request):
            reply = on_data(srv, request.conn_id, request.body)
            return None if reply is None else (200, [], reply)

        return dict(on_request=on_request)

    def send(self, sock, data):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(data), data))

    def exchange(self, sock, data):
        self.send(sock, data)
        status, headers, body = read_http_response(sock)
        assert status == 200, (status, body)
        return body

    def assert_failed(self, sock):
        status, headers, body = read_http_response(sock)
        assert status == 500 and headers.get(b"connection") == b"close"
        assert sock.recv(10) == b""


def read_http_response(sock):
    """(status, {lower-case name: value}, body) of one HTTP/1.1 response
    framed by Content-Length, read from a blocking socket with a timeout."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed in a body, after {body!r}")
        body += chunk
    assert len(body) == length, "more than one response"
    return status, headers, body


TCP = Family(
    "tcp",
    classes=(hpsocket.TcpServer, hpsocket.TcpPullServer, hpsocket.TcpPackServer,
             hpsocket.TcpAgent, hpsocket.TcpPullAgent, hpsocket.TcpPackAgent,
             hpsocket.TcpClient, hpsocket.TcpPullClient, hpsocket.TcpPackClient),
    server_base=hpsocket.TcpServer,
)

HTTP = HttpFamily(
    "http",
    # HttpSyncClient is not a component: it wraps an HttpClient.
    classes=(hpsocket.HttpServer, hpsocket.HttpAgent, hpsocket.HttpClient),
    server_base=hpsocket.HttpServer,
)

FAMILIES = (TCP, HTTP)


# -- bulk echo -----------------------------------------------------------------
#
# Per model, 64 concurrent connections each push 1 MiB of random data through
# an echo server; every connection must get back exactly what it sent (same
# SHA-256, same length; for pack, the same packet boundaries).

BULK_CONNECTIONS = 64
BULK_PER_CONNECTION = 1 << 20     # 1 MiB
BULK_CHUNK = 64 * 1024            # push/pull: pieces handed to send()
BULK_MAX_PACKET = 64 * 1024       # pack: packet bodies up to 64 KiB
BULK_DEADLINE = 30.0              # per run, generous for a loaded 2-core box


class _Closes:
    def __init__(self, **options):
        super().__init__(**options)
        self.closes = Recorder()

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class _BulkPushEcho(_Closes, hpsocket.TcpServer):
    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


class _BulkPullEcho(_Closes, hpsocket.TcpPullServer):
    def on_receive(self, conn_id, length):
        self.send(conn_id, self.fetch(conn_id, length))


class _BulkPackEcho(_Closes, hpsocket.TcpPackServer):
    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


class _Digests:
    """Per connection: running SHA-256 of the echoed bytes, byte and packet
    counts; `done` fires when every connection has its bytes back."""

    def __init__(self, **options):
        super().__init__(**options)
        self.lock = threading.Lock()
        self.hashes = {}
        self.sizes = {}
        self.counts = {}
        self.finished = 0
        self.done = threading.Event()
        self.closes = Recorder()

    def got(self, conn_id, data):
        with self.lock:
            h = self.hashes.get(conn_id)
            if h is None:
                h = self.hashes[conn_id] = hashlib.sha256()
                self.counts[conn_id] = 0
                self.sizes[conn_id] = []
            h.update(data)
            self.counts[conn_id] += len(data)
            self.sizes[conn_id].append(len(data))
            if self.counts[conn_id] == BULK_PER_CONNECTION:
                self.finished += 1
                if self.finished == BULK_CONNECTIONS:
                    self.done.set()

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class _BulkPushAgent(_Digests, hpsocket.TcpAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class _BulkPullAgent(_Digests, hpsocket.TcpPullAgent):
    def on_receive(self, conn_id, length):
        self.got(conn_id, self.fetch(conn_id, length))


class _BulkPackAgent(_Digests, hpsocket.TcpPackAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class _ClientDigests:
    """One shared _Digests for 64 clients (each has its own connection id 1,
    so the client object itself is the key)."""

    def __init__(self, sink, **options):
        super().__init__(**options)
        self.sink = sink

    def on_close(self, conn_id, operation, error_code):
        self.sink.closes.add((id(self), operation, error_code))


class _BulkPushClient(_ClientDigests, hpsocket.TcpClient):
    def on_receive(self, conn_id, data):
        self.sink.got(id(self), data)


class _BulkPullClient(_ClientDigests, hpsocket.TcpPullClient):
    def on_receive(self, conn_id, length):
        self.sink.got(id(self), self.fetch(length))


class _BulkPackClient(_ClientDigests, hpsocket.TcpPackClient):
    def on_receive(self, conn_id, data):
        self.sink.got(id(self), data)


class _Sink(_Digests):
    """The shared _Digests of the client variant."""


_BULK_SERVERS = {"push": _BulkPushEcho, "pull": _BulkPullEcho, "pack": _BulkPackEcho}
_BULK_AGENTS = {"push": _BulkPushAgent, "pull": _BulkPullAgent, "pack": _BulkPackAgent}
_BULK_CLIENTS = {"push": _BulkPushClient, "pull": _BulkPullClient, "pack": _BulkPackClient}


def _bulk_pieces(model, data, rng):
    """The send() calls for one connection: fixed chunks, or for pack
    packets of random sizes (1 .. 64 KiB) covering the data."""
    if model != "pack":
        return [data[i:i + BULK_CHUNK] for i in range(0, len(data), BULK_CHUNK)]
    out = []
    pos = 0
    while pos < len(data):
        n = min(rng.randint(1, BULK_MAX_PACKET), len(data) - pos)
        out.append(data[pos:pos + n])
        pos += n
    return out


def bulk_echo(model, kind, **options):
    """The bulk echo through a `model` ("push", "pull", "pack") echo server
    from one agent with 64 connections or from 64 clients (`kind` "agent" or
    "client"), interleaving the connections' sends.  `options` go to every
    component (direct_writes=False, say)."""
    rng = random.Random(f"bulk-{model}-{kind}")
    started = time.monotonic()
    with _BULK_SERVERS[model](**options) as server:
        server.start(HOST, 0)
        port = server.listen_address[1]

        peers = []
        try:
            if kind == "agent":
                agent = _BULK_AGENTS[model](**options)
                peers.append(agent)
                agent.start()
                sink = agent
                keys = [agent.connect(HOST, port) for _ in range(BULK_CONNECTIONS)]
                senders = [(lambda d, c=c: agent.send(c, d)) for c in keys]
            else:
                sink = _Sink()
                keys = []
                senders = []
                for _ in range(BULK_CONNECTIONS):
                    client = _BULK_CLIENTS[model](sink, **options)
                    peers.append(client)
                    client.start(HOST, port)
                    keys.append(id(client))
                    senders.append(client.send)

            expected = {}
            plans = {}
            for key in keys:
                data = rng.randbytes(BULK_PER_CONNECTION)
                expected[key] = hashlib.sha256(data).hexdigest()
                plans[key] = _bulk_pieces(model, data, rng)
            # Interleave the connections: round-robin over their pieces.
            longest = max(map(len, plans.values()))
            for i in range(longest):
                for key, send in zip(keys, senders):
                    if i < len(plans[key]):
                        assert send(plans[key][i]) is True

            assert sink.done.wait(BULK_DEADLINE), (
                f"{sink.finished} of {BULK_CONNECTIONS} connections got their data back")
            with sink.lock:
                assert set(sink.hashes) == set(keys)
                mismatched = [k for k in keys if sink.hashes[k].hexdigest() != expected[k]]
                assert sink.counts == {k: BULK_PER_CONNECTION for k in keys}
                if model == "pack":
                    for k in keys:
                        assert sink.sizes[k] == list(map(len, plans[k]))
            assert not mismatched, f"{len(mismatched)} of {BULK_CONNECTIONS} connections got other data"
            assert server.connection_count == BULK_CONNECTIONS
            # Nothing closed on the way.
            assert len(server.closes) == 0
            assert len(sink.closes) == 0
        finally:
            for peer in peers:
                peer.stop()
    assert time.monotonic() - started < BULK_DEADLINE


# -- argument fuzzing (hypothesis) ---------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

U32 = 0xFFFFFFFF
U64 = 2 ** 64 - 1
INT_MAX = 2 ** 31 - 1


class Weird:
    """An object with no buffer, no __index__, no __int__."""

    def __repr__(self):
        return "<Weird>"


class IntLike:
    """Has __index__ but is not an int: the API takes only real ints."""

    def __index__(self):
        return 5

    def __int__(self):
        return 5

    def __repr__(self):
        return "<IntLike>"


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


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
    st.builds(Weird), st.builds(IntLike), st.builds(bytearray, st.binary(max_size=8)),
)
anything = st.one_of(ints, not_ints)

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
odd_buffers = st.builds(lambda b: memoryview(b)[::2], st.binary(min_size=2, max_size=64))
"""Non-contiguous buffers."""
data_args = st.one_of(buffers, odd_buffers, not_ints, ints)
"""Anything that might be passed as data: buffers of every kind and not."""
