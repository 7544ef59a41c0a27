"""``python -m hpsocket bench``: the echo benchmark.

Drives echo servers (``hpsocket.bench.servers``: native C over
libhpsocket4c, hpsocket, the old ctypes binding, asyncio, uvloop) with the
native epoll load generator (``hpsocket.bench.native``) and prints one
Markdown table per scenario, plus a summary.

Method
------
For each scenario, the runs alternate across the servers: A B C A B C ...
(``--rounds`` times).  Every run starts a fresh server process, then:

1. warm-up: one loadgen run of ``--warmup`` seconds with the scenario's
   connections, size and pipeline (its numbers are discarded, but its
   errors are counted);
2. the server's CPU time (utime + stime of the whole process, all threads,
   from ``/proc/<pid>/stat``) is read;
3. measurement: a second loadgen run (``--warmup 0 --duration D``) with
   fresh connections;
4. the server's CPU time is read again once loadgen has exited.  CPU per
   message = the difference / the messages loadgen counted.  The window
   therefore also holds the measurement's connects and the closing drain
   (at most connections x pipeline echoes), which is small against D.
   The server's CPU share = the same difference / (loadgen's wall time
   minus its connect phase);
5. the server is stopped by closing its stdin (SIGTERM after 5 s, SIGKILL
   after 2 more); a server that does not stop cleanly is noted.

A run fails on any loadgen error (mismatch, reset, failed connect), a server
that dies, no ``PORT`` line within ``--startup-timeout`` seconds, or a
loadgen that has to be killed; failures are shown in the tables and never
stop the benchmark.  Medians are taken over the successful runs.  Ratios
compare medians of messages/s with native-push (the column with the same
worker count when there is one, else the first native-push column) and with
ctypes-push (likewise).

With ``--pin`` (the default on machines with two CPUs or more) the server is
pinned to the first CPU this process may use (CPU 0) and loadgen to the
second (CPU 1).  Exit status: 0 when every run succeeded, 1 when some failed,
2 on bad usage, 130 when interrupted.
"""

import argparse
import json
import os
import platform
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from . import native, servers

__all__ = ["main", "SCENARIOS", "DEFAULT_SERVERS"]

#: name -> (connections, size in bytes, messages in flight per connection)
SCENARIOS = {
    "1x64": (1, 64, 1),
    "16x64": (16, 64, 1),
    "16x4k": (16, 4096, 1),
    "128x64": (128, 64, 1),
    "128x4k": (128, 4096, 1),
    "16x64p16": (16, 64, 16),
}
DEFAULT_SCENARIOS = ("1x64", "16x64", "16x4k", "128x64", "128x4k", "16x64p16")
DEFAULT_SERVERS = ("native-push", "hpsocket-push", "hpsocket-pack", "hpsocket-pull",
                   "ctypes-push", "asyncio", "hpsocket-aio", "uvloop", "hpsocket-aio-uvloop")

_FULL = {"duration": 3.0, "warmup": 1.0, "rounds": 3}
_QUICK = {"duration": 1.0, "warmup": 0.3, "rounds": 1}

_CONNECT_TIMEOUT = 5.0
_STOP_TIMEOUT = 5.0

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------
# Arguments

class Column:
    """One column of the benchmark: a server kind and its worker count."""

    def __init__(self, label, kind, workers):
        self.label = label          # as given: "hpsocket-push:6"
        self.kind = kind
        self.workers = workers      # None: the library's default
        self.resolved_workers = None  # the default made explicit, HP kinds only

    def __repr__(self):
        return "Column(%r)" % self.label


def _parse_scenario(name):
    if name in SCENARIOS:
        return SCENARIOS[name]
    m = re.fullmatch(r"(\d+)x(\d+)([kK]?)(?:p(\d+))?", name)
    if not m:
        raise ValueError("bad scenario %r (e.g. 1x64, 128x4k, 16x64p16)" % name)
    conns, size = int(m.group(1)), int(m.group(2)) * (1024 if m.group(3) else 1)
    pipeline = int(m.group(4) or 1)
    if conns < 1 or size < 1 or pipeline < 1:
        raise ValueError("bad scenario %r: every number must be >= 1" % name)
    return conns, size, pipeline


def _parse_servers(text, default_workers):
    cols, seen = [], set()
    for item in [s.strip() for s in text.split(",") if s.strip()]:
        kind, sep, w = item.partition(":")
        if kind not in servers.KINDS:
            raise ValueError("unknown server %r; kinds: %s" % (kind, ", ".join(servers.KINDS)))
        workers = None
        if sep:
            if kind not in servers.HP_KINDS:
                raise ValueError("%s: a worker count applies to HP-Socket based servers only" % item)
            try:
                workers = int(w)
            except ValueError:
                raise ValueError("%s: the worker count must be an integer" % item) from None
            if workers < 1:
                raise ValueError("%s: the worker count must be >= 1" % item)
        elif default_workers and kind in servers.HP_KINDS:
            workers = default_workers
            item = "%s:%d" % (kind, workers)
        if item in seen:
            raise ValueError("server %s given twice" % item)
        seen.add(item)
        cols.append(Column(item, kind, workers))
    if not cols:
        raise ValueError("no server given")
    return cols


def _build_parser():
    p = argparse.ArgumentParser(
        prog="python -m hpsocket bench",
        description="Echo benchmark: hpsocket against native C, the ctypes binding, "
                    "asyncio and uvloop, driven by a native epoll load generator.",
        epilog="Server kinds: %s; append :W for W worker threads (HP-Socket based kinds), "
               "e.g. --servers hpsocket-push:1,hpsocket-push:6,native-push:1. "
               "Scenarios: CxS[pK] = C connections, S-byte messages (k = KiB), K in flight "
               "per connection (default 1, ping-pong); e.g. %s."
               % (", ".join(servers.KINDS), ", ".join(DEFAULT_SCENARIOS)))
    p.add_argument("--servers", default=None,
                   help="comma-separated server columns (default: %s; ctypes-push and uvloop "
                        "only when installed)" % ",".join(DEFAULT_SERVERS))
    p.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                   help="comma-separated scenarios (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="short runs: --duration %g --warmup %g --rounds %d unless given"
                        % (_QUICK["duration"], _QUICK["warmup"], _QUICK["rounds"]))
    p.add_argument("--duration", type=float, default=None,
                   help="measured seconds per run (default %g)" % _FULL["duration"])
    p.add_argument("--warmup", type=float, default=None,
                   help="warm-up seconds per run, before the measurement (default %g)"
                        % _FULL["warmup"])
    p.add_argument("--rounds", type=int, default=None,
                   help="runs per server and scenario (default %d)" % _FULL["rounds"])
    p.add_argument("--workers", type=int, default=0,
                   help="worker threads for HP-Socket based servers given without :W "
                        "(default 0: the library's default)")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument("--pin", dest="pin", action="store_true", default=None,
                     help="pin the server to CPU 0 and loadgen to CPU 1 "
                          "(default when there are >= 2 CPUs)")
    pin.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin")
    p.add_argument("--json", metavar="PATH", help="write every run and the medians as JSON")
    p.add_argument("--startup-timeout", type=float, default=10.0,
                   help="seconds a server has to print PORT (default %(default)s)")
    return p


# ---------------------------------------------------------------------------
# The machine

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _dist_version(name):
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:
        return None


def _machine(pin_cpus):
    import hpsocket

    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_allowed": allowed,
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "hpsocket": hpsocket.__version__,
        "hp_socket": ".".join(map(str, hpsocket.native_version)),
        "ctypes_binding": _dist_version("HPSocket"),
        "uvloop": _dist_version("uvloop"),
        "pin": None if pin_cpus is None else {"server": pin_cpus[0], "loadgen": pin_cpus[1]},
        "loadavg": list(load) if load else None,
    }


def _default_workers(cpu):
    """hpsocket's default worker thread count for an echo server (a class
    that handles on_receive) in a process pinned to cpu (None: unpinned).
    Every HP-Socket based server without an explicit count runs with it, the
    native C and ctypes ones included, so that they are compared at the same
    count (HP-Socket's own default would be 2 x CPUs + 2)."""
    code = ("import hpsocket\n"
            "class Echo(hpsocket.TcpServer):\n"
            "    def on_receive(self, conn_id, data): pass\n"
            "print(Echo().worker_threads)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
    try:
        out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=env, cwd=_PKG_PARENT,
                             preexec_fn=_affinity(cpu), timeout=60)
        return int(out.stdout.decode().strip()) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


# ---------------------------------------------------------------------------
# Processes

def _cpu_seconds(pid):
    """utime + stime of the whole process (every thread, alive or gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _affinity(cpu):
    if cpu is None:
        return None

    def preexec():
        os.sched_setaffinity(0, {cpu})
    return preexec


def _tail(path, limit=400):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return " ".join(text.split())


class _Server:
    """One server process: started, asked for its port, stopped."""

    def __init__(self, argv, cpu, env):
        self.errfile = tempfile.NamedTemporaryFile(prefix="hpsocket-bench-", suffix=".err",
                                                   delete=False)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errfile, env=env, cwd=_PKG_PARENT,
                                     preexec_fn=_affinity(cpu), start_new_session=True)
        self.errfile.close()

    @property
    def pid(self):
        return self.proc.pid

    def stderr_tail(self):
        return _tail(self.errfile.name)

    def wait_port(self, timeout):
        """The port from the 'PORT <n>' line, or raises RuntimeError."""
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no PORT line within %gs" % timeout)
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    rc = self.proc.wait(timeout=2)
                    raise RuntimeError("server exited (status %s) before PORT: %s"
                                       % (rc, self.stderr_tail()))
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        m = re.fullmatch(r"PORT (\d+)", line)
        if not m:
            raise RuntimeError("expected 'PORT <n>', got %r" % line)
        return int(m.group(1))

    def stop(self):
        """Closes stdin and waits; escalates to SIGTERM, then SIGKILL.
        Returns a note ('' when the server stopped cleanly with status 0)."""
        note = ""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            note = "did not stop on EOF in %gs" % _STOP_TIMEOUT
            self._signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=2)
                note += ", stopped by SIGTERM"
            except subprocess.TimeoutExpired:
                self.kill()
                rc = self.proc.wait()
                note += ", killed"
        if rc != 0 and not note:
            note = "exit status %s on stop" % rc
        self.close()
        return note

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:
            try:
                self.proc.send_signal(sig)
            except OSError:
                pass

    def kill(self):
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.unlink(self.errfile.name)
        except OSError:
            pass


def _loadgen(paths, port, scenario, warmup, duration, pack, cpu):
    """Runs loadgen once; returns (result dict or None, problem or '')."""
    conns, size, pipeline = scenario
    argv = [paths["loadgen"], "--port", str(port), "--connections", str(conns),
            "--size", str(size), "--pipeline", str(pipeline), "--warmup", repr(warmup),
            "--duration", repr(duration), "--connect-timeout", repr(_CONNECT_TIMEOUT), "--json"]
    if pack:
        argv += ["--mode", "pack", "--pack-flag", str(servers.PACK_FLAG)]
    timeout = _CONNECT_TIMEOUT + warmup + duration + 15
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=_affinity(cpu), timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "loadgen timed out after %gs" % timeout
    out = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    err = " ".join(proc.stderr.decode("utf-8", "replace").split())
    result = None
    if out:
        try:
            result = json.loads(out[-1])
        except ValueError:
            result = None
    if result is None:
        return None, "loadgen exit %d, no result: %s" % (proc.returncode, err[:300])
    if proc.returncode != 0:
        return result, "loadgen exit %d: %s" % (proc.returncode, err[:300])
    return result, ""


# ---------------------------------------------------------------------------
# One run

def _run_once(col, scenario_name, scenario, rnd, cfg, paths, env):
    run = {"scenario": scenario_name, "server": col.label, "kind": col.kind,
           "workers": col.workers, "round": rnd, "ok": False, "errors": 0,
           "failure": "", "note": ""}
    pack = col.kind in servers.PACK_KINDS
    cpus = cfg["pin_cpus"] or (None, None)
    argv = servers.command(col.kind, col.resolved_workers or 0, native_paths=paths)
    srv = None
    try:
        srv = _Server(argv, cpus[0], env)
        try:
            port = srv.wait_port(cfg["startup_timeout"])
        except RuntimeError as exc:
            run["failure"] = str(exc)
            return run

        if cfg["warmup"] > 0:
            warm, problem = _loadgen(paths, port, scenario, 0, cfg["warmup"], pack, cpus[1])
            if warm is not None:
                run["errors"] += int(warm.get("errors") or 0)
            if problem:
                run["failure"] = "warm-up: " + problem
                if srv.proc.poll() is not None:
                    run["failure"] += "; server died (status %s): %s" % (
                        srv.proc.returncode, srv.stderr_tail())
                return run

        cpu0 = _cpu_seconds(srv.pid)
        t0 = time.monotonic()
        res, problem = _loadgen(paths, port, scenario, 0, cfg["duration"], pack, cpus[1])
        wall = time.monotonic() - t0
        cpu1 = _cpu_seconds(srv.pid)
        alive = srv.proc.poll() is None
        if res is not None:
            run["errors"] += int(res.get("errors") or 0)
            for key in ("messages", "messages_per_s", "mb_per_s", "p50_us", "p99_us",
                        "p999_us", "duration_s", "connect_s", "mismatches", "io_errors",
                        "connect_errors"):
                run[key] = res.get(key)
            run["loadgen_wall_s"] = round(wall, 4)
            if cpu0 is not None and cpu1 is not None and alive:
                # Utilisation over loadgen's life minus its connect phase.
                busy = wall - (res.get("connect_s") or 0)
                run["server_cpu_s"] = round(cpu1 - cpu0, 4)
                run["server_cpu_util"] = round((cpu1 - cpu0) / busy, 4) if busy > 0 else None
                if res.get("messages"):
                    run["cpu_us_per_msg"] = (cpu1 - cpu0) * 1e6 / res["messages"]
        if not alive:
            run["failure"] = "server died during the run (status %s): %s" % (
                srv.proc.returncode, srv.stderr_tail())
        elif problem:
            run["failure"] = problem
        elif run["errors"]:
            run["failure"] = "%d error(s)" % run["errors"]
        else:
            run["ok"] = True
        return run
    except OSError as exc:
        run["failure"] = "could not run: %s" % exc
        return run
    finally:
        if srv is not None:
            if srv.proc.poll() is None:
                run["note"] = srv.stop()
            else:
                srv.close()
            srv.kill()


# ---------------------------------------------------------------------------
# Results

_METRICS = ("messages_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "cpu_us_per_msg",
            "server_cpu_util")


def _medians(runs):
    ok = [r for r in runs if r["ok"]]
    out = {"runs": len(runs), "ok_runs": len(ok), "errors": sum(r["errors"] for r in runs),
           "failures": [r["failure"] for r in runs if r["failure"]],
           "notes": sorted({r["note"] for r in runs if r["note"]})}
    for key in _METRICS:
        values = [r[key] for r in ok if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def _reference(col, cols, kind):
    same = [c for c in cols if c.kind == kind]
    if not same:
        return None
    for c in same:
        if c.resolved_workers is not None and c.resolved_workers == col.resolved_workers:
            return c
    return same[0]


def _ratios(cols, med):
    """Adds vs_native_push / vs_ctypes_push (ratio of median messages/s) and
    the labels of the columns compared with."""
    for c in cols:
        m = med[c.label]
        for kind, key in (("native-push", "native_push"), ("ctypes-push", "ctypes_push")):
            ref = _reference(c, cols, kind)
            m["vs_" + key] = None
            m["vs_" + key + "_ref"] = ref.label if ref else None
            if ref is None:
                continue
            mine, theirs = m["messages_per_s"], med[ref.label]["messages_per_s"]
            if mine and theirs:
                m["vs_" + key] = mine / theirs
        # Against the usual single-threaded alternative: throughput and tail
        # latency as multiples of uvloop's.
        uv = next((u for u in cols if u.kind == "uvloop"), None)
        m["kind"] = c.kind
        for key in ("messages_per_s", "p50_us", "p99_us", "p999_us"):
            mine = m[key]
            theirs = med[uv.label][key] if uv is not None else None
            m[key + "_vs_uvloop"] = mine / theirs if mine is not None and theirs else None


def _fmt(value, digits=0, unit=""):
    if value is None:
        return "-"
    if digits == 0:
        return "{:,.0f}{}".format(value, unit)
    return "{:,.{}f}{}".format(value, digits, unit)


def _ratio(m, key, col, by_label, footnotes):
    r = m.get("vs_" + key)
    if r is None:
        return "-"
    ref = by_label[m["vs_" + key + "_ref"]]
    if col.kind in servers.HP_KINDS and ref.resolved_workers != col.resolved_workers:
        note = "compared with %s (no %s column with the same worker count)" % (
            ref.label, ref.kind)
        if note not in footnotes:
            footnotes.append(note)
        return "%.2fx%s" % (r, "*" * (footnotes.index(note) + 1))
    return "%.2fx" % r


def _table(name, scenario, cols, med, out):
    conns, size, pipeline = scenario
    out("### %s: %d connection%s, %s B messages, %d in flight each%s"
        % (name, conns, "" if conns == 1 else "s", size, pipeline,
           " (ping-pong)" if pipeline == 1 else ""))
    out("")
    out("| server | workers | msg/s | MB/s | p50 us | p99 us | p99.9 us | server CPU us/msg "
        "| server CPU | vs native-push | vs ctypes-push | errors | ok runs | notes |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    by_label = {c.label: c for c in cols}
    footnotes = []
    for c in cols:
        m = med[c.label]
        if c.kind not in servers.HP_KINDS:
            workers = "-"
        elif c.workers is None:
            workers = "default (%s)" % (c.resolved_workers if c.resolved_workers else "?")
        else:
            workers = str(c.workers)
        notes = []
        if m["ok_runs"] == 0:
            notes.append("**FAILED**")
        notes += m["failures"][:2]
        if len(m["failures"]) > 2:
            notes.append("(+%d more failures)" % (len(m["failures"]) - 2))
        notes += m["notes"]
        note = "; ".join(notes).replace("|", "/")
        if len(note) > 240:
            note = note[:237] + "..."
        out("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d/%d | %s |" % (
            c.kind, workers, _fmt(m["messages_per_s"]), _fmt(m["mb_per_s"], 2),
            _fmt(m["p50_us"], 1), _fmt(m["p99_us"], 1), _fmt(m["p999_us"], 1),
            _fmt(m["cpu_us_per_msg"], 2),
            "-" if m["server_cpu_util"] is None else "%.0f%%" % (100 * m["server_cpu_util"]),
            _ratio(m, "native_push", c, by_label, footnotes),
            _ratio(m, "ctypes_push", c, by_label, footnotes),
            m["errors"], m["ok_runs"], m["runs"], note))
    out("")
    for i, note in enumerate(footnotes):
        out("%s %s  " % ("\\*" * (i + 1), note))
    if footnotes:
        out("")


def _summary_table(title, names, cols, results, cell, out):
    """One row per server, one column per scenario; cell(medians) formats a
    successful column's medians."""
    out("### Summary: " + title)
    out("")
    out("| server | " + " | ".join(names) + " |")
    out("|---|" + "---:|" * len(names))
    for c in cols:
        cells = []
        for n in names:
            m = results[n][c.label]
            if not m["ok_runs"]:
                cells.append("FAILED" if m["runs"] else "-")
            else:
                cells.append(cell(m))
        out("| %s | %s |" % (c.label, " | ".join(cells)))
    out("")


def _throughput_cell(m):
    r = m.get("vs_native_push")
    return _fmt(m["messages_per_s"]) + ("" if r is None else " (%.2fx)" % r)


def _latency_cell(m):
    cell = "%s / %s / %s" % (_fmt(m["p50_us"]), _fmt(m["p99_us"]), _fmt(m["p999_us"]))
    r99, r999 = m.get("p99_us_vs_uvloop"), m.get("p999_us_vs_uvloop")
    if r99 is not None and r999 is not None and m["kind"] != "uvloop":
        cell += " (%.2fx, %.2fx)" % (r99, r999)
    return cell


def _summary(names, cols, results, out):
    _summary_table("median messages/s (x native-push)", names, cols, results,
                   _throughput_cell, out)
    _summary_table("median latency p50 / p99 / p99.9, microseconds (p99, p99.9 x uvloop)",
                   names, cols, results, _latency_cell, out)


def _header(machine, cfg, cols, skipped, out):
    out("## hpsocket echo benchmark")
    out("")
    cpus = machine["cpus"]
    allowed = machine["cpus_allowed"]
    out("- machine: %s, %s CPU%s%s; %s; %s" % (
        machine["cpu_model"], cpus, "" if cpus == 1 else "s",
        "" if allowed in (None, cpus) else " (%s usable)" % allowed,
        machine["kernel"], machine["python"]))
    out("- hpsocket %s over HP-Socket %s; ctypes binding HPSocket %s; uvloop %s" % (
        machine["hpsocket"], machine["hp_socket"], machine["ctypes_binding"] or "not installed",
        machine["uvloop"] or "not installed"))
    pin = machine["pin"]
    out("- pinning: %s" % ("server on CPU %d, loadgen on CPU %d" % (pin["server"], pin["loadgen"])
                           if pin else "off"))
    if machine["loadavg"]:
        out("- load average at start: %s" % " ".join("%.2f" % x for x in machine["loadavg"]))
    out("- method: per run a fresh server, %gs warm-up loadgen run, then a %gs measured run; "
        "%d round%s alternating across servers; medians of successful runs; server CPU = "
        "utime+stime from /proc/<pid>/stat over the measured run, per message and as a share "
        "of one CPU (connect phase excluded)" % (
            cfg["warmup"], cfg["duration"], cfg["rounds"], "" if cfg["rounds"] == 1 else "s"))
    out("- servers: %s" % ", ".join(c.label for c in cols))
    for kind, why in skipped:
        out("- skipped %s: %s" % (kind, why))
    out("")


# ---------------------------------------------------------------------------

def main(argv=None):
    parser = _build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    base = _QUICK if args.quick else _FULL
    cfg = {
        "duration": base["duration"] if args.duration is None else args.duration,
        "warmup": base["warmup"] if args.warmup is None else args.warmup,
        "rounds": base["rounds"] if args.rounds is None else args.rounds,
        "startup_timeout": args.startup_timeout,
        "quick": args.quick,
    }
    if cfg["duration"] <= 0 or cfg["warmup"] < 0 or cfg["rounds"] < 1:
        parser.error("--duration must be > 0, --warmup >= 0, --rounds >= 1")
    if args.workers < 0:
        parser.error("--workers must be >= 0")

    try:
        names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        scenarios = {n: _parse_scenario(n) for n in names}
        if not names:
            raise ValueError("no scenario given")
        skipped = []
        if args.servers is None:
            kinds = []
            for k in DEFAULT_SERVERS:
                why = servers.available(k)
                if why:
                    skipped.append((k, why))
                else:
                    kinds.append(k)
            cols = _parse_servers(",".join(kinds), args.workers)
        else:
            cols = _parse_servers(args.servers, args.workers)
    except ValueError as exc:
        parser.error(str(exc))
    # Explicitly requested but not runnable here: keep the column, skip its runs.
    unavailable = {c.label: servers.available(c.kind) for c in cols if servers.available(c.kind)}
    for label, why in unavailable.items():
        skipped.append((label, why))

    pin = args.pin
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = []
    if pin is None:
        pin = len(allowed) >= 2
    elif pin and len(allowed) < 2:
        print("bench: --pin needs two usable CPUs; running unpinned", file=sys.stderr)
        pin = False
    cfg["pin_cpus"] = (allowed[0], allowed[1]) if pin else None

    default_w = _default_workers(cfg["pin_cpus"][0] if pin else None)
    for c in cols:
        if c.kind in servers.HP_KINDS:
            c.resolved_workers = c.workers if c.workers is not None else default_w

    try:
        paths = native.build()
    except native.BuildError as exc:
        print("bench: %s" % exc, file=sys.stderr)
        return 1

    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")

    machine = _machine(cfg["pin_cpus"])
    out = print
    _header(machine, cfg, cols, skipped, out)
    sys.stdout.flush()

    runs = []
    total = len(names) * cfg["rounds"] * sum(1 for c in cols if c.label not in unavailable)
    done = 0
    interrupted = False
    started = time.monotonic()
    try:
        for name in names:
            for rnd in range(1, cfg["rounds"] + 1):
                for c in cols:
                    if c.label in unavailable:
                        continue
                    done += 1
                    r = _run_once(c, name, scenarios[name], rnd, cfg, paths, env)
                    runs.append(r)
                    status = ("%s msg/s" % _fmt(r.get("messages_per_s")) if r["ok"]
                              else "FAILED: %s" % r["failure"])
                    print("[%d/%d] %s %s round %d: %s%s" % (
                        done, total, name, c.label, rnd, status,
                        " (%s)" % r["note"] if r["note"] else ""), file=sys.stderr)
                    sys.stderr.flush()
    except KeyboardInterrupt:
        interrupted = True
        print("bench: interrupted; results so far follow", file=sys.stderr)

    results = {}
    for name in names:
        med = {c.label: _medians([r for r in runs if r["scenario"] == name
                                  and r["server"] == c.label]) for c in cols}
        for c in cols:
            if c.label in unavailable:
                med[c.label]["failures"] = ["skipped: " + unavailable[c.label]]
        _ratios(cols, med)
        results[name] = med
        _table(name, scenarios[name], cols, med, out)
    if len(names) > 1:
        _summary(names, cols, results, out)
    elapsed = time.monotonic() - started
    out("_%d runs in %.0fs_" % (len(runs), elapsed))
    sys.stdout.flush()

    if args.json:
        doc = {
            "machine": machine,
            "config": {k: v for k, v in cfg.items() if k != "pin_cpus"},
            "scenarios": {n: dict(zip(("connections", "size", "pipeline"), scenarios[n]))
                          for n in names},
            "servers": [{"label": c.label, "kind": c.kind, "workers": c.workers,
                         "resolved_workers": c.resolved_workers} for c in cols],
            "skipped": [{"server": k, "reason": why} for k, why in skipped],
            "runs": runs,
            "medians": results,
            "elapsed_s": round(elapsed, 3),
            "interrupted": interrupted,
        }
        try:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
        except OSError as exc:
            print("bench: cannot write %s: %s" % (args.json, exc), file=sys.stderr)
            return 1
    if interrupted:
        return 130
    return 0 if all(r["ok"] for r in runs) and not unavailable else 1
