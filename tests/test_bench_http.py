"""``python -m hpsocket bench --http``: a fast smoke test, and the benchmark's
applications answering without a server.

The smoke test runs the real benchmark (wrk, a fresh native http_server per
run) with very short windows and checks the JSON; it is skipped where wrk is
not installed.
"""

import asyncio
import io
import json
import shutil
import sys

import pytest

from hpsocket.bench import http_apps

from support import ROOT, python_env, run_python

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the benchmark needs Linux (/proc, sched_setaffinity)")


@pytest.fixture(scope="module")
def native_paths():
    from hpsocket.bench import native
    try:
        return native.build()
    except native.BuildError as exc:
        pytest.skip("cannot build the native benchmark programs: %s" % exc)


@linux_only
def test_quick_smoke(tmp_path, native_paths):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    out = tmp_path / "http.json"
    proc = run_python("-m", "hpsocket", "bench", "--http", "--quick", "--duration", "0.3",
                      "--rounds", "1", "--servers", "native-http",
                      "--scenarios", "plaintext,post64k", "--json", str(out),
                      timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "## hpsocket HTTP benchmark" in proc.stdout
    assert "### plaintext:" in proc.stdout and "### post64k:" in proc.stdout
    doc = json.loads(out.read_text())
    assert len(doc["runs"]) == 2
    for run in doc["runs"]:
        assert run["ok"], run
        assert run["errors"] == 0, run
        assert run["requests"] > 0
    for name in ("plaintext", "post64k"):
        m = doc["medians"][name]["native-http"]
        assert m["requests_per_s"] > 0, m
        assert m["errors"] == 0, m
        assert m["vs_native_http"] == pytest.approx(1.0)
        assert 0 < m["p50_us"] <= m["p99_us"] <= m["p999_us"], m
        assert m["cpu_us_per_req"] is not None


@linux_only
def test_without_wrk_exits_2(tmp_path):
    env = python_env(PATH=str(tmp_path))          # no wrk on this PATH
    proc = run_python("-m", "hpsocket", "bench", "--http", "--quick", env=env,
                      timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "apt-get install -y wrk" in proc.stderr


def test_bad_scenario_is_a_usage_error():
    proc = run_python("-m", "hpsocket", "bench", "--http", "--scenarios", "nope",
                      timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "unknown scenario" in proc.stderr


# -- the applications, called directly ----------------------------------------

BODY = bytes(range(256)) * 256


def call_wsgi(method, path, body=b""):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path,
               "CONTENT_LENGTH": str(len(body)) if body else "",
               "wsgi.input": io.BytesIO(body)}
    out = b"".join(http_apps.wsgi_app(environ, start_response))
    return seen["status"], seen["headers"], out


def test_wsgi_app():
    status, headers, out = call_wsgi("GET", "/plaintext")
    assert (status, headers["Content-Type"], out) == ("200 OK", "text/plain", b"Hello, World!")
    assert headers["Content-Length"] == "13"
    status, headers, out = call_wsgi("GET", "/json")
    assert (status, headers["Content-Type"]) == ("200 OK", "application/json")
    assert json.loads(out) == {"message": "Hello, World!"}
    status, headers, out = call_wsgi("POST", "/echo", BODY)
    assert (status, out) == ("200 OK", BODY)
    assert call_wsgi("GET", "/nope")[0] == "404 Not Found"
    assert call_wsgi("GET", "/echo")[0] == "404 Not Found"


def call_asgi(method, path, chunks=()):
    sent = []
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)] or [{"type": "http.request", "body": b""}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(http_apps.asgi_app(scope, receive, send))
    head, body = sent
    return head["status"], dict(head["headers"]), body["body"]


def test_asgi_app():
    status, headers, out = call_asgi("GET", "/plaintext")
    assert (status, headers[b"content-type"], out) == (200, b"text/plain", b"Hello, World!")
    assert headers[b"content-length"] == b"13"
    assert call_asgi("GET", "/json")[2] == http_apps.JSON
    status, headers, out = call_asgi("POST", "/echo", [BODY[:1000], BODY[1000:]])
    assert (status, out) == (200, BODY)
    assert headers[b"content-length"] == str(len(BODY)).encode()
    assert call_asgi("PUT", "/plaintext")[0] == 404


def test_lua_script_pipelines_and_posts():
    from hpsocket.bench import http as bench_http

    lua = bench_http._lua_script("pipelined", bench_http.SCENARIOS["pipelined"])
    assert "local method, path, depth = \"GET\", \"/plaintext\", 16" in lua
    assert "function request()" in lua and "function done(" in lua
    lua = bench_http._lua_script("post64k", bench_http.SCENARIOS["post64k"])
    assert 'string.rep("0123456789abcdef", 4096)' in lua
    assert "local method, path, depth = \"POST\", \"/echo\", 1" in lua
