"""Stress and fault tests that could crash or hang the interpreter, each in
a subprocess, so that a segfault or a hang fails the test instead of ending
pytest:

- every connection-addressed method on unknown, closed and reused
  connection ids, from many threads at once, beside load-generator traffic
  that must stay intact, and across a stop/start of the server;
- the interpreter exiting while traffic flows (exit code 0, promptly).
"""

import json
import subprocess
import sys
import time

import pytest

from support import python_env, run_python

MODELS = ("push", "pull", "pack")


def _loadgen_path():
    from hpsocket.bench import native
    return native.build()["loadgen"]


def _env(watchdog=60):
    return python_env(HPSOCKET_STRESS_WATCHDOG=str(watchdog))


# Shared by the scripts: the three echo servers.  A watchdog (bound:
# HPSOCKET_STRESS_WATCHDOG seconds) dumps every thread's stack and ends a
# hung script.
PRELUDE = r'''
import faulthandler, os, signal
faulthandler.dump_traceback_later(float(os.environ.get("HPSOCKET_STRESS_WATCHDOG", "60")), exit=True)
faulthandler.register(signal.SIGUSR1)   # the harness asks for the stacks of a hang
import collections, gc, json, os, random, socket, struct, subprocess, sys, threading, time, weakref
import hpsocket
from hpsocket import _core

FLAG = 0x169
BASES = {"push": hpsocket.TcpServer, "pull": hpsocket.TcpPullServer, "pack": hpsocket.TcpPackServer}


def options(model):
    return {"pack_header_flag": FLAG, "max_pack_size": 0x10000} if model == "pack" else {}


def frame(model, body):
    # the pack header: a uint32 in host byte order (tests/support.py's pack_header)
    return struct.pack("=I", (FLAG << 22) | len(body)) + body if model == "pack" else body


def loadgen_args(loadgen, port, model, conns, duration, warmup=0.3):
    args = [loadgen, "--host", "127.0.0.1", "--port", str(port), "--connections", str(conns),
            "--size", "1024", "--pipeline", "4", "--duration", str(duration),
            "--warmup", str(warmup), "--connect-timeout", "10", "--json"]
    if model == "pack":
        return args + ["--mode", "pack", "--pack-flag", str(FLAG)]
    return args + ["--mode", "raw"]


def make_echo(model):
    class Echo(BASES[model]):
        received = 0

        def on_receive(self, conn_id, data):
            if model == "pull":
                data = self.fetch(conn_id, data)
                if data is None:
                    return None
            self.received += 1
            r = self.handle(conn_id, data)
            if r is not None:
                return r
            self.send(conn_id, data)
            return None

        def handle(self, conn_id, data):
            return None

    return Echo


def bounded(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            print(f"TIMEOUT waiting for {what}", flush=True)
            os._exit(3)
        time.sleep(0.005)
'''


ABUSE = PRELUDE + r'''
model, loadgen = sys.argv[1], sys.argv[2]
conns, duration, after = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
Echo = make_echo(model)


class Tok:
    pass


tokens = weakref.WeakSet()


class Srv(Echo):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.churn_ports = set()
        self.victims = {}                       # churn conn_id -> port
        self.load_ids = set()                   # the load generator's
        self.closed = collections.deque(maxlen=5000)

    # The handlers take no Python lock: each dict/set/deque operation is
    # atomic under the GIL.  With a lock that the hammering threads also take,
    # every on_close waited for a holder that was itself waiting for the GIL
    # behind a dozen busy threads, and stop() (500 closes on the one worker)
    # took minutes.
    def on_accept(self, conn_id, fd):
        port = self.remote_address(conn_id)[1]
        if port in self.churn_ports:
            self.churn_ports.discard(port)
            self.victims[conn_id] = port
        else:
            self.load_ids.add(conn_id)

    def on_close(self, conn_id, operation, error_code):
        self.victims.pop(conn_id, None)
        self.load_ids.discard(conn_id)
        self.closed.append(conn_id)


srv = Srv(**options(model))
srv.start("127.0.0.1", 0)
stopping = threading.Event()
ops = collections.Counter()
unexpected = []
HPSocketError = hpsocket.HPSocketError


def check(name, fn, *args, types=(), errors=(HPSocketError,)):
    try:
        r = fn(*args)
    except errors:
        ops[name + ":raised"] += 1
        return
    except BaseException as exc:
        unexpected.append(f"{name}{args[:1]}: {exc!r}")
        return
    if types and not isinstance(r, types):
        unexpected.append(f"{name}{args[:1]} returned {r!r}")
    ops[name + ":ok"] += 1


def pick_id(rng):
    # No Python lock: each of these reads is one operation under the GIL
    # (list() of a dict or set copies it without letting another thread
    # in).  With a lock the eight hammers and the churn threads formed a
    # convoy, each holder waiting for the GIL: after the restart the churn
    # could not make its 20 connections within the watchdog.
    kind = rng.random()
    if kind < 0.2:
        cid = rng.choice([0, 2**64 - 1, 2**63, rng.randint(10**9, 10**12)])
        return ("load" if cid in srv.load_ids else "unknown"), cid
    if kind < 0.45 and srv.closed:
        cid = rng.choice(srv.closed)     # a deque only grows, then stays at maxlen
        return ("load" if cid in srv.load_ids else "closed"), cid
    victims = list(srv.victims)
    if kind < 0.8 and victims:
        return "victim", rng.choice(victims)
    load_ids = list(srv.load_ids)
    if load_ids:
        return "load", rng.choice(load_ids)
    return "unknown", rng.randint(1, 2**40)


def hammer(seed):
    rng = random.Random(seed)
    body = os.urandom(300)
    buf = bytearray(64)
    while not stopping.is_set():
        kind, cid = pick_id(rng)
        read_only = kind == "load"      # never disturb the load generator's bytes
        op = rng.randrange(14)
        if op == 0 and not read_only:
            check("send", srv.send, cid, body[:rng.randint(1, 300)], types=bool)
        elif op == 1 and not read_only:
            check("send_packets", srv.send_packets, cid, [body[:10], body[:20]], types=bool)
        elif op == 2 and not read_only:
            check("disconnect", srv.disconnect, cid, rng.random() < 0.7, types=bool)
        elif op == 3 and model == "pull" and not read_only:
            check("fetch", srv.fetch, cid, rng.randint(1, 5000), types=(bytes, type(None)))
        elif op == 4 and model == "pull":
            check("peek", srv.peek, cid, rng.randint(1, 5000), types=(bytes, type(None)))
        elif op == 5 and model == "pull" and not read_only:
            check("fetch_into", srv.fetch_into, cid, buf, types=bool)
        elif op == 6:
            check("remote_address", srv.remote_address, cid, types=tuple)
        elif op == 7:
            check("local_address", srv.local_address, cid, types=tuple)
        elif op == 8:
            check("pending_data_length", srv.pending_data_length, cid, types=int)
        elif op == 9:
            tok = Tok()
            tokens.add(tok)
            check("set_extra", srv.set_extra, cid, tok)
        elif op == 10:
            check("get_extra", srv.get_extra, cid)
        elif op == 11:
            check("is_receive_paused", srv.is_receive_paused, cid, types=bool)
        elif op == 12:
            check("connect_period", srv.connect_period, cid, types=int)
        else:
            check("connection_ids", lambda _: srv.connection_ids, None, types=list)
            # Ids that are no ids at all are refused before any native call.
            check("bad_id", srv.send, rng.choice([-1, 2**64, "1", 1.5, None, True]), b"x",
                  errors=(ValueError, TypeError))


def churn(seed):
    rng = random.Random(seed)
    while not stopping.is_set():
        try:
            addr = srv.listen_address
        except HPSocketError:
            stopping.wait(0.005)    # stopped for a moment: no busy loop
            continue
        s = socket.socket()
        s.settimeout(2)
        try:
            s.bind(("127.0.0.1", 0))
            srv.churn_ports.add(s.getsockname()[1])
            s.connect(addr)
            for _ in range(rng.randint(0, 5)):
                s.sendall(frame(model, os.urandom(rng.randint(1, 2000))))
                s.recv(65536)           # echoes and hammer bytes: not checked
            how = rng.random()
            peer_closed = False
            if 0.3 <= how < 0.6:
                s.settimeout(0.05)      # left open a moment for the hammers
                try:
                    while s.recv(65536):
                        pass
                    peer_closed = True
                except OSError:
                    pass
            # Closed first by this side: mostly with a reset.  A graceful
            # close leaves the port in TIME_WAIT for 60 s, and thousands a
            # second exhaust the ephemeral ports (EADDRINUSE on bind, for
            # this test and the ones after it).
            if not peer_closed and (how < 0.3 or rng.random() < 0.9):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            s.close()


threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(8)]
threads += [threading.Thread(target=churn, args=(100 + i,), daemon=True) for i in range(3)]
port = srv.listen_address[1]
load = subprocess.Popen(loadgen_args(loadgen, port, model, conns, duration),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
for t in threads:
    t.start()
out, err = load.communicate(timeout=duration + 60)
result = {"loadgen_rc": load.returncode, "loadgen": json.loads(out.splitlines()[-1]) if out.strip() else None,
          "loadgen_stderr": err[-1500:]}

# Stop and start again under the hammering: old ids now name nothing, or
# (ids restart) somebody else's connection.
srv.stop()
srv.start("127.0.0.1", 0)
old_closed = len(srv.closed)
bounded(lambda: len(srv.closed) > old_closed + 20, 30, "churn after the restart")
end = time.monotonic() + after
while time.monotonic() < end:
    time.sleep(0.05)
srv.stop()
stopping.set()
for t in threads:
    t.join(30)
result["threads_alive"] = sum(t.is_alive() for t in threads)
result["ops"] = dict(ops)
result["unexpected"] = unexpected[:20]
result["n_unexpected"] = len(unexpected)
del srv
gc.collect()
result["tokens_alive"] = len(tokens)
result["counters"] = _core._counters()
print("RESULT " + json.dumps(result), flush=True)
'''


@pytest.mark.stress
@pytest.mark.parametrize("model", MODELS)
def test_connection_methods_on_bad_ids_from_many_threads(model, full_mode):
    conns, duration, after = (500, 12.0, 4.0) if full_mode else (100, 3.0, 1.0)
    watchdog = duration + after + 12
    # A hang is caught here first, with the child's native stacks (its own
    # watchdog, later, would only dump the Python ones and exit).
    proc = run_python(model, _loadgen_path(), conns, duration, after, source=ABUSE,
                      timeout=watchdog, env=_env(watchdog + 60), stacks_on_hang=True)
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads(lines[-1][len("RESULT "):])
    assert r["loadgen_rc"] == 0 and r["loadgen"] and r["loadgen"]["errors"] == 0, r
    assert r["n_unexpected"] == 0, r["unexpected"]
    assert r["threads_alive"] == 0
    ops = r["ops"]
    # Every kind of call really ran, both ways where both are possible.
    for name in ("send", "disconnect", "remote_address", "local_address", "pending_data_length",
                 "set_extra", "get_extra", "connect_period"):
        assert ops.get(name + ":ok", 0) > 0, (name, ops)
    for name in ("remote_address", "pending_data_length", "set_extra"):
        assert ops.get(name + ":raised", 0) > 0, (name, ops)
    assert ops.get("bad_id:raised", 0) > 0 and "bad_id:ok" not in ops, ops
    if model == "pull":
        for name in ("fetch", "peek", "fetch_into"):
            assert ops.get(name + ":ok", 0) + ops.get(name + ":raised", 0) > 0, (name, ops)
    # Nothing leaked: no native component, connection record or extra.
    assert r["tokens_alive"] == 0, r
    assert r["counters"]["live_native"] == 0 and r["counters"]["conn_records"] == 0, r["counters"]


EXIT = PRELUDE + r'''
model, variant = sys.argv[1], sys.argv[2]
Echo = make_echo(model)
blocked = threading.Event()


class Srv(Echo):
    def handle(self, conn_id, data):
        if data.startswith(b"#BLOCK#"):
            blocked.set()
            time.sleep(1.5)
        elif data.startswith(b"#STOP#"):
            self.stop()
            return hpsocket.HandleResult.ERROR
        return None


servers = [Srv(**options(model)) for _ in range(2)]
for s in servers:
    s.start("127.0.0.1", 0)
srv = servers[0]
print("PORT", srv.listen_address[1], flush=True)
bounded(lambda: srv.received >= 2000, 30, "traffic")

# Python traffic to the second server, from daemon threads, until the end.
def talk():
    try:
        with socket.create_connection(servers[1].listen_address, timeout=5) as c:
            while True:
                c.sendall(frame(model, b"x" * 100))
                c.recv(4096)
    except OSError:
        pass

for _ in range(3):
    threading.Thread(target=talk, daemon=True).start()
bounded(lambda: servers[1].received >= 100, 30, "python traffic")

if variant == "blocked_callback":
    # A handler is asleep in a worker thread while the interpreter exits.
    side = socket.create_connection(srv.listen_address)
    side.sendall(frame(model, b"#BLOCK#"))
    bounded(blocked.is_set, 10, "the blocking handler")
elif variant == "stop_in_callback":
    # A handler has just called stop(): its helper thread is stopping the
    # server while the interpreter exits.
    side = socket.create_connection(srv.listen_address)
    side.sendall(frame(model, b"#STOP#"))
elif variant == "daemon_threads":
    # Daemon threads keep calling into the servers during the exit.
    def busy(servers):
        i = 0
        while True:
            i += 1
            for s in servers:
                ids = s.connection_ids
                for cid in ids[:5]:
                    s.get_extra(cid)
                    try:
                        s.pending_data_length(cid)
                    except hpsocket.HPSocketError:
                        pass
                s.send(i % 50 + 10**9, b"x")
                if model == "pull" and ids:
                    try:
                        s.peek(ids[0], 1)
                    except hpsocket.HPSocketError:
                        pass
    for _ in range(4):
        threading.Thread(target=busy, args=(list(servers),), daemon=True).start()
    time.sleep(0.1)
del servers, srv
print("EXIT", flush=True)
'''


def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ == "test_interpreter_exit_with_live_traffic":
        variants = ("plain", "blocked_callback", "stop_in_callback", "daemon_threads")
        if metafunc.config.getoption("--full"):
            cases = [(m, v) for v in variants for m in MODELS]
        else:   # every model and every variant, not every pair
            cases = [(m, "plain") for m in MODELS] + [
                ("pull", "blocked_callback"), ("pack", "stop_in_callback"), ("push", "daemon_threads")]
        metafunc.parametrize("model,variant", cases)


@pytest.mark.stress
def test_interpreter_exit_with_live_traffic(model, variant):
    proc = subprocess.Popen([sys.executable, "-c", EXIT, model, variant], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(60))
    load = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line + proc.stderr.read()[-2000:] if proc.poll() is not None else line
        port = int(line.split()[1])
        args = [_loadgen_path(), "--host", "127.0.0.1", "--port", str(port), "--connections", "50",
                "--size", "512", "--pipeline", "4", "--duration", "60", "--warmup", "0", "--json"]
        if model == "pack":
            args += ["--mode", "pack", "--pack-flag", str(0x169)]
        load = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()      # the script decides when: traffic flows
        assert line.startswith("EXIT"), line
        t0 = time.monotonic()
        try:
            rest, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
            raise AssertionError(f"the interpreter did not exit within 20 s\n{err[-3000:]}")
        took = time.monotonic() - t0
        assert proc.returncode == 0, f"exit {proc.returncode}\n{rest[-1000:]}\n{err[-3000:]}"
        assert took < 5, f"the interpreter took {took:.1f} s to exit"
        assert "Fatal" not in err and "Traceback" not in err, err[-3000:]
        # The load generator sees its connections closed, and ends.
        out, lerr = load.communicate(timeout=30)
        assert load.returncode in (0, 1), lerr[-1000:]
        if out.strip():
            assert json.loads(out.splitlines()[-1])["mismatches"] == 0
    finally:
        for p in (proc, load):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()


SEND_VS_RESET = PRELUDE + r"""
model, rounds = sys.argv[1], int(sys.argv[2])


class Srv(BASES[model]):
    def on_close(self, conn_id, operation, error_code):    # any Python on_close
        pass


srv = Srv(**options(model))
srv.start("127.0.0.1", 0)
chunk = frame(model, b"x" * 60000)[4:] if model == "pack" else b"x" * 65536
results = collections.Counter()
for i in range(rounds):
    peer = socket.create_connection(srv.listen_address, timeout=10)
    bounded(lambda: srv.connection_ids, 10, "the connection")
    cid = srv.connection_ids[0]
    done = threading.Event()

    def pump():
        # An application thread pushing data to a client.
        for _ in range(2000):
            if not srv.send(cid, chunk):
                results["refused"] += 1
                break
        else:
            results["all_accepted"] += 1
        done.set()

    t = threading.Thread(target=pump)
    t.start()
    peer.recv(65536)                  # the server is writing to us now
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()                      # a reset while the worker sends
    t.join()
    bounded(lambda: srv.connection_count == 0, 10, "the close")
srv.stop()
print("OK", dict(results), flush=True)
"""


@pytest.mark.stress
@pytest.mark.parametrize("model", MODELS)
def test_send_from_a_thread_while_the_peer_resets(model, full_mode):
    """A thread calls send() on a connection whose peer resets it while a
    worker is writing to it.  send() must return (True or False).  The
    worker that is writing holds the connection's send lock when the write
    fails and closes the connection from there, calling on_close, which
    waits for the GIL: a send() holding the GIL while it waits for that lock
    deadlocked, so send() releases the GIL."""
    rounds = 300 if full_mode else 100
    proc = run_python(model, rounds, source=SEND_VS_RESET, timeout=60, env=_env(12 if not full_mode else 30))
    assert proc.returncode == 0 and "OK" in proc.stdout, (
        f"exit {proc.returncode} (a hang ends with the watchdog's stack dump)\n"
        f"{proc.stdout[-1000:]}\n{proc.stderr[-5000:]}")


DISCONNECT_IN_ACCEPT = PRELUDE + r"""
model, n = sys.argv[1], int(sys.argv[2])


class Srv(BASES[model]):
    def on_accept(self, conn_id, fd):
        # The id is published and another thread (an admin kicking a
        # client, say) disconnects it while on_accept is still running.
        t = threading.Thread(target=self.disconnect, args=(conn_id,))
        t.start()
        t.join()


srv = Srv(**options(model))
srv.start("127.0.0.1", 0)
for i in range(n):
    with socket.create_connection(srv.listen_address, timeout=5) as s:
        try:
            s.recv(1)
        except OSError:
            pass
bounded(lambda: srv.connection_count == 0, 10, "the closes")
srv.stop()
print("OK", flush=True)
"""


@pytest.mark.stress
@pytest.mark.parametrize("model", MODELS)
def test_disconnect_while_on_accept_runs(model):
    """disconnect(conn_id) from another thread while that connection's
    on_accept is still running must close it (or return False).  With the
    library's own Disconnect, HP-Socket called exit(70) ("Invalid request
    code", from CTcpServer::HandleAccept), ending the whole process;
    hpsocket shuts the socket down instead."""
    proc = run_python(model, 100, source=DISCONNECT_IN_ACCEPT, timeout=60, env=_env(20))
    assert proc.returncode == 0 and "OK" in proc.stdout, (
        f"exit {proc.returncode}\n{proc.stdout[-1000:]}\n{proc.stderr[-3000:]}")
