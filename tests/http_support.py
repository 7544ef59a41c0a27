"""Helpers for the HttpServer tests (tests/test_http_*.py and
tests/stress/test_http_stress.py):

* serving(): run an HttpServer class on 127.0.0.1 with an OS-chosen port;
* RecordingServer: an HttpServer that records every request it sees and
  answers with a digest of it (method, target, headers, body length);
* raw sockets: raw_exchange() (send bytes, read until the server closes or a
  bounded timeout), RawConn (one connection, read response by response);
* parse_responses(): a small HTTP/1.1 response parser for raw bytes
  (Content-Length, chunked, until-close, 1xx interim responses, HEAD) that
  splits pipelined responses.

Every wait is bounded: sockets have timeouts and each read loop a deadline.
"""

import contextlib
import functools
import json
import socket
import subprocess
import sys
import threading
import time
import traceback

import pytest

import hpsocket
from support import python_env

HOST = "127.0.0.1"


@contextlib.contextmanager
def serving(cls=hpsocket.HttpServer, **options):
    """Start cls(**options) on 127.0.0.1:0; yield (srv, port); stop it."""
    srv = cls(**options)
    srv.start(HOST, 0)
    try:
        yield srv, srv.listen_address[1]
    finally:
        srv.stop()


class RecordingServer(hpsocket.HttpServer):
    """Records every request (a dict per request, in arrival order) and
    answers 200 with a JSON digest of it.  ``seen`` and ``errors`` are
    lists guarded by ``cond``."""

    def __init__(self, **options):
        super().__init__(**options)
        self.cond = threading.Condition()
        self.seen = []
        self.errors = []

    def record(self, request):
        item = {
            "method": request.method,
            "target": request.target,
            "version": request.version,
            "headers": request.headers.items(),
            "body": request.body,
            "keep_alive": request.keep_alive,
        }
        with self.cond:
            self.seen.append(item)
            self.cond.notify_all()
        return item

    def on_request(self, request):
        item = self.record(request)
        digest = {"method": item["method"], "target": item["target"], "body_len": len(item["body"])}
        return 200, [("Content-Type", "application/json")], json.dumps(digest).encode()

    def on_error(self, event, conn_id, exc):
        with self.cond:
            self.errors.append((event, exc))
            self.cond.notify_all()

    def targets(self):
        with self.cond:
            return [r["target"] for r in self.seen]

    def wait_seen(self, n, timeout=5.0):
        """Wait until at least n requests were seen; return a copy of the list."""
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.seen) >= n, timeout)
            got = list(self.seen)
        assert ok, f"expected {n} requests within {timeout} s, saw {len(got)}: {got}"
        return got


def isolated(fn):
    """Decorator for a test expected to fail (xfail): a failure inside is
    re-raised as an AssertionError carrying only the formatted traceback, so
    that the traceback pytest keeps does not hold the test's frames, and with
    them the server (conftest's no_leftovers waits for every native
    component to be freed)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        text = None
        try:
            fn(*args, **kwargs)
        except Exception as exc:   # noqa: BLE001 - re-raised below, as text
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if text is not None:
            raise AssertionError(text)
    return wrapper


# -- raw sockets ------------------------------------------------------------------


def connect(port, timeout=5.0):
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _send_ignoring_reset(sock, data):
    """sendall, tolerating a server that already answered and closed."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def raw_exchange_ex(port, data, timeout=5.0, until=None):
    """Send data on a new connection and read until the server closes, until
    ``until(received_bytes)`` is true, or until ``timeout`` seconds passed.
    Returns (received bytes, closed): closed is True if the server closed
    (EOF or reset) within the time."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    closed = False
    with connect(port, timeout) as sock:
        _send_ignoring_reset(sock, data)
        while True:
            if until is not None and until(bytes(buf)):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
    return bytes(buf), closed


def raw_exchange(port, data, timeout=5.0):
    """Send data on a new connection; the bytes received until the server
    closed it or ``timeout`` seconds passed."""
    return raw_exchange_ex(port, data, timeout)[0]


class RawConn:
    """One client connection read response by response (bounded waits)."""

    def __init__(self, port, timeout=5.0, sock=None):
        self.sock = connect(port, timeout) if sock is None else sock
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self.methods = []      # request methods of responses not read yet

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data, methods=None):
        """Send raw bytes; ``methods`` lists the request methods they carry
        (only HEAD matters for the parser)."""
        if methods:
            self.methods.extend(methods)
        return _send_ignoring_reset(self.sock, data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.closed:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def poll(self, timeout=0.0):
        """Take what arrives within timeout seconds (at least one read
        attempt); False once nothing more came or the peer closed."""
        return self._fill(time.monotonic() + max(timeout, 0.001))

    def read_response(self, timeout=None, interim=False):
        """The next response (1xx ones skipped unless interim); AssertionError
        if none complete arrives in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            responses, rest = parse_responses(self.buf, self.methods, eof=self.closed, limit=1)
            if responses:
                resp = responses[0]
                self.buf = self.buf[len(resp.raw):]
                if resp.status >= 200 and self.methods:
                    self.methods.pop(0)
                if resp.status >= 200 or interim:
                    return resp
                continue
            if not self._fill(deadline):
                if self.closed:
                    responses, rest = parse_responses(self.buf, self.methods, eof=True, limit=1)
                    if responses:
                        continue
                raise AssertionError(f"no complete response (closed={self.closed}); got {self.buf[:300]!r}")

    def read_responses(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return [self.read_response(max(0.001, deadline - time.monotonic())) for _ in range(n)]

    def wait_closed(self, timeout=None):
        """True if the server closes the connection within the time (bytes
        arriving meanwhile are kept)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.closed and self._fill(deadline):
            pass
        return self.closed

    def request(self, method="GET", target="/", headers=(), body=b"", timeout=None):
        """Send one well-formed HTTP/1.1 request and read its response."""
        lines = [f"{method} {target} HTTP/1.1", "Host: test"]
        lines += [f"{n}: {v}" for n, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, [method])
        return self.read_response(timeout)


# -- responses ------------------------------------------------------------------


class Response:
    """One parsed response: status, reason, version, headers (list of
    (name, value) str pairs in order), body (bytes, de-chunked), raw (the
    exact bytes it took on the wire)."""

    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw = raw

    def get_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def get(self, name, default=None):
        values = self.get_all(name)
        return values[0] if values else default

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} headers={self.headers} body={self.body[:80]!r}>"


class ResponseParseError(ValueError):
    pass


def _parse_chunked(data, start):
    """(body, end offset) of a chunked body starting at start, or None if
    incomplete."""
    body = bytearray()
    pos = start
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_field = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ResponseParseError(f"bad chunk size {size_field!r}")
        pos = eol + 2
        if size == 0:
            # trailers, up to an empty line
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return None
                line = data[pos:eol]
                pos = eol + 2
                if not line:
                    return bytes(body), pos
        if len(data) < pos + size + 2:
            return None
        body += data[pos:pos + size]
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ResponseParseError("chunk not followed by CRLF")
        pos += size + 2


def parse_responses(data, methods=None, eof=False, limit=None):
    """Split raw bytes into complete responses.  ``methods``: the request
    methods in order (a HEAD response has no body); 1xx responses do not
    use a method.  ``eof``: the connection is closed, so a response framed
    by the close is complete.  Returns (responses, rest)."""
    methods = list(methods or [])
    out = []
    pos = 0
    data = bytes(data)
    while pos < len(data) and (limit is None or len(out) < limit):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ResponseParseError(f"bad status line {lines[0]!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ResponseParseError(f"bad header line {line!r}")
            headers.append((name, value.strip(" \t")))
        body_start = end + 4
        lower = {n.lower(): v for n, v in headers}
        method = None
        if status >= 200 and methods:
            method = methods.pop(0)
        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            body, stop = b"", body_start
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            parsed = _parse_chunked(data, body_start)
            if parsed is None:
                break
            body, stop = parsed
        elif "content-length" in lower:
            n = int(lower["content-length"])
            if len(data) < body_start + n:
                break
            body, stop = data[body_start:body_start + n], body_start + n
        elif eof:
            body, stop = data[body_start:], len(data)
        else:
            break
        out.append(Response(version, status, reason, headers, body, data[pos:stop]))
        pos = stop
    return out, data[pos:]


def responses_in(data, methods=None, eof=True):
    """Every complete response in data (the connection assumed closed)."""
    return parse_responses(data, methods, eof=eof)[0]


def request_bytes(method="GET", target="/", headers=(("Host", "test"),), body=b"", version="1.1"):
    """A well-formed request; Content-Length added when body is not empty."""
    lines = [f"{method} {target} HTTP/{version}"] + [f"{n}: {v}" for n, v in headers]
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, sizes=None):
    """body as a chunked message body (pieces of the given sizes, else one)."""
    out = bytearray()
    pos = 0
    for size in (sizes or [len(body)]):
        piece = body[pos:pos + size]
        pos += len(piece)
        if piece:
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    if pos < len(body):
        out += b"%x\r\n" % (len(body) - pos) + body[pos:] + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


# -- a server in a child interpreter ------------------------------------------------------


# The script of a child server is CHILD_PROLOGUE, the test's part (which
# defines ``Server``, a component class, and may add to ``stats`` under
# ``lock``), then CHILD_EPILOGUE.
CHILD_PROLOGUE = r'''
import collections, faulthandler, gc, hashlib, json, signal, sys, threading
import hpsocket
from hpsocket import _core

faulthandler.register(signal.SIGUSR1, all_threads=True)
options = json.loads(sys.argv[1])
lock = threading.Lock()
stats = {"errors": [], "unraisable": []}
sys.unraisablehook = lambda args: stats["unraisable"].append(f"{args.exc_type.__name__}: {args.exc_value}")
'''

CHILD_EPILOGUE = r'''
srv = Server(**options)
srv.start("127.0.0.1", 0)
print("PORT", srv.listen_address[1], flush=True)
sys.stdin.read()            # until the test closes our stdin
srv.stop()
del srv
gc.collect()
stats["counters"] = _core._counters()
print("STATS", json.dumps(stats), flush=True)
'''


def child_fixture(script):
    """A pytest fixture: start(**options) runs the script's Server in a
    child interpreter (a ChildServer); every one is killed at the end."""

    @pytest.fixture
    def child(tmp_path):
        servers = []

        def start(**options):
            srv = ChildServer(tmp_path, script, **options)
            servers.append(srv)
            return srv

        yield start
        for srv in servers:
            srv.kill()

    return child


class ChildServer:
    """A server script in a child interpreter (a crash fails the test with
    its stderr instead of killing pytest), given options as JSON in argv[1].
    The script prints "PORT n", serves until its stdin closes, then prints
    "STATS {json}" with at least "errors" and "unraisable" (both must be
    empty)."""

    def __init__(self, tmp_path, script, **options):
        path = tmp_path / "stress_server.py"
        path.write_text(CHILD_PROLOGUE + script + CHILD_EPILOGUE)
        self.proc = subprocess.Popen([sys.executable, str(path), json.dumps(options)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=python_env())
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.port = int(line.split()[1])

    def alive(self):
        return self.proc.poll() is None

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def finish(self, timeout=60):
        """Stop the server; its stats.  Fails the test on a bad exit."""
        try:
            out, err = self.proc.communicate("", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(10)   # SIGUSR1: faulthandler's stacks on stderr
            try:
                out, err = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            pytest.fail(f"the server did not stop within {timeout} s; stderr:\n{err[-5000:]}")
        stats = None
        for line in out.splitlines():
            if line.startswith("STATS "):
                stats = json.loads(line[6:])
        assert self.proc.returncode == 0, f"server exit status {self.proc.returncode}; stderr:\n{err[-5000:]}"
        assert "Traceback" not in err, err[-5000:]
        assert stats is not None
        assert stats["errors"] == [] and stats["unraisable"] == [], stats
        return stats

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
