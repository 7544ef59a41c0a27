"""``python -m hpsocket bench`` and its echo servers: a fast smoke test.

Runs the real benchmark (native loadgen, fresh server processes) with very
short windows, checks the tables and the JSON, that every echo server kind
starts, echoes and stops cleanly, and that failures are reported instead of
hanging the bench.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from hpsocket.bench import cli, servers

from support import ROOT, pack_frame, python_env, roundtrip, run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the benchmark needs Linux (epoll, /proc)")


@pytest.fixture(scope="module")
def native_paths():
    from hpsocket.bench import native
    try:
        return native.build()
    except native.BuildError as exc:
        pytest.skip("cannot build the native benchmark programs: %s" % exc)


def bench(*args, timeout=60):
    return run_python("-m", "hpsocket", "bench", *args, timeout=timeout, cwd=ROOT)


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


def test_quick_smoke(tmp_path, native_paths):
    out = tmp_path / "bench.json"
    proc = bench("--quick", "--duration", "0.3", "--warmup", "0.1",
                 "--scenarios", "1x64,16x64,128x4k,16x64p16",
                 "--servers", "native-push,hpsocket-push:1", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## hpsocket echo benchmark" in proc.stdout
    assert "HP-Socket 5.2" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["machine"]["hp_socket"].startswith("5.2")
    assert len(doc["runs"]) == 8
    for run in doc["runs"]:
        assert run["ok"], run
        assert run["errors"] == 0
        assert run["messages"] > 0
    for name in ("1x64", "16x64", "128x4k", "16x64p16"):
        rows = table_rows(proc.stdout, name)
        assert [r[0] for r in rows] == ["native-push", "hpsocket-push"]
        for r in rows:
            assert r[11] == "0" and r[12] == "1/1", r        # errors, ok runs
        med = doc["medians"][name]
        assert med["native-push"]["vs_native_push"] == pytest.approx(1.0)
        assert med["hpsocket-push:1"]["messages_per_s"] > 0
        assert med["hpsocket-push:1"]["cpu_us_per_msg"] is not None
    assert "### Summary: median messages/s" in proc.stdout
    # Latency beside throughput: every server and scenario, in the Markdown and the JSON.
    assert "### Summary: median latency p50 / p99 / p99.9, microseconds" in proc.stdout
    for name in ("1x64", "16x64", "128x4k", "16x64p16"):
        for label in ("native-push", "hpsocket-push:1"):
            m = doc["medians"][name][label]
            assert 0 < m["p50_us"] <= m["p99_us"] <= m["p999_us"], m
            assert "p999_us_vs_uvloop" in m


def test_other_kinds_smoke(tmp_path, native_paths):
    kinds = ["hpsocket-pack", "hpsocket-pull", "native-pack", "asyncio", "hpsocket-aio"]
    kinds += [k for k in ("ctypes-push", "uvloop", "hpsocket-aio-uvloop") if servers.available(k) is None]
    out = tmp_path / "bench.json"
    proc = bench("--duration", "0.3", "--warmup", "0.1", "--rounds", "1", "--scenarios", "16x64",
                 "--servers", ",".join(kinds), "--no-pin", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert [r["server"] for r in doc["runs"]] == kinds
    assert all(r["ok"] and r["errors"] == 0 and r["note"] == "" for r in doc["runs"]), doc["runs"]
    assert "pinning: off" in proc.stdout


def test_failure_is_reported(tmp_path, native_paths):
    out = tmp_path / "bench.json"
    proc = bench("--duration", "0.2", "--warmup", "0", "--rounds", "1", "--scenarios", "1x64",
                 "--servers", "hpsocket-push", "--startup-timeout", "0.001", "--json", str(out),
                 timeout=30)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout, "1x64")
    assert "FAILED" in rows[0][-1] and "PORT" in rows[0][-1]
    doc = json.loads(out.read_text())
    assert not doc["runs"][0]["ok"]


def test_dead_server_is_reported(monkeypatch, capsys, native_paths):
    """A server that announces a port nobody listens on: loadgen cannot
    connect, the run fails, and the bench carries on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    fake = [sys.executable, "-c",
            "import sys; print('PORT %d', flush=True); sys.stdin.read()" % port]
    monkeypatch.setattr(servers, "command", lambda *a, **k: fake)
    rc = cli.main(["--duration", "0.2", "--warmup", "0", "--rounds", "1",
                   "--scenarios", "1x64", "--servers", "asyncio", "--no-pin"])
    assert rc == 1
    row = table_rows(capsys.readouterr().out, "1x64")[0]
    assert "FAILED" in row[-1]


def test_parse():
    assert cli._parse_scenario("128x4k") == (128, 4096, 1)
    assert cli._parse_scenario("16x64p16") == (16, 64, 16)
    assert cli._parse_scenario("2x100p3") == (2, 100, 3)
    with pytest.raises(ValueError):
        cli._parse_scenario("fast")
    cols = cli._parse_servers("hpsocket-push:1,hpsocket-push:6,native-push", 0)
    assert [(c.label, c.kind, c.workers) for c in cols] == [
        ("hpsocket-push:1", "hpsocket-push", 1), ("hpsocket-push:6", "hpsocket-push", 6),
        ("native-push", "native-push", None)]
    with pytest.raises(ValueError):
        cli._parse_servers("asyncio:2", 0)
    with pytest.raises(ValueError):
        cli._parse_servers("nginx", 0)


def _echo_once(kind, port):
    body = os.urandom(300)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if kind in servers.PACK_KINDS:
            want = pack_frame(body, servers.PACK_FLAG)
        else:
            want = body
        assert roundtrip(s, want) == want


@pytest.mark.parametrize("kind", [k for k in servers.KINDS if k != "ctypes-pull"])
def test_server_kind(kind, native_paths):
    why = servers.available(kind)
    if why:
        pytest.skip(why)
    argv = [sys.executable, "-m", "hpsocket.bench.servers", kind]
    if kind in servers.HP_KINDS:
        argv += ["--workers", "2"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=python_env(), cwd=ROOT)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT "), (line, proc.stderr.read() if proc.poll() is not None else "")
        _echo_once(kind, int(line.split()[1]))
        # A connection still open while the server stops.
        with socket.create_connection(("127.0.0.1", int(line.split()[1])), timeout=5):
            proc.stdin.close()
            assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
