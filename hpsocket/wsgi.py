"""A WSGI server (PEP 3333) on hpsocket's HttpServer.

    import hpsocket.wsgi
    hpsocket.wsgi.serve(app, "127.0.0.1", 8000, threads=8)

or from the shell::

    python -m hpsocket.wsgi module:app --host 127.0.0.1 --port 8000 --threads 8

HP-Socket's worker thread parses requests and never runs the application:
each whole request goes through a native queue to one of ``threads``
request threads, which run the application and answer.  Responses leave in
request order (pipelining).  Request bodies over 64 KiB (and chunked ones) are streamed: ``wsgi.input``
reads them as they arrive.  A response whose length is known (a list or
tuple body, or a Content-Length header) is sent with one Content-Length;
otherwise it is streamed, chunked (to HTTP/1.0 clients: until the close).
``wsgi.file_wrapper`` bodies of regular files are sent like
``HttpServer.send_file``.  An application error before the response started
is answered with 500; after it started, the connection is closed.
"""

import io
import os
import signal
import stat
import sys
import threading
from urllib.parse import unquote_to_bytes

from hpsocket._core import HttpServer
from hpsocket._serve_cli import http_options, load_app, server_parser

__all__ = ["FileWrapper", "WSGIServer", "make_environ", "serve", "main"]


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; a regular file with
    a fileno() is sent without iterating in Python."""

    def __init__(self, filelike, blksize=256 * 1024):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        read = self.filelike.read
        while True:
            data = read(self.blksize)
            if not data:
                return
            yield data


def _base_environ(server):
    """The entries every request of a server shares."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server._host,
        "SERVER_PORT": server._port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": server.url_scheme,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }


def make_environ(server, request):
    """The WSGI environ of an hpsocket.Request."""
    environ = server._base.copy()
    path, _, query = request.target.partition("?")
    if "#" in path:
        path = path.partition("#")[0]
    if "#" in query:
        query = query.partition("#")[0]
    environ["REQUEST_METHOD"] = request.method
    # PEP 3333: the decoded bytes, as latin-1 (the target itself is ASCII).
    environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else path
    environ["QUERY_STRING"] = query
    environ["SERVER_PROTOCOL"] = "HTTP/1.1" if request.version == "1.1" else "HTTP/1.0"
    stream = request.body_stream
    environ["wsgi.input"] = io.BytesIO(request.body) if stream is None else io.BufferedReader(_RawBody(stream))
    addr = request.remote_address
    if addr is not None:
        environ["REMOTE_ADDR"] = addr[0]
        environ["REMOTE_PORT"] = str(addr[1])
    for name, value in request.headers.items():
        key = name.upper()
        if "_" in key:
            continue   # would be confused with a "-" header (a spoofing trick)
        key = key.replace("-", "_")
        if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            environ[key] = value
            continue
        key = "HTTP_" + key
        if key in environ:
            environ[key] += "," + value
        else:
            environ[key] = value
    if "CONTENT_LENGTH" not in environ and request.body:
        environ["CONTENT_LENGTH"] = str(len(request.body))
    return environ


class _RawBody(io.RawIOBase):
    """A streamed request body (hpsocket.BodyStream) as a raw file."""

    def __init__(self, stream):
        self._stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._stream.readinto(buffer)


class _Response:
    """start_response and write() of one request."""

    __slots__ = ("server", "request", "status", "headers", "writer", "length")

    def __init__(self, server, request):
        self.server = server
        self.request = request
        self.status = None
        self.headers = None
        self.writer = None
        self.length = None

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.writer is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response was already called")
        if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
            raise ValueError(f"invalid WSGI status {status!r}")
        if not isinstance(headers, list):
            raise TypeError("WSGI response headers must be a list")
        self.status = int(status[:3])
        self.headers = headers
        self.length = None
        for name, value in headers:
            if name.lower() == "content-length":
                self.length = value
        return self.write

    def begin(self):
        if self.writer is None:
            if self.status is None:
                raise AssertionError("the application wrote before start_response")
            self.writer = self.server.start_response(self.request, self.status, self.headers)
        return self.writer

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"WSGI bodies are bytes, not {type(data).__name__}")
        self.begin().write(data)


class WSGIServer(HttpServer):
    """An HttpServer that runs a WSGI application on its request threads."""

    def __init__(self, app, threads=8, url_scheme="http", **options):
        options.setdefault("server_header", "hpsocket")
        # Bodies over 64 KiB reach wsgi.input as they arrive, so large
        # uploads cost no memory: the limit on them can be generous.
        options.setdefault("stream_body_over", 65536)
        options.setdefault("max_body_size", 1 << 30)
        super().__init__(threads=threads, **options)
        self.app = app
        self.url_scheme = url_scheme
        self._host = "localhost"
        self._port = "80"
        self._base = _base_environ(self)

    def start(self, host="0.0.0.0", port=0):
        super().start(host, port)
        self._host, port = self.listen_address
        self._port = str(port)
        self._base = _base_environ(self)

    def on_request(self, request):
        response = _Response(self, request)
        try:
            self._run(request, response)
        except BaseException:
            if response.writer is not None and not response.writer.ended:
                response.writer.abort()   # the body is cut: close the connection
            raise
        return None

    def _run(self, request, response):
        result = self.app(make_environ(self, request), response.start_response)
        try:
            if response.writer is None and isinstance(result, FileWrapper) and self._send_wrapped(response, result):
                return
            if response.writer is None and isinstance(result, (list, tuple)):
                if response.status is None:
                    raise AssertionError("the application returned without calling start_response")
                body = b"".join(result)
                headers = response.headers
                if response.length is not None and response.request.method != "HEAD":
                    headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
                    if int(response.length) != len(body):
                        raise ValueError(f"Content-Length {response.length} but {len(body)} bytes of body")
                self.respond(request, response.status, headers, body)
                return
            self._stream(response, result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _stream(self, response, result):
        """A body of unknown length: the first piece decides nothing; pieces
        are written as the application yields them."""
        first = None
        it = iter(result)
        for piece in it:
            if not isinstance(piece, (bytes, bytearray, memoryview)):
                raise TypeError(f"WSGI bodies are bytes, not {type(piece).__name__}")
            if not piece:
                continue
            if first is None and response.writer is None:
                # One piece and done: send it with a Content-Length.
                first = piece
                continue
            writer = response.begin()
            if first is not None:
                writer.write(first)
                first = None
            writer.write(piece)
        if response.writer is None:
            if response.status is None:
                raise AssertionError("the application returned without calling start_response")
            body = first or b""
            headers = response.headers
            if response.length is not None and response.request.method != "HEAD":
                headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
            self.respond(response.request, response.status, headers, body)
        else:
            response.writer.end()

    def _send_wrapped(self, response, wrapper):
        f = wrapper.filelike
        try:
            fd = f.fileno()
            info = os.fstat(fd)
        except (AttributeError, OSError, io.UnsupportedOperation):
            return False
        if not stat.S_ISREG(info.st_mode) or response.status is None:
            return False
        try:
            start = f.tell()
        except (OSError, AttributeError):
            start = 0
        path = f"/proc/self/fd/{fd}"
        headers = [(n, v) for n, v in response.headers if n.lower() != "content-length"]
        if start == 0 and response.length is None:
            self.send_file(response.request, path, response.status, headers)
            return True
        return False


def serve(app, host="127.0.0.1", port=8000, threads=8, **options):
    """Serve app until Ctrl-C or SIGTERM."""
    server = WSGIServer(app, threads=threads, **options)
    server.start(host, port)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    host, port = server.listen_address
    print(f"hpsocket.wsgi: serving on http://{host}:{port} with {threads} threads", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main(argv=None):
    parser = server_parser("WSGI")
    parser.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    args = parser.parse_args(argv)
    serve(load_app(args.app, "application"), args.host, args.port, threads=args.threads,
          **http_options(args))


if __name__ == "__main__":
    main()
