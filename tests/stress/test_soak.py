"""Soak: many short connections and a large volume of echoed bytes through
one Python echo server, watching that memory and the object count level off.

* cycles: a TcpAgent keeps up to PARALLEL connections in flight against a
  TcpServer echo; each connects, sends a message, checks the echo byte for
  byte and closes (quick: 2,000 cycles; --full: 100,000);
* bulk: the native loadgen (hpsocket.bench.native) echoes through a few
  connections of the same server, in rounds, until the total reaches the
  target (quick: 32 MiB; --full: 1 GiB), checking every byte;
* every accepted connection gets set_extra(conn_id, obj); a weakref to each
  obj counts its release, and all must be released;
* resident memory (/proc/self/statm: server and agent both live in this
  process) and len(gc.get_objects()) are sampled at intervals; over each
  phase the last quarter's mean must not exceed the second quarter's by more
  than a small bound.

The figures are printed (run with -s to see them) and written to
soak.json in the test's tmp directory.
"""

import gc
import json
import os
import random
import subprocess
import threading
import time
import weakref

import pytest

import hpsocket
from hpsocket import _core

from support import HOST, wait_for

pytestmark = pytest.mark.stress

PAGE = os.sysconf("SC_PAGE_SIZE")
PARALLEL = 64
SAMPLES = 20
# HP-Socket keeps a closed connection's socket object for free_socket_lock_time
# (default 10 s) before reusing or freeing it, so at ~10,000 cycles/s memory
# grows for the first 10 s whatever happens (measured: +48 MiB over 100,000
# cycles in 10 s, given back after stop).  1 s lets the soak see the level.
LOCK_MS = int(os.environ.get("HPSOCKET_SOAK_LOCK_MS", "1000"))


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Extra:
    """What each accepted connection carries."""

    __slots__ = ("conn_id", "payload", "__weakref__")

    def __init__(self, conn_id):
        self.conn_id = conn_id
        self.payload = bytearray(256)


class Tracker:
    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}              # id -> weakref (bounded: removed on release)
        self.attached = 0
        self.released = 0

    def attach(self, srv, conn_id):
        obj = Extra(conn_id)
        key = id(obj)
        ref = weakref.ref(obj, lambda _r, key=key: self._gone(key))
        with self.lock:
            self.live[key] = ref
            self.attached += 1
        srv.set_extra(conn_id, obj)

    def _gone(self, key):
        with self.lock:
            self.live.pop(key, None)
            self.released += 1


class EchoServer(hpsocket.TcpServer):
    def __init__(self, tracker, **kw):
        super().__init__(**kw)
        self.tracker = tracker
        self.closed = 0

    def on_accept(self, conn_id, fd):
        self.tracker.attach(self, conn_id)

    def on_receive(self, conn_id, data):
        self.send(conn_id, data)

    def on_close(self, conn_id, operation, error_code):
        self.closed += 1        # one connection's events never overlap; += under the GIL is fine here


class CycleAgent(hpsocket.TcpAgent):
    """connect -> send a message -> check the echo -> close, many times."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.slots = threading.Semaphore(PARALLEL)
        self.lock = threading.Lock()
        self.pending = {}           # conn_id -> [expected, received]
        self.done = 0
        self.closed = 0
        self.errors = []
        self.rng = random.Random(7)

    def on_connect(self, conn_id):
        with self.lock:
            msg = self.rng.randbytes(self.rng.randrange(1, 2048))
            self.pending[conn_id] = [msg, bytearray()]
        self.send(conn_id, msg)

    def on_receive(self, conn_id, data):
        with self.lock:
            entry = self.pending.get(conn_id)
        if entry is None:
            self.errors.append(f"data for unknown connection {conn_id}")
            return
        entry[1] += data
        if len(entry[1]) >= len(entry[0]):
            if bytes(entry[1]) != entry[0]:
                self.errors.append(f"connection {conn_id}: echo differs")
            else:
                with self.lock:
                    self.done += 1
            self.disconnect(conn_id)

    def on_close(self, conn_id, operation, error_code):
        with self.lock:
            entry = self.pending.pop(conn_id, None)
            self.closed += 1
        if entry is not None and len(entry[1]) < len(entry[0]):
            self.errors.append(f"connection {conn_id} closed early: {operation!r} {error_code}")
        self.slots.release()


def sample(samples, phase, **progress):
    gc.collect()
    samples.append(dict(phase=phase, t=round(time.monotonic(), 3), rss=rss(),
                        objects=len(gc.get_objects()),
                        conn_records=_core._counters()["conn_records"], **progress))


def levels_off(samples, key, rel, absolute):
    """(ok, q2, q4): the mean of the last quarter of samples is at most the
    mean of the second quarter plus rel * it plus absolute."""
    n = len(samples)
    q = max(1, n // 4)
    q2 = [s[key] for s in samples[q:2 * q]]
    q4 = [s[key] for s in samples[n - q:]]
    m2, m4 = sum(q2) / len(q2), sum(q4) / len(q4)
    return m4 <= m2 * (1 + rel) + absolute, m2, m4


def run_cycles(port, cycles, samples, deadline):
    agent = CycleAgent(worker_threads=2, free_socket_lock_time=LOCK_MS)
    agent.start()
    try:
        every = max(1, cycles // SAMPLES)
        for i in range(cycles):
            assert agent.slots.acquire(timeout=30), "no connection finished within 30 s"
            while True:
                try:
                    agent.connect(HOST, port)
                    break
                except hpsocket.HPSocketError:
                    # e.g. no ephemeral port free for a moment: retry
                    assert time.monotonic() < deadline, "cycles took too long"
                    time.sleep(0.01)
            if (i + 1) % every == 0:
                sample(samples, "cycles", cycles=i + 1, completed=agent.done)
            assert not agent.errors, agent.errors[:5]
        wait_for(lambda: agent.closed >= cycles, timeout=30)
        assert not agent.errors, agent.errors[:5]
        assert agent.done == cycles
    finally:
        agent.stop()
    return agent.done


def run_bulk(port, target, samples, full):
    from hpsocket.bench import native

    loadgen = native.build()["loadgen"]
    total = 0
    rounds = 0
    round_s = 0.25 if full else 0.1
    while total < target:
        r = subprocess.run([loadgen, "--host", HOST, "--port", str(port), "--connections", "4",
                            "--size", "65536", "--pipeline", "4", "--duration", str(round_s),
                            "--warmup", "0", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        assert r.returncode == 0, f"loadgen failed ({r.returncode}): {r.stderr[-2000:]}"
        result = json.loads(r.stdout)
        assert result["errors"] == 0 and result["mismatches"] == 0, result
        total += result["bytes"]
        rounds += 1
        sample(samples, "bulk", bytes=total, rounds=rounds)
    # at least a few samples per phase for the level check
    while sum(1 for s in samples if s["phase"] == "bulk") < 8:
        sample(samples, "bulk", bytes=total, rounds=rounds)
    return total, rounds


@pytest.mark.timeout(3600)
def test_soak(full_mode, tmp_path):
    cycles = 100_000 if full_mode else 2_000
    target = (1 << 30) if full_mode else (32 << 20)
    tracker = Tracker()
    samples = []
    t0 = time.monotonic()
    srv = EchoServer(tracker, worker_threads=2, max_connections=PARALLEL * 4, free_socket_lock_time=LOCK_MS)
    srv.start(HOST, 0)
    port = srv.listen_address[1]
    try:
        sample(samples, "start")
        done = run_cycles(port, cycles, samples, t0 + (1800 if full_mode else 120))
        t_cycles = time.monotonic() - t0
        wait_for(lambda: srv.connection_count == 0)
        total, rounds = run_bulk(port, target, samples, full_mode)
        t_bulk = time.monotonic() - t0 - t_cycles
        wait_for(lambda: srv.connection_count == 0)
        sample(samples, "end")
    finally:
        srv.stop()
    del srv
    gc.collect()
    wait_for(lambda: tracker.released == tracker.attached, timeout=10)
    sample(samples, "stopped")

    phases = {}
    for phase, key_rel_abs in [("cycles", None), ("bulk", None)]:
        ps = [s for s in samples if s["phase"] == phase]
        ok_rss, r2, r4 = levels_off(ps, "rss", 0.05, 2 << 20)
        ok_obj, o2, o4 = levels_off(ps, "objects", 0.01, 300)
        phases[phase] = dict(ok_rss=ok_rss, rss_q2=r2, rss_q4=r4, ok_objects=ok_obj,
                             objects_q2=o2, objects_q4=o4)
    report = dict(mode="full" if full_mode else "quick", cycles=done, echoed_bytes=total,
                  bulk_rounds=rounds, seconds_cycles=round(t_cycles, 1),
                  seconds_bulk=round(t_bulk, 1), extras_attached=tracker.attached,
                  extras_released=tracker.released, phases=phases, samples=samples)
    path = tmp_path / "soak.json"
    path.write_text(json.dumps(report, indent=1))
    mib = 1 << 20
    print(f"\nsoak ({report['mode']}): {done} cycles in {t_cycles:.1f} s "
          f"({done / t_cycles:.0f}/s), {total / mib:.0f} MiB echoed in {t_bulk:.1f} s "
          f"({rounds} loadgen rounds); extras {tracker.attached} attached, {tracker.released} released")
    for s in samples:
        prog = s.get("cycles", s.get("bytes", ""))
        if "bytes" in s:
            prog = f"{s['bytes'] / mib:.0f} MiB"
        print(f"  {s['phase']:8} {prog!s:>10}  rss {s['rss'] / mib:7.1f} MiB  objects {s['objects']:7d}"
              f"  conn_records {s['conn_records']}")
    for phase, p in phases.items():
        print(f"  {phase}: rss q2 {p['rss_q2'] / mib:.1f} -> q4 {p['rss_q4'] / mib:.1f} MiB, "
              f"objects q2 {p['objects_q2']:.0f} -> q4 {p['objects_q4']:.0f}")
    print(f"  figures: {path}")

    assert done == cycles
    assert total >= target
    assert tracker.attached >= cycles
    assert tracker.released == tracker.attached and not tracker.live
    for phase, p in phases.items():
        # Under AddressSanitizer freed memory sits in its quarantine, so the
        # resident size says nothing there; objects and extras still count.
        if "libasan" not in os.environ.get("LD_PRELOAD", ""):
            assert p["ok_rss"], f"{phase}: resident memory kept growing: {p}"
        assert p["ok_objects"], f"{phase}: the object count kept growing: {p}"
