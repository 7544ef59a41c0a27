"""``python -m hpsocket bench --http``: the HTTP benchmark.

Drives HTTP servers with ``wrk`` (one thread) and prints one Markdown table
per scenario, plus a summary.  Every server answers the same routes with
the same bytes (``hpsocket.bench.http_apps``):

- ``native-http``: ``http_server``, C on HP-Socket's own HttpServer, no
  Python at all (``hpsocket/bench/native/http_server.c``): the ceiling;
- ``hpsocket-http``: a subclass of ``hpsocket.HttpServer``;
- ``uvicorn``: uvicorn with uvloop and httptools, one process, a raw ASGI
  app, no access log;
- ``granian-wsgi``: granian, WSGI interface, one worker, a raw WSGI app;
- ``aiohttp``: ``aiohttp.web`` in one process, on uvloop when installed;
- ``hpsocket-wsgi``: ``python -m hpsocket.wsgi`` with the raw WSGI app;
- ``hpsocket-asgi``: ``python -m hpsocket.asgi`` on uvloop with the raw ASGI
  app uvicorn serves, no access log;
- ``granian-asgi``: granian, ASGI interface, one worker, the same ASGI app.

A server whose package (or, for the hpsocket ones, whose API) is missing is
shown as unavailable, with the reason, and the others still run.

Scenarios (``SCENARIOS``): ``plaintext`` (GET /plaintext, 16 keep-alive
connections, one request in flight each), ``pipelined`` (the same, 16
requests per write), ``json`` (GET /json) and ``post64k`` (POST /echo with
a 64 KiB body, echoed back).

Method
------
For each scenario the runs alternate across the servers (A B C A B C ...,
``--rounds`` times).  Every run starts a fresh server process (in a session
of its own, pinned to CPU 0 with ``--pin``), then:

1. waits for it: a ``PORT <n>`` line from the servers that print one, else
   a successful connect to the port the driver picked for it;
2. checks its answers: GET /plaintext, GET /json and POST /echo (64 KiB of
   every byte value) once each over one ``http.client`` connection; a
   server that answers wrong is reported, not measured;
3. warm-up: one wrk run of ``--warmup`` seconds (numbers discarded, errors
   counted);
4. reads the CPU time (utime + stime, children included) of every process
   of the server's session from ``/proc/<pid>/stat``, runs wrk for
   ``--duration`` seconds, reads it again: CPU per request = the difference
   / the requests wrk completed; CPU share = the difference / wrk's wall
   time;
5. stops the server (stdin closed and SIGTERM to its process group; SIGKILL
   after 5 s; any process left in its session is killed).

wrk runs with one thread pinned to CPU 1, ``--timeout 5s``, and a Lua script
written by the driver that sets the method and body, sends 16 requests per
write for ``pipelined``, and prints one JSON line from ``done()``: requests,
duration, bytes, errors (connect, read, write, status >= 400, timeout) and
latency percentiles.  wrk is stopped with SIGINT after ``--duration``
seconds (its ``-d`` takes whole seconds only), so its own measured
duration is used for req/s.  With pipelining, wrk's latency is the time of
a whole batch of 16 (from its write to its last response), not of one
request, and its percentiles are unusable: wrk's correction for
coordinated omission spaces its synthetic samples by the mean time per
*request*, far below a batch's, and they land under the recorded minimum
(p90 and above come out as 0).  For that scenario the tables show the mean
latency of a batch instead, from Little's law (connections x duration /
batches).  For ``post64k`` a run whose bytes read fall short of 64 KiB per
request fails.

A run fails on any wrk error or non-2xx answer, a wrong answer to the
check, a server that dies, does not come up within ``--startup-timeout``
seconds, or a wrk that has to be killed.  Failures are shown in the tables
and never stop the benchmark.  Medians are over the successful runs;
ratios compare median req/s with uvicorn's and native-http's.

Exit status: 0 when every run succeeded, 1 when some failed (or a server
asked for by name is unavailable), 2 on bad usage or without wrk, 130 when
interrupted.
"""

import argparse
import ctypes
import http.client
import importlib.util
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from . import http_apps, native
from .cli import _cpu_model, _dist_version, _fmt, _tail

__all__ = ["main", "SCENARIOS", "SERVERS"]

#: name -> what wrk sends.
SCENARIOS = {
    "plaintext": {"method": "GET", "path": "/plaintext", "connections": 16, "pipeline": 1,
                  "body": 0},
    "pipelined": {"method": "GET", "path": "/plaintext", "connections": 16, "pipeline": 16,
                  "body": 0},
    "json": {"method": "GET", "path": "/json", "connections": 16, "pipeline": 1, "body": 0},
    "post64k": {"method": "POST", "path": "/echo", "connections": 16, "pipeline": 1,
                "body": 65536},
}
DEFAULT_SCENARIOS = ("plaintext", "pipelined", "json", "post64k")

#: Every server, in the order of the tables.
SERVERS = ("native-http", "hpsocket-http", "uvicorn", "granian-wsgi", "aiohttp",
           "hpsocket-wsgi", "hpsocket-asgi", "granian-asgi")

_FULL = {"duration": 3.0, "warmup": 1.0, "rounds": 3}
_QUICK = {"duration": 1.0, "warmup": 0.3, "rounds": 1}

_STOP_TIMEOUT = 5.0
_CHECK_TIMEOUT = 5.0
_WRK_TIMEOUT = "5s"
_HOST = "127.0.0.1"

_ASGI_TARGET = "hpsocket.bench.http_apps:asgi_app"
_WSGI_TARGET = "hpsocket.bench.http_apps:wsgi_app"

# What the checks POST to /echo: 64 KiB holding every byte value.
_CHECK_BODY = bytes((i * 167 + (i >> 8)) & 0xFF for i in range(65536))

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_JSON_MARK = "HPSOCKET_WRK "


# ---------------------------------------------------------------------------
# Servers

def _missing(*modules):
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                return m
        except (ImportError, ValueError):
            return m
    return None


def available(kind):
    """None if the server kind can run here, else why not."""
    if kind == "hpsocket-http":
        try:
            import hpsocket
        except ImportError as exc:
            return "hpsocket cannot be imported: %s" % exc
        if not hasattr(hpsocket, "HttpServer"):
            return "hpsocket %s has no HttpServer" % getattr(hpsocket, "__version__", "?")
        return None
    if kind in ("hpsocket-wsgi", "hpsocket-asgi"):
        if _missing(kind.replace("-", ".")):
            return "hpsocket has no %s module" % kind.replace("-", ".")
        return None if kind == "hpsocket-wsgi" else _missing_text("uvloop")
    needs = {"uvicorn": ("uvicorn", "httptools", "uvloop"), "granian-wsgi": ("granian",),
             "granian-asgi": ("granian",),
             "aiohttp": ("aiohttp",)}.get(kind, ())
    return _missing_text(*needs)


def _missing_text(*modules):
    m = _missing(*modules)
    if m:
        return "%s is not installed (pip install %s)" % (m, m)
    return None


def command(kind, port, workers, paths, python=None):
    """(argv, announces): the argv that starts a server of this kind, and
    whether it prints 'PORT <n>' (then it binds a port of its own; else it
    binds `port`)."""
    py = python or sys.executable
    if kind == "native-http":
        return [paths["http_server"], "--port", "0", "--workers", str(workers)], True
    if kind == "hpsocket-http":
        return [py, "-m", "hpsocket.bench.http_apps", "hpsocket-http",
                "--workers", str(workers)], True
    if kind == "aiohttp":
        return [py, "-m", "hpsocket.bench.http_apps", "aiohttp"], True
    if kind == "uvicorn":
        return [py, "-m", "uvicorn", _ASGI_TARGET, "--host", _HOST, "--port", str(port),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning"], False
    if kind == "granian-wsgi":
        return [py, "-m", "granian", "--interface", "wsgi", "--host", _HOST,
                "--port", str(port), "--workers", "1", "--http", "1", "--no-ws",
                "--log-level", "warning", _WSGI_TARGET], False
    if kind == "hpsocket-wsgi":
        # Its default request threads (8), as granian runs with its defaults.
        return [py, "-m", "hpsocket.wsgi", _WSGI_TARGET, "--host", _HOST, "--port", str(port)], False
    if kind == "hpsocket-asgi":
        return [py, "-m", "hpsocket.asgi", _ASGI_TARGET, "--host", _HOST, "--port", str(port),
                "--loop", "uvloop", "--no-access-log", "--log-level", "warning"], False
    if kind == "granian-asgi":
        return [py, "-m", "granian", "--interface", "asgi", "--host", _HOST,
                "--port", str(port), "--workers", "1", "--http", "1", "--no-ws",
                "--log-level", "warning", _ASGI_TARGET], False
    raise ValueError("unknown server %r" % (kind,))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# Processes

_PR_SET_PDEATHSIG = 1


def _find_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _find_prctl()


def _preexec(cpu):
    """In the child: pin to cpu (None: no pinning) and ask for SIGTERM when
    this process goes away, so no server outlives a killed benchmark."""
    def preexec():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return preexec


def _session(sid):
    """[(pid, cpu seconds)] of every process in session sid; cpu = utime +
    stime + the same of its reaped children."""
    tck = os.sysconf("SC_CLK_TCK")
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        try:
            if int(fields[3]) != sid:
                continue
            found.append((int(name), sum(int(x) for x in fields[11:15]) / tck))
        except (IndexError, ValueError):
            continue
    return found


def _session_cpu(sid):
    procs = _session(sid)
    return sum(cpu for _, cpu in procs) if procs else None


class _Server:
    """One server process, in a session of its own: started, waited for,
    stopped (with everything it started)."""

    def __init__(self, argv, cpu, env):
        self.errfile = tempfile.NamedTemporaryFile(prefix="hpsocket-bench-http-",
                                                   suffix=".err", delete=False)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.errfile, env=env, cwd=_PKG_PARENT,
                                         preexec_fn=_preexec(cpu), start_new_session=True)
        except BaseException:
            self.errfile.close()
            os.unlink(self.errfile.name)
            raise
        self.errfile.close()

    @property
    def pid(self):
        return self.proc.pid

    def stderr_tail(self):
        return _tail(self.errfile.name)

    def _died(self, when):
        try:
            rc = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            rc = "?"
        return RuntimeError("server exited (status %s) %s: %s" % (rc, when, self.stderr_tail()))

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
                    raise self._died("before PORT")
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        m = re.fullmatch(r"PORT (\d+)", line)
        if not m:
            raise RuntimeError("expected 'PORT <n>', got %r" % line)
        return int(m.group(1))

    def wait_listening(self, port, timeout):
        """Returns once a connect to port succeeds, or raises RuntimeError."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise self._died("before listening on port %d" % port)
            try:
                with socket.create_connection((_HOST, port), timeout=1):
                    return port
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise RuntimeError("not listening on port %d within %gs" % (port, timeout))
            time.sleep(0.05)

    def _killpg(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except OSError:
            return False

    def stop(self):
        """Closes stdin and sends SIGTERM to the process group; SIGKILL after
        5 s.  Returns a note ('' when the server stopped with status 0)."""
        note = ""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self._killpg(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                note = "did not stop on SIGTERM in %gs, killed" % _STOP_TIMEOUT
                self._killpg(signal.SIGKILL)
                rc = self.proc.wait()
            # Killed by the SIGTERM itself is a normal end (uvicorn re-raises it).
            if rc not in (0, -signal.SIGTERM) and not note:
                note = "exit status %s on stop" % rc
        self.close()
        return note

    def close(self):
        """Kills whatever is left of the session (a worker process that
        outlived its parent) and releases the pipes and the stderr file."""
        leftover = _session(self.proc.pid)
        if leftover:
            self._killpg(signal.SIGKILL)
            for pid, _ in leftover:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.unlink(self.errfile.name)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Checking the answers

def _check(port):
    """Problems with the server's answers to one request per route ([]
    when every status, content type and body is right)."""
    problems = []
    checks = [("GET", "/plaintext", None, http_apps.TEXT_TYPE, http_apps.PLAINTEXT),
              ("GET", "/json", None, http_apps.JSON_TYPE, http_apps.JSON),
              ("POST", "/echo", _CHECK_BODY, http_apps.BINARY_TYPE, _CHECK_BODY)]
    conn = http.client.HTTPConnection(_HOST, port, timeout=_CHECK_TIMEOUT)
    try:
        for method, path, body, ctype, want in checks:
            headers = {"Content-Type": http_apps.BINARY_TYPE} if body is not None else {}
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                got = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                problems.append("%s %s: %s" % (method, path, exc or type(exc).__name__))
                conn.close()
                continue
            if resp.status != 200:
                problems.append("%s %s: status %d" % (method, path, resp.status))
            if got != want:
                problems.append("%s %s: body of %d bytes %r%s, expected %d bytes" % (
                    method, path, len(got), got[:40], "..." if len(got) > 40 else "",
                    len(want)))
            got_type = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if got_type != ctype:
                problems.append("%s %s: Content-Type %r, expected %r" % (
                    method, path, resp.getheader("Content-Type"), ctype))
    finally:
        conn.close()
    return problems


# ---------------------------------------------------------------------------
# wrk

_LUA = r"""-- Written by python -m hpsocket bench --http for the scenario %(name)s.
local method, path, depth = "%(method)s", "%(path)s", %(depth)d
local body = %(body)s

wrk.method = method
wrk.path = path
wrk.body = body

if depth > 1 then
  -- Pipelining: one write carries `depth` requests; wrk counts them from
  -- the string and waits for as many responses before the next write.
  local batch
  function init(args)
    local one = {}
    for i = 1, depth do
      one[i] = wrk.format(method, path, {["Host"] = wrk.headers["Host"]}, body)
    end
    batch = table.concat(one)
  end
  function request()
    return batch
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"p999_us":%%d,' ..
    '"mean_us":%%.2f,"max_us":%%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""

# The bytes of the POST body wrk sends (the checks use _CHECK_BODY).
_WRK_BODY_UNIT = "0123456789abcdef"


def _lua_script(name, scenario):
    size = scenario["body"]
    if size:
        reps, rest = divmod(size, len(_WRK_BODY_UNIT))
        body = 'string.rep("%s", %d) .. "%s"' % (_WRK_BODY_UNIT, reps, _WRK_BODY_UNIT[:rest])
    else:
        body = "nil"
    return _LUA % {"name": name, "method": scenario["method"], "path": scenario["path"],
                   "depth": scenario["pipeline"], "body": body, "mark": _JSON_MARK}


def _wrk_version(wrk):
    try:
        proc = subprocess.run([wrk, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"wrk\s+(\S+)", proc.stdout.decode("utf-8", "replace"))
    return m.group(1) if m else None


def _run_wrk(wrk, script, port, scenario, duration, cpu):
    """Runs wrk for `duration` seconds (SIGINT then); returns (result dict
    or None, problem or '')."""
    argv = [wrk, "-t1", "-c%d" % scenario["connections"],
            "-d%ds" % (math.ceil(duration) + 2), "--timeout", _WRK_TIMEOUT, "-s", script,
            "http://%s:%d%s" % (_HOST, port, scenario["path"])]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_preexec(cpu))
    problem = ""
    try:
        try:
            out, err = proc.communicate(timeout=duration)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                problem = "wrk did not stop on SIGINT, killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode("utf-8", "replace")
    errtext = " ".join(err.decode("utf-8", "replace").split())
    result = None
    for line in text.splitlines():
        if line.startswith(_JSON_MARK):
            try:
                result = json.loads(line[len(_JSON_MARK):])
            except ValueError:
                result = None
    if result is None:
        return None, problem or "wrk exit %s, no result: %s" % (
            proc.returncode, (errtext or " ".join(text.split()))[:300])
    if not problem and proc.returncode not in (0, -signal.SIGINT):
        problem = "wrk exit %s: %s" % (proc.returncode, errtext[:300])
    return result, problem


_ERROR_KEYS = ("connect", "read", "write", "status", "timeout")


def _errors(res):
    return {k: int(res.get(k) or 0) for k in _ERROR_KEYS}


# ---------------------------------------------------------------------------
# One run

def _run_once(kind, name, scenario, rnd, cfg, paths, env, wrk, script):
    run = {"scenario": name, "server": kind, "round": rnd, "ok": False, "errors": 0,
           "error_kinds": {k: 0 for k in _ERROR_KEYS}, "failure": "", "note": ""}
    cpus = cfg["pin_cpus"] or (None, None)
    port = _free_port()
    argv, announces = command(kind, port, cfg["workers"], paths)
    srv = None
    try:
        srv = _Server(argv, cpus[0], env)
        try:
            if announces:
                port = srv.wait_port(cfg["startup_timeout"])
            else:
                srv.wait_listening(port, cfg["startup_timeout"])
        except RuntimeError as exc:
            run["failure"] = str(exc)
            return run

        problems = _check(port)
        if problems:
            run["failure"] = "wrong answers: " + "; ".join(problems)
            return run

        def count(res):
            for k, v in _errors(res).items():
                run["error_kinds"][k] += v
                run["errors"] += v

        if cfg["warmup"] > 0:
            warm, problem = _run_wrk(wrk, script, port, scenario, cfg["warmup"], cpus[1])
            if warm is not None:
                count(warm)
            if problem or srv.proc.poll() is not None:
                run["failure"] = "warm-up: " + (problem or "server died")
                if srv.proc.poll() is not None:
                    run["failure"] += "; server exited (status %s): %s" % (
                        srv.proc.returncode, srv.stderr_tail())
                return run

        cpu0 = _session_cpu(srv.pid)
        t0 = time.monotonic()
        res, problem = _run_wrk(wrk, script, port, scenario, cfg["duration"], cpus[1])
        wall = time.monotonic() - t0
        cpu1 = _session_cpu(srv.pid)
        alive = srv.proc.poll() is None
        if res is not None:
            count(res)
            requests = int(res.get("requests") or 0)
            dur = (res.get("duration_us") or 0) / 1e6
            run.update({
                "requests": requests,
                "duration_s": round(dur, 4),
                "requests_per_s": requests / dur if dur > 0 else None,
                "bytes": res.get("bytes"),
                "wrk_wall_s": round(wall, 4),
            })
            if scenario["pipeline"] == 1:
                for key in ("p50_us", "p99_us", "p999_us", "mean_us", "max_us"):
                    run[key] = res.get(key)
            else:
                # wrk's percentiles are not usable here (see _PIPELINED_LATENCY);
                # kept under other names, for the record only.
                for key in ("p50_us", "p99_us", "p999_us", "mean_us", "max_us"):
                    run["wrk_" + key] = res.get(key)
                batches = requests / scenario["pipeline"]
                if batches:
                    run["batch_mean_us"] = scenario["connections"] * dur * 1e6 / batches
            if cpu0 is not None and cpu1 is not None and alive:
                run["server_cpu_s"] = round(cpu1 - cpu0, 4)
                run["server_cpu_util"] = round((cpu1 - cpu0) / wall, 4) if wall > 0 else None
                if requests:
                    run["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / requests
        short = (res is not None and scenario["body"] and run.get("requests")
                 and (run.get("bytes") or 0) < run["requests"] * scenario["body"])
        if not alive:
            run["failure"] = "server died during the run (status %s): %s" % (
                srv.proc.returncode, srv.stderr_tail())
        elif problem:
            run["failure"] = problem
        elif run["errors"]:
            run["failure"] = "%d error(s): %s" % (run["errors"], _error_text(run["error_kinds"]))
        elif not run.get("requests"):
            run["failure"] = "no request completed"
        elif run["duration_s"] > cfg["duration"] + 1.0:
            # wrk's -d is only a backstop: the SIGINT did not end the run.
            run["failure"] = "wrk ran %.1fs instead of %gs" % (run["duration_s"],
                                                             cfg["duration"])
        elif short:
            run["failure"] = "short responses: %d bytes read for %d requests of %d bytes" % (
                run["bytes"], run["requests"], scenario["body"])
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
    parts = ["%s %d" % ("non-2xx" if k == "status" else k, v) for k, v in kinds.items() if v]
    return ", ".join(parts) if parts else "0"


# ---------------------------------------------------------------------------
# Results

_METRICS = ("requests_per_s", "p50_us", "p99_us", "p999_us", "batch_mean_us",
            "cpu_us_per_req", "server_cpu_util")

#: Why the pipelined scenario has no latency percentiles.
_PIPELINED_LATENCY = (
    "with pipelining wrk times a whole batch, and its correction for coordinated "
    "omission (which assumes one request per batch) adds synthetic samples that make its "
    "percentiles meaningless (p90 and above come out as 0), so the tables show the mean "
    "batch latency instead, from Little's law: connections x duration / batches")


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


def _ratios(kinds, med):
    for kind in kinds:
        m = med[kind]
        for ref, key in (("uvicorn", "vs_uvicorn"), ("native-http", "vs_native_http")):
            mine = m["requests_per_s"]
            theirs = med[ref]["requests_per_s"] if ref in med else None
            m[key] = mine / theirs if mine and theirs else None
        uv = med.get("uvicorn")
        for key in ("p50_us", "p99_us", "p999_us"):
            mine, theirs = m[key], (uv[key] if uv else None)
            m[key + "_vs_uvicorn"] = mine / theirs if mine is not None and theirs else None


def _x(r):
    return "-" if r is None else "%.2fx" % r


def _describe(scenario):
    s = scenario
    text = "%s %s, %d keep-alive connections" % (s["method"], s["path"], s["connections"])
    if s["body"]:
        text += ", %d KiB body echoed" % (s["body"] // 1024)
    if s["pipeline"] > 1:
        text += ", %d requests pipelined per write (latency per batch of %d)" % (
            s["pipeline"], s["pipeline"])
    else:
        text += ", one request in flight each"
    return text


def _table(name, scenario, kinds, med, unavailable, out):
    pipelined = scenario["pipeline"] > 1
    out("### %s: %s" % (name, _describe(scenario)))
    out("")
    lat_head = "batch latency mean us" if pipelined else "p50 us | p99 us | p99.9 us"
    lat_cols = 1 if pipelined else 3
    out("| server | req/s | %s | server CPU us/req | server CPU "
        "| vs uvicorn | vs native-http | errors | ok runs | notes |" % lat_head)
    out("|---|---:|" + "---:|" * lat_cols + "---:|---:|---:|---:|---:|---:|---|")
    for kind in kinds:
        m = med[kind]
        if kind in unavailable:
            out("| %s | -%s | - | - | - | - | - | - | unavailable: %s |"
                % (kind, " | -" * lat_cols, unavailable[kind].replace("|", "/")))
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
        if pipelined:
            latency = _fmt(m["batch_mean_us"])
        else:
            latency = "%s | %s | %s" % (_fmt(m["p50_us"]), _fmt(m["p99_us"]), _fmt(m["p999_us"]))
        out("| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d | %s |" % (
            kind, _fmt(m["requests_per_s"]), latency, _fmt(m["cpu_us_per_req"], 2),
            "-" if m["server_cpu_util"] is None else "%.0f%%" % (100 * m["server_cpu_util"]),
            _x(m["vs_uvicorn"]), _x(m["vs_native_http"]), errors, m["ok_runs"], m["runs"],
            note))
    out("")
    if pipelined:
        out("Latency: " + _PIPELINED_LATENCY + ".")
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
                cells.append(cell(m))
        out("| %s | %s |" % (kind, " | ".join(cells)))
    out("")


def _throughput_cell(m):
    return "%s (%s, %s)" % (_fmt(m["requests_per_s"]), _x(m["vs_uvicorn"]),
                            _x(m["vs_native_http"]))


def _latency_cell(m):
    if m["p50_us"] is None and m["batch_mean_us"] is not None:
        return "batch mean %s" % _fmt(m["batch_mean_us"])
    cell = "%s / %s / %s" % (_fmt(m["p50_us"]), _fmt(m["p99_us"]), _fmt(m["p999_us"]))
    r99, r999 = m.get("p99_us_vs_uvicorn"), m.get("p999_us_vs_uvicorn")
    if r99 is not None and r999 is not None and m.get("kind") != "uvicorn":
        cell += " (%.2fx, %.2fx)" % (r99, r999)
    return cell


def _machine(pin_cpus, wrk_version):
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
        "wrk": wrk_version,
        "packages": {p: _dist_version(p) for p in ("uvicorn", "httptools", "uvloop",
                                                    "granian", "aiohttp")},
        "pin": None if pin_cpus is None else {"server": pin_cpus[0], "wrk": pin_cpus[1]},
        "loadavg": list(load) if load else None,
    }


def _header(machine, cfg, kinds, unavailable, paths, out):
    out("## hpsocket HTTP benchmark")
    out("")
    cpus, allowed = machine["cpus"], machine["cpus_allowed"]
    out("- machine: %s, %s CPU%s%s; %s; %s" % (
        machine["cpu_model"], cpus, "" if cpus == 1 else "s",
        "" if allowed in (None, cpus) else " (%s usable)" % allowed,
        machine["kernel"], machine["python"]))
    pk = machine["packages"]
    out("- hpsocket %s over HP-Socket %s; uvicorn %s, httptools %s, uvloop %s, granian %s, "
        "aiohttp %s" % (machine["hpsocket"], machine["hp_socket"],
                        *[pk[p] or "not installed" for p in ("uvicorn", "httptools", "uvloop",
                                                             "granian", "aiohttp")]))
    pin = machine["pin"]
    out("- load generator: wrk %s, 1 thread, --timeout %s; pinning: %s" % (
        machine["wrk"] or "?", _WRK_TIMEOUT,
        "server on CPU %d, wrk on CPU %d" % (pin["server"], pin["wrk"]) if pin else "off"))
    if machine["loadavg"]:
        out("- load average at start: %s" % " ".join("%.2f" % x for x in machine["loadavg"]))
    out("- method: per run a fresh server, its answers checked once per route, a %gs "
        "warm-up wrk run, then a %gs measured run; %d round%s alternating across servers; "
        "medians of successful runs; server CPU = utime+stime of every process of the "
        "server's session from /proc/<pid>/stat over the measured run, per request and as "
        "a share of one CPU; pipelined latency: mean per batch (see below)" % (
            cfg["warmup"], cfg["duration"], cfg["rounds"], "" if cfg["rounds"] == 1 else "s"))
    out("- servers (worker threads of native-http and hpsocket-http: %d; hpsocket-wsgi with its "
        "default request threads):" % cfg["workers"])
    for kind in kinds:
        if kind in unavailable:
            out("  - %s: unavailable: %s" % (kind, unavailable[kind]))
            continue
        argv, _ = command(kind, 0, cfg["workers"], paths, python="python")
        if kind == "native-http":
            argv[0] = "http_server"
        text = " ".join(argv).replace("--port 0", "--port P") if kind in (
            "uvicorn", "granian-wsgi", "hpsocket-wsgi", "hpsocket-asgi", "granian-asgi") else " ".join(argv)
        out("  - %s: `%s`" % (kind, text))
    out("")


# ---------------------------------------------------------------------------
# Arguments

def _build_parser():
    p = argparse.ArgumentParser(
        prog="python -m hpsocket bench --http",
        description="HTTP benchmark: hpsocket's HttpServer and WSGI server against native C "
                    "on HP-Socket, uvicorn, granian and aiohttp, driven by wrk.",
        epilog="Servers: %s. Scenarios: %s." % (", ".join(SERVERS), ", ".join(
            "%s (%s)" % (n, _describe(SCENARIOS[n])) for n in DEFAULT_SCENARIOS)))
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
                   help="worker threads of native-http and hpsocket-http (default %(default)s)")
    pin = p.add_mutually_exclusive_group()
    pin.add_argument("--pin", dest="pin", action="store_true", default=None,
                     help="pin the server to CPU 0 and wrk to CPU 1 "
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
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        parser.error("unknown scenario(s) %s; scenarios: %s" % (
            ", ".join(bad) or "(none given)", ", ".join(SCENARIOS)))
    explicit = args.servers is not None
    kinds = _split(args.servers) if explicit else list(SERVERS)
    bad = [k for k in kinds if k not in SERVERS]
    if bad or not kinds:
        parser.error("unknown server(s) %s; servers: %s" % (
            ", ".join(bad) or "(none given)", ", ".join(SERVERS)))
    if len(set(kinds)) != len(kinds):
        parser.error("a server is given twice")

    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench --http: wrk (the HTTP load generator) is not installed; on Debian or "
              "Ubuntu: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2

    pin = args.pin
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = []
    if pin is None:
        pin = len(allowed) >= 2
    elif pin and len(allowed) < 2:
        print("bench --http: --pin needs two usable CPUs; running unpinned", file=sys.stderr)
        pin = False
    cfg["pin_cpus"] = (allowed[0], allowed[1]) if pin else None

    unavailable = {}
    paths = {}
    try:
        paths = native.build()
    except native.BuildError as exc:
        if "native-http" in kinds:
            unavailable["native-http"] = "cannot build http_server: %s" % (
                " ".join(str(exc).split())[:300])
    for k in kinds:
        if k != "native-http":
            why = available(k)
            if why:
                unavailable[k] = why

    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")

    machine = _machine(cfg["pin_cpus"], _wrk_version(wrk))
    out = print
    _header(machine, cfg, kinds, unavailable, paths, out)
    sys.stdout.flush()

    runs = []
    runnable = [k for k in kinds if k not in unavailable]
    total = len(names) * cfg["rounds"] * len(runnable)
    done = 0
    interrupted = False
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="hpsocket-bench-http-")
    try:
        for name in names:
            script = os.path.join(workdir, name + ".lua")
            with open(script, "w") as f:
                f.write(_lua_script(name, SCENARIOS[name]))
            for rnd in range(1, cfg["rounds"] + 1):
                for kind in runnable:
                    done += 1
                    r = _run_once(kind, name, SCENARIOS[name], rnd, cfg, paths, env, wrk,
                                  script)
                    runs.append(r)
                    status = ("%s req/s" % _fmt(r.get("requests_per_s")) if r["ok"]
                              else "FAILED: %s" % r["failure"])
                    print("[%d/%d] %s %s round %d: %s%s" % (
                        done, total, name, kind, rnd, status,
                        " (%s)" % r["note"] if r["note"] else ""), file=sys.stderr)
                    sys.stderr.flush()
    except KeyboardInterrupt:
        interrupted = True
        print("bench --http: interrupted; results so far follow", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results = {}
    for name in names:
        med = {k: _medians([r for r in runs if r["scenario"] == name and r["server"] == k])
               for k in kinds}
        for k in kinds:
            med[k]["kind"] = k
            if k in unavailable:
                med[k]["unavailable"] = unavailable[k]
        _ratios(kinds, med)
        results[name] = med
        _table(name, SCENARIOS[name], kinds, med, unavailable, out)
    if len(names) > 1:
        _summary_table("median req/s (x uvicorn, x native-http)", names, kinds, results,
                       unavailable, _throughput_cell, out)
        _summary_table("median latency p50 / p99 / p99.9, microseconds (p99, p99.9 x "
                       "uvicorn; pipelined: mean per batch of requests)", names, kinds, results,
                       unavailable, _latency_cell, out)
    elapsed = time.monotonic() - started
    out("_%d runs in %.0fs_" % (len(runs), elapsed))
    sys.stdout.flush()

    if args.json:
        doc = {
            "machine": machine,
            "config": {k: v for k, v in cfg.items() if k != "pin_cpus"},
            "scenarios": {n: SCENARIOS[n] for n in names},
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
            print("bench --http: cannot write %s: %s" % (args.json, exc), file=sys.stderr)
            return 1
    if interrupted:
        return 130
    if not all(r["ok"] for r in runs):
        return 1
    return 1 if explicit and unavailable else 0


if __name__ == "__main__":
    sys.exit(main())
