"""hpsocket.wsgi: PEP 3333 on HttpServer's request threads."""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import weakref
import wsgiref.validate

import pytest

import hpsocket
import hpsocket.wsgi as hw

from support import python_env, wait_for


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"x%d;" % i for i in range(4))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        return [b"returned"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(environ["test.file"], "rb"))
    if path == "/fixed":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"fixed body"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/boom-late":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first"
            yield b"second"
            raise RuntimeError("late boom")
        return gen()
    if path == "/exc-info":
        try:
            raise ValueError("handled")
        except ValueError:
            start_response("200 OK", [("Content-Type", "text/plain")])
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ["QUERY_STRING"],
        "body": environ["wsgi.input"].read(size).decode("latin-1"),
        "x_multi": environ.get("HTTP_X_MULTI"),
        "content_type": environ.get("CONTENT_TYPE"),
        "protocol": environ["SERVER_PROTOCOL"],
        "remote": environ.get("REMOTE_ADDR"),
        "scheme": environ["wsgi.url_scheme"],
        "underscore": environ.get("HTTP_X_UNDER_SCORE"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def served(tmp_path):
    data = os.urandom(700_000)
    (tmp_path / "f.bin").write_bytes(data)

    def app(environ, start_response):
        environ["test.file"] = str(tmp_path / "f.bin")
        return _app(environ, start_response)

    errors = []

    class Server(hw.WSGIServer):
        def on_error(self, event, conn_id, exc):
            errors.append(exc)

    srv = Server(wsgiref.validate.validator(app), threads=3)
    srv.start("127.0.0.1", 0)
    try:
        # A weak proxy: pytest keeps fixture values until after the
        # conftest's leftover check, which needs the server freed.
        yield weakref.proxy(srv), srv.listen_address[1], data, errors
    finally:
        srv.stop()
        errors.clear()   # tracebacks hold the server


def _get(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def test_environ_under_wsgiref_validator(served):
    srv, port, _, errors = served
    status, headers, body = _get(port, "POST", "/a%20b/%C3%A9?x=1&y", b"hello",
                                 {"Content-Type": "text/plain", "X-Under_Score": "spoof"})
    assert status == 200, body
    env = json.loads(body)
    assert env["method"] == "POST"
    # PEP 3333: PATH_INFO is the decoded bytes as latin-1.
    assert env["path"] == "/a b/\xc3\xa9"
    assert env["query"] == "x=1&y"
    assert env["body"] == "hello"
    assert env["content_type"] == "text/plain"
    assert env["protocol"] == "HTTP/1.1"
    assert env["remote"] == "127.0.0.1"
    assert env["scheme"] == "http"
    # A header with "_" could pose as X-Under-Score: dropped.
    assert env["underscore"] is None
    assert headers["Content-Length"] == str(len(body))
    assert not errors


def test_repeated_headers_are_joined(served):
    _, port, _, _ = served
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /h HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nX-Multi: 2\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    body = data.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["x_multi"] == "1,2"


def test_streamed_bodies_are_chunked(served):
    _, port, _, _ = served
    status, headers, body = _get(port, "GET", "/stream")
    assert status == 200 and body == b"x0;x1;x2;x3;"
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers


def test_write_callable_then_iterable(served):
    _, port, _, _ = served
    status, _, body = _get(port, "GET", "/write")
    assert (status, body) == (200, b"written;returned")


def test_file_wrapper(served):
    _, port, data, _ = served
    status, _, body = _get(port, "GET", "/file")
    assert status == 200 and body == data


def test_file_wrapper_sent_natively(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f.bin").write_bytes(data)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/x-test")])
        return environ["wsgi.file_wrapper"](open(tmp_path / "f.bin", "rb"))

    srv = hw.WSGIServer(app, threads=2)
    srv.start("127.0.0.1", 0)
    try:
        status, headers, body = _get(srv.listen_address[1], "GET", "/", headers={"Range": "bytes=10-19"})
        # Sent like send_file: with a length, and Range honoured.
        assert status == 206 and body == data[10:20]
        assert headers["Content-Type"] == "application/x-test"
        status, headers, body = _get(srv.listen_address[1], "GET", "/")
        assert status == 200 and body == data and headers["Content-Length"] == str(len(data))
    finally:
        srv.stop()


def test_application_error_gives_500_and_other_requests_go_on(served):
    _, port, _, errors = served
    status, headers, body = _get(port, "GET", "/boom")
    assert status == 500 and headers.get("Connection") == "close"
    assert any(isinstance(e, RuntimeError) and str(e) == "boom" for e in errors)
    status, _, body = _get(port, "GET", "/fine")
    assert status == 200


def test_error_after_the_response_started_closes_the_connection(served):
    _, port, _, errors = served
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/boom-late")
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()
    # The request thread reports the error after it has cut the response.
    wait_for(lambda: any(str(e) == "late boom" for e in errors), timeout=10)


def test_start_response_with_exc_info_replaces_the_status(served):
    _, port, _, _ = served
    status, _, body = _get(port, "GET", "/exc-info")
    assert (status, body) == (503, b"sorry")


def test_head_keeps_the_length_of_get(served):
    _, port, _, _ = served
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/fixed")
    r = c.getresponse()
    assert r.getheader("Content-Length") == "10" and r.read() == b"fixed body"
    c.request("HEAD", "/fixed")
    r = c.getresponse()
    assert r.getheader("Content-Length") == "10" and r.read() == b""
    c.request("GET", "/fixed")   # the connection is still in step
    assert c.getresponse().read() == b"fixed body"
    c.close()


def test_pipelined_requests_are_answered_in_order(served):
    _, port, _, _ = served
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    n = 30
    reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(n))
    s.sendall(reqs + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    paths = [json.loads(part.split(b"\r\n\r\n", 1)[1][:part.split(b"\r\n\r\n", 1)[1].index(b"}") + 1])["path"]
             for part in data.split(b"HTTP/1.1 200 OK")[1:]]
    assert paths == ["/p%d" % i for i in range(n)] + ["/last"]


def test_flask_app():
    flask = pytest.importorskip("flask")
    app = flask.Flask("t")

    @app.route("/hello/<name>")
    def hello(name):
        return flask.jsonify(hello=name, q=flask.request.args.get("q"))

    @app.route("/echo", methods=["POST"])
    def echo():
        return flask.request.get_data()

    srv = hw.WSGIServer(app, threads=2)
    srv.start("127.0.0.1", 0)
    try:
        port = srv.listen_address[1]
        status, _, body = _get(port, "GET", "/hello/w%C3%B6rld?q=1")
        assert status == 200 and json.loads(body) == {"hello": "w\u00f6rld", "q": "1"}
        status, _, body = _get(port, "POST", "/echo", b"\x00\x01payload")
        assert (status, body) == (200, b"\x00\x01payload")
        status, _, _ = _get(port, "GET", "/missing")
        assert status == 404
    finally:
        srv.stop()


def test_command_line_serves_a_module(tmp_path):
    (tmp_path / "wsgimod.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'from the command line']\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hpsocket.wsgi", "wsgimod:app", "--host", "127.0.0.1",
                             "--port", str(port), "--threads", "2"],
                            cwd=tmp_path, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()   # printed once listening
        assert "serving on" in line, line + proc.stderr.read()
        status, _, body = _get(port, "GET", "/")
        assert (status, body) == (200, b"from the command line")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read()


DJANGO_APP = """
import django
from django.conf import settings
settings.configure(DEBUG=False, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="t",
                   MIDDLEWARE=[], USE_TZ=True)
from django.urls import path
from django.http import JsonResponse, StreamingHttpResponse

def hello(request, name):
    return JsonResponse({"name": name, "q": request.GET.get("q"), "method": request.method,
                         "body": request.body.decode()})

def stream(request):
    return StreamingHttpResponse(iter([b"a", b"b", b"c"]))

urlpatterns = [path("hello/<str:name>", hello), path("stream", stream)]
django.setup()
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"""


def test_django_wsgi_handler(tmp_path):
    # Django's settings are process-wide: the app runs in a child process.
    pytest.importorskip("django")
    (tmp_path / "djapp.py").write_text(DJANGO_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hpsocket.wsgi", "djapp:application", "--host",
                             "127.0.0.1", "--port", str(port), "--threads", "2"],
                            cwd=tmp_path, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "serving on" in line, line + proc.stderr.read()
        status, _, body = _get(port, "POST", "/hello/x%C3%A9?q=1", b"data")
        assert status == 200, body
        assert json.loads(body) == {"name": "x\u00e9", "q": "1", "method": "POST", "body": "data"}
        status, headers, body = _get(port, "GET", "/stream")
        assert (status, body) == (200, b"abc") and headers.get("Transfer-Encoding") == "chunked"
        status, _, _ = _get(port, "GET", "/missing")
        assert status == 404
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_large_uploads_are_streamed_to_wsgi_input(tmp_path):
    import hashlib
    seen = []

    def app(environ, start_response):
        h = hashlib.sha256()
        n = 0
        inp = environ["wsgi.input"]
        first = inp.readline(10)        # a file-like object, not only read()
        h.update(first)
        n += len(first)
        while True:
            chunk = inp.read(70000)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        seen.append(type(inp).__name__)
        body = f"{n} {h.hexdigest()}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    data = os.urandom(8_000_000)
    path = tmp_path / "up.bin"
    path.write_bytes(data)
    srv = hw.WSGIServer(app, threads=2)
    srv.start("127.0.0.1", 0)
    try:
        port = srv.listen_address[1]
        expect = f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        status, _, body = _get(port, "POST", "/", data)
        assert (status, body) == (200, expect)
        # Chunked, from curl: no Content-Length at all.
        out = subprocess.run(["curl", "-s", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
                              f"http://127.0.0.1:{port}/"], capture_output=True, timeout=60)
        assert out.stdout == expect
        status, _, body = _get(port, "POST", "/", b"small")
        assert (status, body) == (200, b"5 " + hashlib.sha256(b"small").hexdigest().encode())
        assert seen == ["BufferedReader", "BufferedReader", "BytesIO"]
    finally:
        srv.stop()
