"""The applications served by ``python -m hpsocket bench --http``.

Every server of the HTTP benchmark answers the same three routes with the
same bytes (the native C one, ``hpsocket/bench/native/http_server.c``, too):

- ``GET /plaintext``: 200, ``text/plain``, ``Hello, World!``
- ``GET /json``: 200, ``application/json``, ``{"message":"Hello, World!"}``
- ``POST /echo``: 200, ``application/octet-stream``, the request body
- anything else: 404, ``text/plain``, ``Not Found``

The JSON body is a constant (no serialisation per request), so that every
server, the native one included, sends the same bytes for the same work.

What is here:

- ``asgi_app``: a raw ASGI application (no framework), for uvicorn;
- ``wsgi_app``: a raw WSGI application, for granian and ``hpsocket.wsgi``;
- ``aiohttp_app()``: an ``aiohttp.web.Application`` with the three routes;
- ``hpsocket_http_class()``: a subclass of ``hpsocket.HttpServer``.

The last two also run as servers of their own::

    python -m hpsocket.bench.http_apps aiohttp|hpsocket-http [--port P] [--workers W]

binds 127.0.0.1:P (0, the default, lets the OS pick), prints ``PORT <n>`` on
stdout, serves until stdin reaches end of file or SIGTERM / SIGINT arrives,
and exits 0.
"""

import argparse
import os
import signal
import sys
import threading

__all__ = ["PLAINTEXT", "JSON", "NOT_FOUND", "route", "asgi_app", "wsgi_app",
           "aiohttp_app", "hpsocket_http_class", "main"]

PLAINTEXT = b"Hello, World!"
JSON = b'{"message":"Hello, World!"}'
NOT_FOUND = b"Not Found"

TEXT_TYPE = "text/plain"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"

#: (method, path) -> (status, content type, body); POST /echo is answered
#: with the request body.
_ROUTES = {
    ("GET", "/plaintext"): (200, TEXT_TYPE, PLAINTEXT),
    ("GET", "/json"): (200, JSON_TYPE, JSON),
}
_ECHO = ("POST", "/echo")
_MISSING = (404, TEXT_TYPE, NOT_FOUND)


def route(method, path, body=b""):
    """(status, content type, body) of the answer to a request."""
    if (method, path) == _ECHO:
        return 200, BINARY_TYPE, bytes(body or b"")
    return _ROUTES.get((method, path), _MISSING)


# ---------------------------------------------------------------------------
# ASGI (uvicorn)

def _asgi_head(status, ctype, length):
    return {"type": "http.response.start", "status": status,
            "headers": [(b"content-type", ctype.encode("latin-1")),
                        (b"content-length", b"%d" % length)]}


_ASGI_FIXED = {key: (_asgi_head(s, t, len(b)), {"type": "http.response.body", "body": b})
               for key, (s, t, b) in list(_ROUTES.items()) + [(None, _MISSING)]}


async def asgi_app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind != "http":
        return
    key = (scope["method"], scope["path"])
    if key == _ECHO:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await send(_asgi_head(200, BINARY_TYPE, len(body)))
        await send({"type": "http.response.body", "body": body})
        return
    head, body = _ASGI_FIXED.get(key) or _ASGI_FIXED[None]
    await send(head)
    await send(body)


# ---------------------------------------------------------------------------
# WSGI (granian, hpsocket.wsgi)

_STATUS_LINES = {200: "200 OK", 404: "404 Not Found"}


def wsgi_app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    body = b""
    if (method, path) == _ECHO:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
    status, ctype, out = route(method, path, body)
    start_response(_STATUS_LINES[status],
                   [("Content-Type", ctype), ("Content-Length", str(len(out)))])
    return [out]


# ---------------------------------------------------------------------------
# aiohttp

def aiohttp_app():
    """An aiohttp.web.Application answering the three routes."""
    from aiohttp import web

    async def plaintext(request):
        return web.Response(body=PLAINTEXT, content_type=TEXT_TYPE)

    async def json(request):
        return web.Response(body=JSON, content_type=JSON_TYPE)

    async def echo(request):
        return web.Response(body=await request.read(), content_type=BINARY_TYPE)

    app = web.Application()
    app.router.add_get("/plaintext", plaintext)
    app.router.add_get("/json", json)
    app.router.add_post("/echo", echo)
    return app


# ---------------------------------------------------------------------------
# hpsocket.HttpServer

def hpsocket_http_class():
    """A subclass of hpsocket.HttpServer answering the three routes (raises
    AttributeError while hpsocket has no HttpServer)."""
    import hpsocket

    class App(hpsocket.HttpServer):
        def on_request(self, request):
            method, path = request.method, request.path
            if isinstance(method, bytes):
                method = method.decode("latin-1")
            if isinstance(path, bytes):
                path = path.decode("latin-1")
            status, ctype, body = route(method, path.partition("?")[0], request.body)
            return status, [("Content-Type", ctype)], body

    return App


# ---------------------------------------------------------------------------
# Running one of them: PORT <n>, then until stdin's end of file or a signal

def _announce(port):
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()


def _on_stdin_eof(callback):
    """Calls callback() (from a daemon thread) once stdin reaches end of
    file or fails."""
    def watch():
        while True:
            try:
                if not os.read(0, 65536):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        callback()

    threading.Thread(target=watch, name="stdin-eof", daemon=True).start()


def _serve_hpsocket(port, workers):
    App = hpsocket_http_class()
    options = {"no_delay": True}
    if workers:
        options["worker_threads"] = workers
    try:
        srv = App(**options)
    except TypeError as exc:
        sys.stderr.write("http_apps: HttpServer(%s) refused (%s); using its defaults\n"
                         % (", ".join("%s=%r" % kv for kv in options.items()), exc))
        srv = App()

    stopping = []

    def stop(signum=None, frame=None):
        if not stopping:            # once: SIGTERM and stdin's end may both come
            stopping.append(signum)
            srv.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.start("127.0.0.1", port)
    _announce(srv.listen_address[1])
    # The end of stdin goes through the same path as SIGTERM: the handler
    # runs in the main thread.
    _on_stdin_eof(lambda: os.kill(os.getpid(), signal.SIGTERM))
    srv.serve_forever()
    return 0


def _serve_aiohttp(port):
    import asyncio

    from aiohttp import web

    async def serve():
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        runner = web.AppRunner(aiohttp_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
            await site.start()
            _announce(runner.addresses[0][1])
            _on_stdin_eof(lambda: loop.call_soon_threadsafe(done.set))
            await done.wait()
        finally:
            await runner.cleanup()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
        return 0
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hpsocket.bench.http_apps",
        description="Run one of the HTTP benchmark's Python servers: prints 'PORT <n>', "
                    "serves until stdin closes or SIGTERM/SIGINT arrives.")
    parser.add_argument("kind", choices=("aiohttp", "hpsocket-http"))
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free one)")
    parser.add_argument("--workers", type=int, default=1,
                        help="hpsocket-http: worker threads (default 1; 0 = the library's "
                             "default)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be in 0..65535")
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    if args.kind == "aiohttp":
        return _serve_aiohttp(args.port)
    return _serve_hpsocket(args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
