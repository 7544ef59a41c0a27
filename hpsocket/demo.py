"""``python -m hpsocket demo``: an echo server driven by an agent.

A TcpServer echoes whatever it receives; a TcpAgent opens a few connections
and keeps one message in flight on each (ping-pong) for a few seconds,
checking every echoed byte.  Prints what happened, the messages/s and the
round-trip latency percentiles.
"""

import argparse
import os
import threading
import time

import hpsocket


class EchoServer(hpsocket.TcpServer):
    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


class PingAgent(hpsocket.TcpAgent):
    """Sends ``message`` on each connection and again whenever it came back."""

    def __init__(self, message, **options):
        super().__init__(**options)
        self.message = message
        self.lock = threading.Lock()
        self.pending = {}      # conn_id -> bytes still expected of the echo
        self.done = 0
        self.errors = 0
        self.running = True
        self.connected = threading.Semaphore(0)
        self.closed = 0
        self.sent_at = {}      # conn_id -> perf_counter_ns() of the message in flight
        self.latencies = []    # round trips, nanoseconds

    def on_connect(self, conn_id):
        self.pending[conn_id] = b""
        self.connected.release()

    def on_receive(self, conn_id, data):
        with self.lock:
            buf = self.pending.get(conn_id, b"") + data
            n = len(self.message)
            while len(buf) >= n:
                if buf[:n] != self.message:
                    self.errors += 1
                buf = buf[n:]
                self.done += 1
                now = time.perf_counter_ns()
                if self.running:
                    self.latencies.append(now - self.sent_at[conn_id])
                    self.sent_at[conn_id] = now
                    self.send(conn_id, self.message)
            self.pending[conn_id] = buf

    def on_close(self, conn_id, operation, error_code):
        with self.lock:
            self.closed += 1


def run(connections=16, size=64, seconds=3.0, out=print):
    message = os.urandom(size)
    with EchoServer() as server, PingAgent(message) as agent:
        server.start("127.0.0.1", 0)
        host, port = server.listen_address
        out(f"hpsocket {hpsocket.__version__} over HP-Socket {'.'.join(map(str, hpsocket.native_version))}")
        out(f"echo server listening on {host}:{port}: {server.worker_threads} worker "
            f"thread{'s' if server.worker_threads != 1 else ''} (its on_receive runs Python; "
            f"this process may use {hpsocket.usable_cpus()} CPUs)")
        agent.start()
        for _ in range(connections):
            agent.connect(host, port)
        for _ in range(connections):
            if not agent.connected.acquire(timeout=10):
                raise SystemExit("demo: connections did not come up within 10 s")
        out(f"agent connected {connections} connections; server sees {server.connection_count}")
        start = time.perf_counter()
        with agent.lock:
            first = agent.done
            for conn_id in agent.connection_ids:
                agent.sent_at[conn_id] = time.perf_counter_ns()
        for conn_id in agent.connection_ids:
            agent.send(conn_id, message)
        time.sleep(seconds)   # the measurement window
        with agent.lock:
            done = agent.done - first
            agent.running = False
        elapsed = time.perf_counter() - start
        rate = done / elapsed
        out(f"{done} messages of {size} B echoed in {elapsed:.2f} s: {rate:,.0f} messages/s, "
            f"{rate * size * 2 / 1e6:.1f} MB/s both ways, {agent.errors} corrupted")
        with agent.lock:
            lat = sorted(agent.latencies)
        if lat:
            p50, p99, p999 = (lat[min(len(lat) - 1, int(q * len(lat)))] / 1000 for q in (0.5, 0.99, 0.999))
            out(f"round trip (agent and server in this one process): p50 {p50:,.0f} us, "
                f"p99 {p99:,.0f} us, p99.9 {p999:,.0f} us")
        agent.stop()
        out(f"agent stopped: {agent.closed} connections closed; server now has {server.connection_count}")
    out("server stopped")
    return {"messages": done, "messages_per_s": rate, "errors": agent.errors}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hpsocket demo", description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args(argv)
    result = run(a.connections, a.size, a.seconds)
    return 1 if result["errors"] or not result["messages"] else 0
