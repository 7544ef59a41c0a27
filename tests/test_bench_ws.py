"""``python -m hpsocket bench --ws``: a fast smoke test, the load generator's
ws modes against servers that answer wrong, every server of the benchmark,
and the scenario parsing.

The smoke test runs the real benchmark (native loadgen, fresh server
processes) with very short windows and checks the tables and the JSON.
"""

import json
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from hpsocket.bench import ws as bench_ws
from hpsocket.bench import ws_apps, ws_check

from support import ROOT, python_env, run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the benchmark needs Linux (epoll, /proc)")

HOST = "127.0.0.1"
BINARY, TEXT, CLOSE = 0x2, 0x1, 0x8


@pytest.fixture(scope="module")
def native_paths():
    from hpsocket.bench import native
    try:
        return native.build()
    except native.BuildError as exc:
        pytest.skip("cannot build the native benchmark programs: %s" % exc)


def bench(*args, timeout=120):
    return run_python("-m", "hpsocket", "bench", "--ws", *args, timeout=timeout, cwd=ROOT)


def table_rows(stdout, scenario):
    """The data rows of one scenario's table, as lists of cells."""
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("### %s:" % scenario))
    rows = []
    for line in lines[start + 4:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def need(*kinds):
    for kind in kinds:
        why = bench_ws.available(kind)
        if why:
            pytest.skip(why)


# -- the benchmark ---------------------------------------------------------------------


def test_quick_smoke(tmp_path, native_paths):
    need("hpsocket-ws", "websockets")
    out = tmp_path / "ws.json"
    proc = bench("--quick", "--duration", "0.5", "--warmup", "0.1",
                 "--servers", "hpsocket-ws,websockets", "--scenarios", "16x64,broadcast20",
                 "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## hpsocket WebSocket benchmark" in proc.stdout
    assert "### Summary: median messages/s" in proc.stdout
    assert "### Summary: median latency p50 / p99 / p99.9" in proc.stdout
    doc = json.loads(out.read_text())
    assert [(r["scenario"], r["server"]) for r in doc["runs"]] == [
        ("16x64", "hpsocket-ws"), ("16x64", "websockets"),
        ("broadcast20", "hpsocket-ws"), ("broadcast20", "websockets")]
    for run in doc["runs"]:
        assert run["ok"], run
        assert run["errors"] == 0, run
        assert run["messages"] > 0, run
        assert run["server_cpu_s"] is not None and run["window_s"] > 0, run
    for name in ("16x64", "broadcast20"):
        rows = table_rows(proc.stdout, name)
        assert [r[0] for r in rows] == ["hpsocket-ws", "websockets"]
        for r in rows:
            assert r[-3] == "0" and r[-2] == "1/1", r        # errors, ok runs
        for kind in ("hpsocket-ws", "websockets"):
            m = doc["medians"][name][kind]
            assert m["rate"] > 0 and m["errors"] == 0, m
            assert 0 < m["p50_us"] <= m["p99_us"] <= m["p999_us"], m
            assert m["cpu_us_per_msg"] > 0, m
        assert doc["medians"][name]["websockets"]["vs_websockets"] == pytest.approx(1.0)
    # A broadcast reaches every one of the 20 connections.
    for run in doc["runs"][2:]:
        assert run["deliveries"] == pytest.approx(20 * run["messages"], abs=20), run
        assert run["deliveries_per_s"] > run["messages_per_s"], run
    assert doc["scenarios"]["broadcast20"] == {"kind": "broadcast", "connections": 20,
                                               "size": 64, "pipeline": 1}


def test_unavailable_server_is_shown(monkeypatch, capsys, native_paths):
    need("hpsocket-ws")
    real = bench_ws.available
    monkeypatch.setattr(bench_ws, "available",
                        lambda kind: "not here" if kind == "aiohttp" else real(kind))
    rc = bench_ws.main(["--duration", "0.2", "--warmup", "0", "--rounds", "1", "--no-pin",
                        "--scenarios", "1x64", "--servers", "hpsocket-ws,aiohttp"])
    assert rc == 1          # asked for by name, but not runnable here
    rows = table_rows(capsys.readouterr().out, "1x64")
    assert rows[0][0] == "hpsocket-ws" and rows[0][-2] == "1/1", rows[0]
    assert rows[1][0] == "aiohttp" and rows[1][-1] == "unavailable: not here", rows[1]
    assert len(rows[1]) == len(rows[0])


def test_bad_usage_exits_2():
    proc = bench("--scenarios", "nope", timeout=60)
    assert proc.returncode == 2
    assert "unknown scenario" in proc.stderr
    proc = bench("--servers", "nginx", timeout=60)
    assert proc.returncode == 2
    assert "unknown server" in proc.stderr
    proc = run_python("-m", "hpsocket", "bench", "--ws", "--http", timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "choose one" in proc.stderr


def test_parse_scenario():
    p = bench_ws.parse_scenario
    assert p("16x64") == {"kind": "echo", "connections": 16, "size": 64, "pipeline": 1}
    assert p("100x16k") == {"kind": "echo", "connections": 100, "size": 16384, "pipeline": 1}
    assert p("16x64p16") == {"kind": "echo", "connections": 16, "size": 64, "pipeline": 16}
    assert p("broadcast1000") == {"kind": "broadcast", "connections": 1000, "size": 64,
                                  "pipeline": 1}
    assert p("broadcast10x1kp4") == {"kind": "broadcast", "connections": 10, "size": 1024,
                                     "pipeline": 4}
    for name in bench_ws.DEFAULT_SCENARIOS:
        p(name)
    for bad in ("fast", "broadcast", "broadcast0", "0x64", "16x0", "16x64p0", "broadcast10p0"):
        with pytest.raises(ValueError):
            p(bad)


def test_loadgen_argv():
    argv = bench_ws._loadgen_argv("lg", 5000, bench_ws.parse_scenario("broadcast1000"), 1.0, 3.0)
    assert argv[:5] == ["lg", "--port", "5000", "--mode", "ws-broadcast"]
    assert argv[argv.index("--connections") + 1] == "1000"
    assert "--marks" in argv and "--json" in argv
    argv = bench_ws._loadgen_argv("lg", 5000, bench_ws.parse_scenario("16x64p16"), 1.0, 3.0)
    assert argv[argv.index("--mode") + 1] == "ws"
    assert argv[argv.index("--pipeline") + 1] == "16"


def test_accept_key_and_frames():
    # RFC 6455 1.3's worked example.
    assert ws_check.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert ws_check.frame(BINARY, b"abc", mask=False) == b"\x82\x03abc"
    assert ws_check.frame(BINARY, bytes(126), mask=False)[:4] == b"\x82\x7e\x00\x7e"
    assert ws_check.frame(BINARY, bytes(65536), mask=False)[:10] == \
        b"\x82\x7f" + struct.pack("!Q", 65536)
    f = ws_check.frame(TEXT, b"hello")
    assert f[:2] == b"\x81\x85"
    key, body = f[2:6], f[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == b"hello"


# -- servers that answer wrong -----------------------------------------------------------


class WrongServer:
    """A WebSocket echo server on 127.0.0.1 (one thread per connection)
    that gets one thing wrong: `fault` is one of FAULTS."""

    FAULTS = ("corrupt", "masked", "text", "close", "accept", "status", "fragment")

    def __init__(self, fault):
        self.fault = fault
        self.sock = socket.create_server((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def close(self):
        self.stopping = True
        self.acceptor.join(5)
        self.sock.close()
        for t in self.threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(10)
        buf = b""
        try:
            with conn:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                key = next(l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                           if l.lower().startswith(b"sec-websocket-key:"))
                accept = ws_check.accept_key(key + ("x" if self.fault == "accept" else ""))
                status = "403 Forbidden" if self.fault == "status" else "101 Switching Protocols"
                conn.sendall(("HTTP/1.1 %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\n\r\n" % (status, accept)).encode())
                if path == ws_apps.BROADCAST_PATH:
                    # Registered at once; every message then goes back to its sender only.
                    conn.sendall(ws_check.frame(TEXT, ws_apps.READY.encode(), mask=False))
                while True:
                    while True:
                        got = self._frame(buf)
                        if got is not None:
                            break
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    opcode, payload, buf = got
                    if opcode == CLOSE:
                        conn.sendall(ws_check.frame(CLOSE, payload, mask=False))
                        return
                    conn.sendall(self._answer(opcode, payload))
        except OSError:
            pass            # the client closed first: it saw the fault

    @staticmethod
    def _frame(buf):
        """(opcode, unmasked payload, rest of buf) of a client frame, or None."""
        if len(buf) < 2:
            return None
        n, pos = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < pos + 4 + n:
            return None
        key = buf[pos:pos + 4]
        body = bytes(b ^ key[i % 4] for i, b in enumerate(buf[pos + 4:pos + 4 + n]))
        return buf[0] & 0x0F, body, buf[pos + 4 + n:]

    def _answer(self, opcode, payload):
        if self.fault == "corrupt" and payload:
            i = min(10, len(payload) - 1)
            payload = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1:]
        elif self.fault == "masked":
            return ws_check.frame(opcode, payload, mask=True)
        elif self.fault == "text":
            opcode = TEXT
        elif self.fault == "close":
            return ws_check.frame(CLOSE, struct.pack("!H", 1009), mask=False)
        elif self.fault == "fragment":
            half = len(payload) // 2
            first = ws_check.frame(opcode, payload[:half], mask=False)
            last = ws_check.frame(0x0, payload[half:], mask=False)
            return bytes([first[0] & 0x7F]) + first[1:] + last
        return ws_check.frame(opcode, payload, mask=False)


#: fault -> what loadgen says about it.
LOADGEN_SAYS = {
    "corrupt": "message 0 byte 12: got 0x",
    "masked": "masked, a server must not mask",
    "text": "a text frame, binary was sent",
    "close": "the server sent a Close frame (code 1009)",
    "accept": "Sec-WebSocket-Accept",
    "status": "status line 'HTTP/1.1 403 Forbidden', expected HTTP/1.1 101",
    "fragment": "not a final frame",
}


@pytest.mark.parametrize("fault", WrongServer.FAULTS)
def test_loadgen_reports_a_wrong_server(fault, native_paths):
    with WrongServer(fault) as srv:
        proc = subprocess.run([native_paths["loadgen"], "--port", str(srv.port), "--mode", "ws",
                               "--size", "64", "--duration", "0.3", "--warmup", "0",
                               "--connect-timeout", "5", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert LOADGEN_SAYS[fault] in err, err
    res = json.loads(proc.stdout.decode().splitlines()[-1])
    assert res["errors"] >= 1 and res["mode"] == "ws"
    if fault in ("accept", "status"):
        assert res["handshake_errors"] == 1, res


def test_loadgen_echo_of_a_right_server(native_paths):
    """The same server without a fault: 1, 126 and 65536-byte messages
    (each length encoding), pipelined, end with a clean close."""
    with WrongServer("none") as srv:
        for size in ("1", "126", "65536"):
            proc = subprocess.run([native_paths["loadgen"], "--port", str(srv.port), "--mode",
                                   "ws", "--size", size, "--pipeline", "3", "--duration", "0.2",
                                   "--warmup", "0", "--connect-timeout", "5", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            assert proc.returncode == 0, proc.stderr.decode()
            res = json.loads(proc.stdout.decode().splitlines()[-1])
            assert res["messages"] > 0 and res["errors"] == 0, res


@pytest.mark.parametrize("fault", ["corrupt", "masked", "accept"])
def test_check_reports_a_wrong_server(fault):
    with WrongServer(fault) as srv:
        problems = ws_check.check(srv.port, timeout=2)
    assert problems and problems[0].startswith("/ws: "), problems


# -- the servers -------------------------------------------------------------------------


def read_port(proc, timeout=20):
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        assert left > 0, "no PORT line within %gs" % timeout
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = proc.stdout.read1(4096)
            assert chunk, "the server exited: %s" % proc.stderr.read().decode()
            buf += chunk
    line = buf.decode().splitlines()[0]
    assert line.startswith("PORT "), line
    return int(line.split()[1])


@pytest.mark.parametrize("kind", ws_apps.KINDS)
def test_server_kind(kind, native_paths):
    need(kind)
    proc = subprocess.Popen([sys.executable, "-m", "hpsocket.bench.ws_apps", kind],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=python_env(), cwd=ROOT)
    try:
        port = read_port(proc)
        assert ws_check.check(port) == []
        for mode, conns in (("ws", "4"), ("ws-broadcast", "50")):
            lg = subprocess.run([native_paths["loadgen"], "--port", str(port), "--mode", mode,
                                 "--connections", conns, "--duration", "0.2", "--warmup", "0",
                                 "--marks", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            assert lg.returncode == 0, (mode, lg.stderr.decode())
            lines = lg.stdout.decode().splitlines()
            assert lines[:2] == ["MARK start", "MARK end"], lines
            res = json.loads(lines[-1])
            assert res["messages"] > 0 and res["errors"] == 0, res
        # An upgrade to any other path is refused.
        with pytest.raises(ws_check.WSError, match="handshake answered"):
            ws_check.WSClient(port, "/nope", timeout=5)
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
