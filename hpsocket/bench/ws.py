"""``python -m hpsocket bench --ws``: the WebSocket benchmark.

Drives WebSocket servers with the native load generator in its ws modes
(``hpsocket/bench/native/loadgen.c``: every message a masked binary frame,
every echoed frame head and byte checked) and prints one Markdown table per
scenario, plus summaries.  Every server serves the same paths the same way
(``hpsocket.bench.ws_apps``): ``/ws`` echoes, ``/broadcast`` sends each
message to every connection on it.

- ``hpsocket-ws``: a subclass of ``hpsocket.HttpServer``, ``--workers``
  worker threads (default 1), broadcasting with one ``ws_broadcast`` call;
- ``websockets``: the ``websockets`` library's asyncio server, on uvloop
  when installed (the reference of the ratios);
- ``aiohttp``: ``aiohttp.web``'s ``WebSocketResponse``, on uvloop when
  installed;
- ``uvicorn``: uvicorn with uvloop, httptools and its ``websockets``
  implementation, one process, a raw ASGI app;
- ``hpsocket-asgi``: ``hpsocket.asgi`` on uvloop with the same ASGI app.

None compresses or pings.  A server whose package (or, for hpsocket-ws,
whose API) is missing is shown as unavailable, with the reason, and the
others still run.

Scenarios: ``CxS[pK]`` = C connections to ``/ws`` sending S-byte messages
(k = KiB), K in flight per connection (default 1, ping-pong); and
``broadcastN[xS][pK]`` = N connections to ``/broadcast``, one of which
sends S-byte messages (default 64), K in flight (default 1), each delivered
by the server to all N (the sender included).  The defaults: ``1x64``,
``16x64``, ``100x64``, ``1x16k``, ``16x16k``, ``100x16k``, ``16x64p16`` and
``broadcast1000``.

Method
------
For each scenario the runs alternate across the servers (A B C A B C ...,
``--rounds`` times).  Every run starts a fresh server process (in a session
of its own, pinned to CPU 0 with ``--pin``), then:

1. waits for its ``PORT <n>`` line;
2. checks its answers with a small client of its own
   (``hpsocket.bench.ws_check``): the handshake, echoes of binary messages
   of each length encoding and every byte value, a text message and
   pipelined messages, each as one unmasked frame of its type, the close
   handshake, and a broadcast to two connections; a server that answers
   wrong is reported, not measured;
3. runs loadgen once (pinned to CPU 1): it establishes the connections
   (handshakes included), sends for ``--warmup`` seconds unmeasured, then
   ``--duration`` seconds measured, then closes every connection with a
   Close.  It prints ``MARK start`` and ``MARK end`` as the measured window
   opens and closes, and at each the CPU time (utime + stime, children
   included) of every process of the server's session is read from
   ``/proc/<pid>/stat``: server CPU per message = the difference / the
   messages echoed in the window (per delivery for a broadcast); CPU share
   = the difference / the time between the marks.  The 1,000 handshakes of
   a broadcast scenario thus stay out of both;
4. stops the server (stdin closed and SIGTERM to its process group; SIGKILL
   after 5 s; any process left in its session is killed).

Throughput is messages echoed per second; for a broadcast, deliveries per
second (broadcasts completed x receivers).  Latency is per message, from
its send to its echo; for a broadcast, from its send to the last receiver
reading it.  A run fails on any loadgen error (a wrong byte or frame head,
a failed handshake, a reset or early close, a failed connect), a wrong
answer to the check, a server that dies or does not print ``PORT`` within
``--startup-timeout`` seconds, or a loadgen that has to be killed.
Failures are shown in the tables and never stop the benchmark.  Medians are
over the successful runs; ratios compare medians with the websockets
server's.

Exit status: 0 when every run succeeded, 1 when some failed (or a server
asked for by name is unavailable), 2 on bad usage or when the load
generator cannot be built, 130 when interrupted.
"""

import argparse
import json
import os
import platform
import re
import select
import statistics
import subprocess
import sys
import time

from . import native, ws_apps, ws_check
from .cli import _cpu_model, _dist_version, _fmt, _parse_scenario as _parse_cxs
from .http import _missing, _preexec, _Server, _session_cpu

__all__ = ["main", "parse_scenario", "DEFAULT_SCENARIOS", "SERVERS", "REFERENCE"]

#: Every server, in the order of the tables.
SERVERS = ws_apps.KINDS
#: What the ratios compare with.
REFERENCE = "websockets"

DEFAULT_SCENARIOS = ("1x64", "16x64", "100x64", "1x16k", "16x16k", "100x16k", "16x64p16",
                     "broadcast1000")

_FULL = {"duration": 3.0, "warmup": 1.0, "rounds": 3}
_QUICK = {"duration": 1.0, "warmup": 0.3, "rounds": 1}

# Bounds the connects and handshakes: 1,000 of them to a Python server
# take well under a second.
_CONNECT_TIMEOUT = 10.0
_BROADCAST_SIZE = 64

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PACKAGES = ("websockets", "aiohttp", "uvicorn", "uvloop", "httptools")


# ---------------------------------------------------------------------------
# Scenarios

def parse_scenario(name):
    """{"kind": "echo" or "broadcast", "connections", "size", "pipeline"}
    for a scenario name; ValueError if it is not one."""
    m = re.fullmatch(r"broadcast(\d+)(?:x(\d+)([kK]?))?(?:p(\d+))?", name)
    if m:
        conns = int(m.group(1))
        size = int(m.group(2)) * (1024 if m.group(3) else 1) if m.group(2) else _BROADCAST_SIZE
        pipeline = int(m.group(4) or 1)
        if conns < 1 or size < 1 or pipeline < 1:
            raise ValueError("bad scenario %r: every number must be >= 1" % name)
        return {"kind": "broadcast", "connections": conns, "size": size, "pipeline": pipeline}
    try:
        conns, size, pipeline = _parse_cxs(name)
    except ValueError:
        raise ValueError("bad scenario %r (e.g. 16x64, 100x16k, 16x64p16, broadcast1000)"
                         % name) from None
    return {"kind": "echo", "connections": conns, "size": size, "pipeline": pipeline}


def _size_text(size):
    return "%d KiB" % (size // 1024) if size >= 1024 and size % 1024 == 0 else "%d B" % size


def _describe(s):
    n = s["connections"]
    if s["kind"] == "broadcast":
        return ("%s connections on %s, one of them sending %s messages, %d in flight; each "
                "delivered to all %s (latency: to the last receiver)" % (
                    "{:,}".format(n), ws_apps.BROADCAST_PATH, _size_text(s["size"]),
                    s["pipeline"], "{:,}".format(n)))
    return "%s connection%s, %s binary messages, %d in flight each%s" % (
        "{:,}".format(n), "" if n == 1 else "s", _size_text(s["size"]), s["pipeline"],
        " (ping-pong)" if s["pipeline"] == 1 else "")


def _rate_key(s):
    """The throughput the tables rank by."""
    return "deliveries_per_s" if s["kind"] == "broadcast" else "messages_per_s"


# ---------------------------------------------------------------------------
# Servers

def available(kind):
    """None if the server kind can run here, else why not."""
    if kind == "hpsocket-ws":
        try:
            import hpsocket
        except ImportError as exc:
            return "hpsocket cannot be imported: %s" % exc
        if not hasattr(getattr(hpsocket, "HttpServer", None), "ws_broadcast"):
            return "hpsocket %s has no WebSocket support in HttpServer" % getattr(
                hpsocket, "__version__", "?")
        return None
    if kind == "hpsocket-asgi" and _missing("hpsocket.asgi"):
        return "hpsocket has no hpsocket.asgi module"
    needs = {"websockets": ("websockets",), "aiohttp": ("aiohttp",),
             "uvicorn": ("uvicorn", "httptools", "uvloop", "websockets"),
             "hpsocket-asgi": ("uvloop",)}[kind]
    m = _missing(*needs)
    if m:
        return "%s is not installed (pip install %s)" % (m, m)
    if "websockets" in needs and _missing("websockets.asyncio.server"):
        return "websockets %s is too old (13 or later has websockets.asyncio)" % (
            _dist_version("websockets") or "?")
    return None


def command(kind, workers, python=None):
    """The argv that starts a server of this kind (it prints 'PORT <n>')."""
    if kind not in SERVERS:
        raise ValueError("unknown server %r" % (kind,))
    argv = [python or sys.executable, "-m", "hpsocket.bench.ws_apps", kind]
    if kind == "hpsocket-ws":
        argv += ["--workers", str(workers)]
    return argv


# ---------------------------------------------------------------------------
# The load generator

def _loadgen_argv(loadgen, port, scenario, warmup, duration):
    mode = "ws-broadcast" if scenario["kind"] == "broadcast" else "ws"
    return [loadgen, "--port", str(port), "--mode", mode,
            "--connections", str(scenario["connections"]), "--size", str(scenario["size"]),
            "--pipeline", str(scenario["pipeline"]), "--warmup", repr(warmup),
            "--duration", repr(duration), "--connect-timeout", repr(_CONNECT_TIMEOUT),
            "--marks", "--json"]


def _run_loadgen(argv, cpu, sid, timeout):
    """Runs loadgen, reading the server session's CPU time at its marks.
    Returns (result dict or None, problem or '', server CPU seconds in the
    window or None, the window's wall seconds or None)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_preexec(cpu))
    marks = {}
    lines = []
    problem = ""
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = "loadgen did not finish within %gs, killed" % timeout
                break
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text in ("MARK start", "MARK end"):
                    # Read as soon as loadgen says: the window's bounds.
                    marks[text[5:]] = (_session_cpu(sid), time.monotonic())
                elif text:
                    lines.append(text)
    finally:
        if proc.poll() is None and problem:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            problem = problem or "loadgen did not exit, killed"
    err = " ".join(err.decode("utf-8", "replace").split())
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = None
    cpu_s = wall_s = None
    if "start" in marks and "end" in marks:
        (c0, t0), (c1, t1) = marks["start"], marks["end"]
        wall_s = t1 - t0
        if c0 is not None and c1 is not None:
            cpu_s = c1 - c0
    if result is None:
        return None, problem or "loadgen exit %s, no result: %s" % (
            proc.returncode, err[:300]), None, None
    if not problem and proc.returncode != 0:
        problem = "loadgen exit %s: %s" % (proc.returncode, err[:300])
    return result, problem, cpu_s, wall_s


_ERROR_KEYS = ("mismatches", "io_errors", "connect_errors", "handshake_errors")


# ---------------------------------------------------------------------------
# One run

def _run_once(kind, name, scenario, rnd, cfg, paths, env):
    run = {"scenario": name, "server": kind, "round": rnd, "ok": False, "errors": 0,
           "error_kinds": {k: 0 for k in _ERROR_KEYS}, "failure": "", "note": ""}
    cpus = cfg["pin_cpus"] or (None, None)
    srv = None
    try:
        srv = _Server(command(kind, cfg["workers"]), cpus[0], env)
        try:
            port = srv.wait_port(cfg["startup_timeout"])
        except RuntimeError as exc:
            run["failure"] = str(exc)
            return run

        problems = ws_check.check(port)
        if problems:
            run["failure"] = "wrong answers: " + "; ".join(problems)
            return run

        argv = _loadgen_argv(paths["loadgen"], port, scenario, cfg["warmup"], cfg["duration"])
        timeout = _CONNECT_TIMEOUT + cfg["warmup"] + cfg["duration"] + 20
        res, problem, cpu_s, wall_s = _run_loadgen(argv, cpus[1], srv.pid, timeout)
        alive = srv.proc.poll() is None
        if res is not None:
            for k in _ERROR_KEYS:
                run["error_kinds"][k] = int(res.get(k) or 0)
            run["errors"] = int(res.get("errors") or 0)
            for key in ("messages", "messages_per_s", "mb_per_s", "p50_us", "p99_us",
                        "p999_us", "duration_s", "connect_s", "deliveries",
                        "deliveries_per_s"):
                if key in res:
                    run[key] = res[key]
            if cpu_s is not None and wall_s and alive:
                count = res.get("deliveries") if scenario["kind"] == "broadcast" else \
                    res.get("messages")
                run["server_cpu_s"] = round(cpu_s, 4)
                run["window_s"] = round(wall_s, 4)
                run["server_cpu_util"] = round(cpu_s / wall_s, 4)
                if count:
                    run["cpu_us_per_msg"] = cpu_s * 1e6 / count
        if not alive:
            run["failure"] = "server died during the run (status %s): %s" % (
                srv.proc.returncode, srv.stderr_tail())
        elif problem:
            run["failure"] = problem
        elif run["errors"]:
            run["failure"] = "%d error(s): %s" % (run["errors"], _error_text(run["error_kinds"]))
        elif not run.get("messages"):
            run["failure"] = "no message completed in the measured window"
        else:
            run["ok"] = True
        return run
    except OSError as exc:
        run["failure"] = "could not run: %s" % exc
        return run
    finally:
        if srv is not None:
            run["note"] = srv.stop()


def _error_text(kinds):
    names = {"mismatches": "wrong bytes", "io_errors": "I/O", "connect_errors": "connect",
             "handshake_errors": "handshake"}
    parts = ["%s %d" % (names[k], v) for k, v in kinds.items() if v]
    return ", ".join(parts) if parts else "0"


# ---------------------------------------------------------------------------
# Results

_METRICS = ("messages_per_s", "deliveries_per_s", "p50_us", "p99_us", "p999_us",
            "cpu_us_per_msg", "server_cpu_util")


def _medians(runs):
    ok = [r for r in runs if r["ok"]]
    kinds = {k: sum(r["error_kinds"][k] for r in runs) for k in _ERROR_KEYS}
    out = {"runs": len(runs), "ok_runs": len(ok), "errors": sum(r["errors"] for r in runs),
           "error_kinds": kinds,
           "failures": [r["failure"] for r in runs if r["failure"]],
           "notes": sorted({r["note"] for r in runs if r["note"]})}
    for key in _METRICS:
        values = [r[key] for r in ok if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def _ratios(scenario, med):
    """Adds vs_websockets (throughput), and the latency and CPU per message
    as multiples of the websockets server's."""
    ref = med.get(REFERENCE)
    rate = _rate_key(scenario)
    for m in med.values():
        m["rate"] = m[rate]
        for key, out in ((rate, "vs_websockets"), ("p50_us", "p50_us_vs_websockets"),
                         ("p99_us", "p99_us_vs_websockets"), ("p999_us", "p999_us_vs_websockets"),
                         ("cpu_us_per_msg", "cpu_us_per_msg_vs_websockets")):
            mine, theirs = m[key], (ref[key] if ref else None)
            m[out] = mine / theirs if mine is not None and theirs else None


def _x(r):
    return "-" if r is None else "%.2fx" % r


def _table(name, scenario, kinds, med, unavailable, out):
    broadcast = scenario["kind"] == "broadcast"
    out("### %s: %s" % (name, _describe(scenario)))
    out("")
    if broadcast:
        out("| server | deliveries/s | broadcasts/s | p50 us | p99 us | p99.9 us "
            "| server CPU us/delivery | server CPU | x websockets | errors | ok runs | notes |")
        out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    else:
        out("| server | messages/s | p50 us | p99 us | p99.9 us | server CPU us/msg "
            "| server CPU | x websockets | errors | ok runs | notes |")
        out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for kind in kinds:
        m = med[kind]
        if kind in unavailable:
            out("| %s |%s unavailable: %s |" % (
                kind, " - |" * (10 if broadcast else 9), unavailable[kind].replace("|", "/")))
            continue
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
        errors = str(m["errors"])
        if m["errors"]:
            errors += " (%s)" % _error_text(m["error_kinds"])
        rate = _fmt(m["deliveries_per_s"]) + " | " + _fmt(m["messages_per_s"]) if broadcast \
            else _fmt(m["messages_per_s"])
        out("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d | %s |" % (
            kind, rate, _fmt(m["p50_us"]), _fmt(m["p99_us"]), _fmt(m["p999_us"]),
            _fmt(m["cpu_us_per_msg"], 2),
            "-" if m["server_cpu_util"] is None else "%.0f%%" % (100 * m["server_cpu_util"]),
            _x(m["vs_websockets"]), errors, m["ok_runs"], m["runs"], note))
    out("")


def _summary_table(title, names, kinds, results, unavailable, cell, out):
    out("### Summary: " + title)
    out("")
    out("| server | " + " | ".join(names) + " |")
    out("|---|" + "---:|" * len(names))
    for kind in kinds:
        cells = []
        for n in names:
            m = results[n][kind]
            if kind in unavailable:
                cells.append("unavailable")
            elif not m["ok_runs"]:
                cells.append("FAILED" if m["runs"] else "-")
            else:
                cells.append(cell(kind, m))
        out("| %s | %s |" % (kind, " | ".join(cells)))
    out("")


def _throughput_cell(kind, m):
    if kind == REFERENCE:
        return _fmt(m["rate"])
    return "%s (%s)" % (_fmt(m["rate"]), _x(m["vs_websockets"]))


def _latency_cell(kind, m):
    cell = "%s / %s / %s" % (_fmt(m["p50_us"]), _fmt(m["p99_us"]), _fmt(m["p999_us"]))
    r99, r999 = m["p99_us_vs_websockets"], m["p999_us_vs_websockets"]
    if r99 is not None and r999 is not None and kind != REFERENCE:
        cell += " (%.2fx, %.2fx)" % (r99, r999)
    return cell


def _cpu_cell(kind, m):
    r = m["cpu_us_per_msg_vs_websockets"]
    if kind == REFERENCE or r is None:
        return _fmt(m["cpu_us_per_msg"], 2)
    return "%s (%.2fx)" % (_fmt(m["cpu_us_per_msg"], 2), r)


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
        "packages": {p: _dist_version(p) for p in _PACKAGES},
        "pin": None if pin_cpus is None else {"server": pin_cpus[0], "loadgen": pin_cpus[1]},
        "loadavg": list(load) if load else None,
    }


def _header(machine, cfg, kinds, unavailable, out):
    out("## hpsocket WebSocket benchmark")
    out("")
    cpus, allowed = machine["cpus"], machine["cpus_allowed"]
    out("- machine: %s, %s CPU%s%s; %s; %s" % (
        machine["cpu_model"], cpus, "" if cpus == 1 else "s",
        "" if allowed in (None, cpus) else " (%s usable)" % allowed,
        machine["kernel"], machine["python"]))
    pk = machine["packages"]
    out("- hpsocket %s over HP-Socket %s; %s" % (
        machine["hpsocket"], machine["hp_socket"],
        ", ".join("%s %s" % (p, pk[p] or "not installed") for p in _PACKAGES)))
    pin = machine["pin"]
    out("- load generator: loadgen (C, one epoll thread, masked binary frames, every echoed "
        "frame head and byte checked); pinning: %s" % (
            "server on CPU %d, loadgen on CPU %d" % (pin["server"], pin["loadgen"])
            if pin else "off"))
    if machine["loadavg"]:
        out("- load average at start: %s" % " ".join("%.2f" % x for x in machine["loadavg"]))
    out("- method: per run a fresh server, its answers checked once, then one loadgen run: "
        "connections and handshakes, %gs of warm-up, %gs measured; %d round%s alternating "
        "across servers; medians of successful runs; server CPU = utime+stime of every "
        "process of the server's session from /proc/<pid>/stat over the measured window "
        "(handshakes excluded), per message (per delivery for a broadcast) and as a share "
        "of one CPU" % (cfg["warmup"], cfg["duration"], cfg["rounds"],
                        "" if cfg["rounds"] == 1 else "s"))
    out("- servers (no compression, no keep-alive pings; hpsocket-ws with %d worker "
        "thread%s):" % (cfg["workers"], "" if cfg["workers"] == 1 else "s"))
    for kind in kinds:
        if kind in unavailable:
            out("  - %s: unavailable: %s" % (kind, unavailable[kind]))
        else:
            out("  - %s: `%s`" % (kind, " ".join(command(kind, cfg["workers"],
                                                          python="python"))))
    out("")


# ---------------------------------------------------------------------------
# Arguments

def _build_parser():
    p = argparse.ArgumentParser(
        prog="python -m hpsocket bench --ws",
        description="WebSocket benchmark: hpsocket's HttpServer against the websockets "
                    "library, aiohttp and uvicorn, driven by the native load generator.",
        epilog="Servers: %s. Scenarios: CxS[pK] = C connections to /ws, S-byte messages "
               "(k = KiB), K in flight per connection (default 1); broadcastN[xS][pK] = N "
               "connections to /broadcast, one sending S-byte messages (default 64), K in "
               "flight, each delivered to all N. Default: %s."
               % (", ".join(SERVERS), ", ".join(DEFAULT_SCENARIOS)))
    p.add_argument("--servers", default=None,
                   help="comma-separated servers (default: all; those not installed are "
                        "shown as unavailable)")
    p.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                   help="comma-separated scenarios (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="short runs: --duration %g --warmup %g --rounds %d unless given"
                        % (_QUICK["duration"], _QUICK["warmup"], _QUICK["rounds"]))
    p.add_argument("--duration", type=float, default=None,
                   help="measured seconds per run (default %g)" % _FULL["duration"])
    p.add_argument("--warmup", type=float, default=None,
                   help="warm-up seconds per run (default %g)" % _FULL["warmup"])
    p.add_argument("--rounds", type=int, default=None,
                   help="runs per server and scenario (default %d)" % _FULL["rounds"])
    p.add_argument("--workers", type=int, default=1,
                   help="worker threads of hpsocket-ws (default %(default)s; 0 = the "
                        "library's default)")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument("--pin", dest="pin", action="store_true", default=None,
                     help="pin the server to CPU 0 and loadgen to CPU 1 "
                          "(default when there are >= 2 CPUs)")
    pin.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin")
    p.add_argument("--json", metavar="PATH", help="write every run and the medians as JSON")
    p.add_argument("--startup-timeout", type=float, default=15.0,
                   help="seconds a server has to come up (default %(default)s)")
    return p


def _split(text):
    return [s.strip() for s in text.split(",") if s.strip()]


# ---------------------------------------------------------------------------

def main(argv=None):
    parser = _build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    base = _QUICK if args.quick else _FULL
    cfg = {
        "duration": base["duration"] if args.duration is None else args.duration,
        "warmup": base["warmup"] if args.warmup is None else args.warmup,
        "rounds": base["rounds"] if args.rounds is None else args.rounds,
        "workers": args.workers,
        "startup_timeout": args.startup_timeout,
        "quick": args.quick,
    }
    if cfg["duration"] <= 0 or cfg["warmup"] < 0 or cfg["rounds"] < 1:
        parser.error("--duration must be > 0, --warmup >= 0, --rounds >= 1")
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    names = _split(args.scenarios)
    if not names:
        parser.error("no scenario given")
    if len(set(names)) != len(names):
        parser.error("a scenario is given twice")
    try:
        scenarios = {n: parse_scenario(n) for n in names}
    except ValueError as exc:
        parser.error("unknown scenario: %s" % exc)
    explicit = args.servers is not None
    kinds = _split(args.servers) if explicit else list(SERVERS)
    bad = [k for k in kinds if k not in SERVERS]
    if bad or not kinds:
        parser.error("unknown server(s) %s; servers: %s" % (
            ", ".join(bad) or "(none given)", ", ".join(SERVERS)))
    if len(set(kinds)) != len(kinds):
        parser.error("a server is given twice")

    try:
        paths = native.build()
    except native.BuildError as exc:
        print("bench --ws: cannot build the load generator: %s" % exc, file=sys.stderr)
        return 2

    pin = args.pin
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = []
    if pin is None:
        pin = len(allowed) >= 2
    elif pin and len(allowed) < 2:
        print("bench --ws: --pin needs two usable CPUs; running unpinned", file=sys.stderr)
        pin = False
    cfg["pin_cpus"] = (allowed[0], allowed[1]) if pin else None

    unavailable = {}
    for k in kinds:
        why = available(k)
        if why:
            unavailable[k] = why

    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")

    machine = _machine(cfg["pin_cpus"])
    out = print
    _header(machine, cfg, kinds, unavailable, out)
    sys.stdout.flush()

    runs = []
    runnable = [k for k in kinds if k not in unavailable]
    total = len(names) * cfg["rounds"] * len(runnable)
    done = 0
    interrupted = False
    started = time.monotonic()
    try:
        for name in names:
            for rnd in range(1, cfg["rounds"] + 1):
                for kind in runnable:
                    done += 1
                    r = _run_once(kind, name, scenarios[name], rnd, cfg, paths, env)
                    runs.append(r)
                    key = _rate_key(scenarios[name])
                    status = ("%s %s" % (_fmt(r.get(key)), key.replace("_per_s", "/s"))
                              if r["ok"] else "FAILED: %s" % r["failure"])
                    print("[%d/%d] %s %s round %d: %s%s" % (
                        done, total, name, kind, rnd, status,
                        " (%s)" % r["note"] if r["note"] else ""), file=sys.stderr)
                    sys.stderr.flush()
    except KeyboardInterrupt:
        interrupted = True
        print("bench --ws: interrupted; results so far follow", file=sys.stderr)

    results = {}
    for name in names:
        med = {k: _medians([r for r in runs if r["scenario"] == name and r["server"] == k])
               for k in kinds}
        for k in kinds:
            med[k]["kind"] = k
            if k in unavailable:
                med[k]["unavailable"] = unavailable[k]
        _ratios(scenarios[name], med)
        results[name] = med
        _table(name, scenarios[name], kinds, med, unavailable, out)
    if len(names) > 1:
        _summary_table("median messages/s (broadcast: deliveries/s), x websockets", names,
                       kinds, results, unavailable, _throughput_cell, out)
        _summary_table("median latency p50 / p99 / p99.9, microseconds (p99, p99.9 x "
                       "websockets; broadcast: to the last receiver)", names, kinds, results,
                       unavailable, _latency_cell, out)
        _summary_table("median server CPU per message (broadcast: per delivery), "
                       "microseconds (x websockets)", names, kinds, results, unavailable,
                       _cpu_cell, out)
    elapsed = time.monotonic() - started
    out("_%d runs in %.0fs_" % (len(runs), elapsed))
    sys.stdout.flush()

    if args.json:
        doc = {
            "machine": machine,
            "config": {k: v for k, v in cfg.items() if k != "pin_cpus"},
            "scenarios": scenarios,
            "servers": kinds,
            "unavailable": unavailable,
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
            print("bench --ws: cannot write %s: %s" % (args.json, exc), file=sys.stderr)
            return 1
    if interrupted:
        return 130
    if not all(r["ok"] for r in runs):
        return 1
    return 1 if explicit and unavailable else 0


if __name__ == "__main__":
    sys.exit(main())
