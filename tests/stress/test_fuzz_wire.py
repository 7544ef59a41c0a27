"""Wire fuzzing: random byte streams against every server type.

Each server (TcpServer, TcpPullServer, TcpPackServer with flag 0 and with a
flag, and the compat layer's TcpPull.HP_TcpPullServer with its demo-protocol
parser) echoes in a subprocess, so that a crash fails the test instead of
killing pytest.  For a bounded time (quick: ~5 s per server, --full: ~60 s)
several threads connect raw sockets and throw random bytes at it: random
lengths, random split points, sometimes a valid prefix (a correct pack
header, a demo header) followed by garbage, then a random ending (close,
half-close, reset, or just dropping the socket).  Meanwhile one
well-behaved connection echoes continuously and must stay intact, byte for
byte.  Afterwards the server must still serve a fresh connection, and must
stop cleanly: exit status 0, nothing reported through sys.unraisablehook,
every connection record and set_extra object released.
"""

import json
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from support import HOST, pack_frame, pack_header, python_env, recv_exact

pytestmark = pytest.mark.stress

PACK_FLAG = 0x169

SERVER = r'''
import gc, json, sys, threading, weakref
import hpsocket
from hpsocket import _core

kind = sys.argv[1]
stats = {"accepted": 0, "closed": 0, "extras": 0, "released": 0, "bytes": 0}
lock = threading.Lock()

def count(key, n=1):
    with lock:
        stats[key] += n

class Extra:
    pass

def released(_ref):
    count("released")

refs = set()

def attach(srv, conn_id):
    obj = Extra()
    r = weakref.ref(obj, lambda ref: (refs.discard(ref), released(ref)))
    refs.add(r)
    srv.set_extra(conn_id, obj)
    count("extras")

class Mixin:
    def on_accept(self, conn_id, fd):
        count("accepted")
        attach(self, conn_id)

    def on_close(self, conn_id, op, err):
        count("closed")

if kind == "push":
    class Srv(Mixin, hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            count("bytes", len(data))
            self.send(conn_id, data)
    srv = Srv()
elif kind == "pull":
    class Srv(Mixin, hpsocket.TcpPullServer):
        def on_receive(self, conn_id, length):
            data = self.fetch(conn_id, length)
            if data:
                count("bytes", len(data))
                self.send(conn_id, data)
    srv = Srv()
elif kind.startswith("pack"):
    flag = int(kind[4:] or "0", 0)
    class Srv(Mixin, hpsocket.TcpPackServer):
        def on_receive(self, conn_id, body):
            count("bytes", len(body))
            self.send(conn_id, body)
    srv = Srv(pack_header_flag=flag, max_pack_size=0x10000)
elif kind == "compat-pull":
    from hpsocket.compat import TcpPull
    import hpsocket.compat.pyhpsocket as HP

    class Compat(TcpPull.HP_TcpPullServer):
        EventDescription = TcpPull.HP_TcpPullServer.EventDescription

        @EventDescription
        def OnAccept(self, Sender, ConnID, Client):
            count("accepted")

        @EventDescription
        def OnClose(self, Sender, ConnID, Operation, ErrorCode):
            count("closed")

        @EventDescription
        def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
            self.Send(Sender, ConnID, raw)

        @EventDescription
        def OnReceiveBody(self, Sender, ConnID, Body):
            count("bytes", len(Body))
            if Body:
                self.Send(Sender, ConnID, Body)

    compat = Compat()
    srv = compat._core
else:
    raise SystemExit(f"unknown kind {kind}")

before = _core._counters()
if kind == "compat-pull":
    assert HP.HP_Server_Start(compat.Server, "127.0.0.1", 0)
else:
    srv.start("127.0.0.1", 0)
print("PORT", srv.listen_address[1], flush=True)
sys.stdin.read()            # until the test closes our stdin
srv.stop()
del srv
if kind == "compat-pull":
    del compat, Compat
gc.collect()
after = _core._counters()
stats["counters_before"] = before
stats["counters_after"] = after
stats["live_refs"] = len(refs)
print("STATS", json.dumps(stats), flush=True)
'''


class Server:
    def __init__(self, kind, tmp_path):
        path = tmp_path / "fuzz_server.py"
        path.write_text(SERVER)
        self.proc = subprocess.Popen([sys.executable, str(path), kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=python_env())
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.port = int(line.split()[1])

    def alive(self):
        return self.proc.poll() is None

    def finish(self, timeout=60):
        try:
            out, err = self.proc.communicate("", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"the server did not stop within {timeout} s; stderr:\n{err[-3000:]}")
        stats = None
        for line in out.splitlines():
            if line.startswith("STATS "):
                stats = json.loads(line[6:])
        return self.proc.returncode, stats, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


# -- framing of the well-behaved traffic ------------------------------------------


def frame(kind, body):
    """What to send for one message, and what the echo must be."""
    if kind.startswith("pack"):
        flag = int(kind[4:] or "0", 0)
        wire = pack_frame(body, flag)
        return wire, wire
    if kind == "compat-pull":
        wire = struct.pack("ii", random.getrandbits(31), len(body)) + body
        return wire, wire
    return body, body



class GoodClient(threading.Thread):
    """Echo round trips on one connection until stopped; every byte checked."""

    def __init__(self, kind, port, seed):
        super().__init__(daemon=True)
        self.kind, self.rng = kind, random.Random(seed)
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stop = threading.Event()
        self.rounds = 0
        self.error = None

    def round_trip(self):
        body = self.rng.randbytes(self.rng.choice([1, 7, 100, 1500, 4096, 20000]))
        wire, expect = frame(self.kind, body)
        self.sock.sendall(wire)
        got = recv_exact(self.sock, len(expect))
        assert got == expect, f"round {self.rounds}: echo differs"
        self.rounds += 1

    def run(self):
        try:
            while not self.stop.is_set():
                self.round_trip()
        except BaseException as exc:      # noqa: B036 - reported by the test
            self.error = exc

    def finish(self):
        self.stop.set()
        self.join(30)
        self.sock.close()


# -- the fuzzers ------------------------------------------------------------------


def garbage(kind, rng):
    """A random stream, sometimes starting with a valid prefix."""
    choice = rng.random()
    size = rng.choice([0, 1, 3, 4, 5, 8, 9, 64, 1000, 4096, 65536, rng.randrange(200_000)])
    data = rng.randbytes(size)
    if choice < 0.4:
        if kind.startswith("pack"):
            flag = int(kind[4:] or "0", 0) if rng.random() < 0.8 else rng.randrange(1024)
            n = rng.choice([0, 1, 10, 1000, 0x10000, 0x10001, 0x3FFFFF, rng.randrange(5000)])
            body = rng.randbytes(min(n, rng.randrange(2 * n + 2), 200_000))
            data = pack_header(n, flag) + body + data
        elif kind == "compat-pull":
            n = rng.choice([-1, -2 ** 31, 0, 1, 32, 1000, 2 ** 31 - 1, rng.randrange(5000)])
            body = rng.randbytes(max(0, min(n, rng.randrange(2 * max(n, 0) + 2), 200_000)))
            data = struct.pack("ii", rng.getrandbits(31), n) + body + data
    return data


def send_draining(sock, data):
    """Send data on a non-blocking socket, reading (and dropping) whatever
    the server echoes meanwhile so that neither side blocks.  False if the
    server closed the connection."""
    view = memoryview(data)
    limit = time.monotonic() + 5
    while view:
        _, w, _ = select.select([], [sock], [], 0.05)
        if w:
            try:
                n = sock.send(view[:65536])
            except (BlockingIOError, InterruptedError):
                n = 0
            view = view[n:]
        if not drain(sock):
            return False
        if time.monotonic() > limit:
            raise AssertionError("the server stopped reading for 5 s")
    return True


def drain(sock):
    try:
        while True:
            b = sock.recv(1 << 16)
            if not b:
                return False
    except (BlockingIOError, InterruptedError):
        return True


def fuzz_one(kind, port, rng, counts):
    sock = socket.socket()
    sock.settimeout(2)
    try:
        sock.connect((HOST, port))
    except OSError:
        counts["connect_errors"] += 1
        sock.close()
        return
    sock.setblocking(False)
    counts["connections"] += 1
    try:
        data = garbage(kind, rng)
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 2, 3, 7, 100, 1500, 65536, len(data)])
            if not send_draining(sock, data[pos:pos + step]):
                counts["closed_by_server"] += 1
                break
            counts["bytes"] += min(step, len(data) - pos)
            pos += step
            if rng.random() < 0.1:
                time.sleep(rng.random() * 0.01)
    except (ConnectionResetError, BrokenPipeError):
        counts["closed_by_server"] += 1
    end = rng.random()
    try:
        if end < 0.3:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset
        elif end < 0.5:
            sock.shutdown(socket.SHUT_WR)
            limit = time.monotonic() + 0.2
            while time.monotonic() < limit and drain(sock):
                select.select([sock], [], [], 0.05)
        elif end < 0.6:
            time.sleep(rng.random() * 0.05)
    except OSError:
        pass
    sock.close()


def fuzzer(kind, port, seed, deadline, counts):
    rng = random.Random(seed)
    try:
        while time.monotonic() < deadline:
            fuzz_one(kind, port, rng, counts)
    except BaseException as exc:       # noqa: B036 - reported by the test
        counts["error"] = repr(exc)


KINDS = ["push", "pull", "pack", f"pack{PACK_FLAG:#x}", "compat-pull"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", KINDS)
def test_wire_fuzz(kind, tmp_path, full_mode):
    duration = 60.0 if full_mode else 5.0
    seed = random.randrange(2 ** 32)
    print(f"\n[{kind}] seed {seed}")
    server = Server(kind, tmp_path)
    try:
        good = GoodClient(kind, server.port, seed)
        good.start()
        deadline = time.monotonic() + duration
        threads, all_counts = [], []
        for i in range(6):
            counts = dict(connections=0, bytes=0, connect_errors=0, closed_by_server=0)
            all_counts.append(counts)
            t = threading.Thread(target=fuzzer, args=(kind, server.port, seed + i + 1, deadline, counts),
                                 daemon=True)
            t.start()
            threads.append(t)
        while time.monotonic() < deadline:
            assert server.alive(), f"the {kind} server died: {server.proc.returncode}"
            assert good.error is None, f"the well-behaved connection failed: {good.error!r}"
            time.sleep(0.1)
        for t in threads:
            t.join(30)
            assert not t.is_alive()
        errors = [c.pop("error") for c in all_counts if "error" in c]
        assert not errors, errors
        assert server.alive(), f"the {kind} server died: {server.proc.returncode}"
        rounds = good.rounds
        good.finish()
        assert good.error is None, f"the well-behaved connection failed: {good.error!r}"
        assert rounds > 0
        # still serving a new connection
        fresh = GoodClient(kind, server.port, seed + 100)
        for _ in range(20):
            fresh.round_trip()
        fresh.sock.close()
        total = {k: sum(c[k] for c in all_counts) for k in all_counts[0]}
        rc, stats, err = server.finish()
    finally:
        server.kill()
    print(f"[{kind}] {duration:.0f} s: {total['connections']} fuzz connections, "
          f"{total['bytes'] / 2 ** 20:.1f} MiB of garbage, {total['closed_by_server']} closed by the server, "
          f"{total['connect_errors']} connect errors; good connection: {rounds} round trips; "
          f"server stats {stats}")
    assert rc == 0, f"server exit status {rc}; stderr:\n{err[-3000:]}"
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    assert stats is not None
    assert total["connect_errors"] == 0
    assert stats["counters_after"]["conn_records"] <= stats["counters_before"]["conn_records"]
    assert stats["counters_after"]["in_flight"] == 0
    if kind != "compat-pull":
        assert stats["accepted"] == stats["closed"] == stats["extras"] == stats["released"], stats
        assert stats["live_refs"] == 0
        assert stats["accepted"] >= total["connections"] + 2
    else:
        assert stats["accepted"] == stats["closed"], stats
