"""The WebSocket servers of ``python -m hpsocket bench --ws``.

Every server answers the same two paths the same way:

- ``/ws``: every message is echoed back to its sender as it came (binary
  stays binary, text stays text);
- ``/broadcast``: the server first sends the new connection the text
  message ``ready`` once it is registered as a receiver (the load generator
  waits for it, so that no broadcast can miss a connection the server has
  not finished registering), then sends every message it receives from any
  connection on that path to every connection on that path, the sender
  included;
- any other path: the upgrade is refused.

None of them compresses (permessage-deflate off: the load generator offers
no extension and a server must not choose one) or pings (keep-alive pings
off: the load generator reads a stream of data frames and answers no ping;
the runs are seconds long); each takes messages up to ``MAX_MESSAGE``
bytes and listens with a backlog of ``BACKLOG`` (the broadcast scenario
opens 1,000 connections at once).

The servers:

- ``hpsocket-ws``: a subclass of ``hpsocket.HttpServer`` (``worker_threads``
  1 by default, TCP_NODELAY); a broadcast is one ``ws_broadcast`` call;
- ``websockets``: the ``websockets`` library's asyncio server
  (``websockets.asyncio.server.serve``), on uvloop when installed; a
  broadcast is ``websockets.asyncio.server.broadcast``;
- ``aiohttp``: ``aiohttp.web`` with ``WebSocketResponse``, on uvloop when
  installed; a broadcast is a loop of ``send_bytes``/``send_str``;
- ``uvicorn``: uvicorn (uvloop, httptools, ``ws="websockets"``, one process,
  no access log) with the raw ASGI application ``asgi_app``; a broadcast is
  a loop of ``websocket.send``;
- ``hpsocket-asgi``: ``hpsocket.asgi`` on uvloop (one worker thread, no
  access log) with the same ``asgi_app``.

Each runs as::

    python -m hpsocket.bench.ws_apps KIND [--port P] [--workers W]

binds 127.0.0.1:P (0, the default, lets the OS pick), prints ``PORT <n>`` on
stdout, serves until stdin reaches end of file or SIGTERM / SIGINT arrives,
and exits 0.
"""

import argparse
import asyncio
import os
import signal
import socket
import sys
import warnings

from .http_apps import _announce, _on_stdin_eof

__all__ = ["KINDS", "ECHO_PATH", "BROADCAST_PATH", "READY", "MAX_MESSAGE", "BACKLOG",
           "asgi_app", "hpsocket_ws_class", "main"]

KINDS = ("hpsocket-ws", "websockets", "aiohttp", "uvicorn", "hpsocket-asgi")

ECHO_PATH = "/ws"
BROADCAST_PATH = "/broadcast"
#: The text message a /broadcast connection gets once it is registered.
READY = "ready"
MAX_MESSAGE = 16 * 1024 * 1024
BACKLOG = 2048

_HOST = "127.0.0.1"


# ---------------------------------------------------------------------------
# hpsocket.HttpServer

def hpsocket_ws_class():
    """A subclass of hpsocket.HttpServer serving /ws and /broadcast (raises
    AttributeError while hpsocket has no HttpServer)."""
    import hpsocket

    class App(hpsocket.HttpServer):
        def __init__(self, **options):
            super().__init__(**options)
            self.joining = set()        # accepted on /broadcast, not yet open
            self.receivers = set()      # open on /broadcast

        def on_websocket(self, request):
            if request.path == BROADCAST_PATH:
                self.joining.add(request.conn_id)
                return True
            return request.path == ECHO_PATH

        def on_ws_open(self, conn_id):
            if conn_id in self.joining:
                self.joining.discard(conn_id)
                self.receivers.add(conn_id)
                self.ws_send(conn_id, READY)

        def on_ws_message(self, conn_id, message):
            if conn_id in self.receivers:
                self.ws_broadcast(self.receivers, message)
            else:
                self.ws_send(conn_id, message)

        def on_ws_close(self, conn_id, code, reason):
            self.receivers.discard(conn_id)
            self.joining.discard(conn_id)

    return App


def _serve_hpsocket(port, workers):
    App = hpsocket_ws_class()
    options = {"no_delay": True, "listen_queue": BACKLOG, "ws_max_message_size": MAX_MESSAGE,
               "ws_ping_interval": None}
    if workers:
        options["worker_threads"] = workers
    srv = App(**options)

    stopping = []

    def stop(signum=None, frame=None):
        if not stopping:            # once: SIGTERM and stdin's end may both come
            stopping.append(signum)
            srv.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.start(_HOST, port)
    _announce(srv.listen_address[1])
    # The end of stdin goes through the same path as SIGTERM: the handler
    # runs in the main thread.
    _on_stdin_eof(lambda: os.kill(os.getpid(), signal.SIGTERM))
    srv.serve_forever()
    return 0


# ---------------------------------------------------------------------------
# asyncio servers: websockets, aiohttp

def _run_loop(serve):
    """Runs the coroutine function serve() to its end, on uvloop when
    installed."""
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


async def _until_stopped():
    """Returns once SIGTERM or SIGINT arrives or stdin reaches its end."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    _on_stdin_eof(lambda: loop.call_soon_threadsafe(done.set))
    await done.wait()


def _serve_websockets(port):
    from http import HTTPStatus

    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed

    receivers = set()

    def process_request(connection, request):
        if request.path not in (ECHO_PATH, BROADCAST_PATH):
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def handler(ws):
        try:
            if ws.request.path == ECHO_PATH:
                async for message in ws:
                    await ws.send(message)
                return
            receivers.add(ws)
            try:
                await ws.send(READY)
                async for message in ws:
                    broadcast(receivers, message)
            finally:
                receivers.discard(ws)
        except ConnectionClosed:
            pass

    async def main():
        async with serve(handler, _HOST, port, process_request=process_request,
                         compression=None, max_size=MAX_MESSAGE, ping_interval=None,
                         backlog=BACKLOG) as server:
            _announce(server.sockets[0].getsockname()[1])
            await _until_stopped()

    return _run_loop(main)


def _serve_aiohttp(port):
    from aiohttp import WSMsgType, web

    receivers = set()

    async def echo(request):
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    async def fan_out(request):
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        receivers.add(ws)
        try:
            await ws.send_str(READY)
            async for msg in ws:
                if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    continue
                # A copy of the set: a receiver may leave while a send waits.
                for peer in list(receivers):
                    try:
                        if msg.type == WSMsgType.BINARY:
                            await peer.send_bytes(msg.data)
                        else:
                            await peer.send_str(msg.data)
                    except (ConnectionError, RuntimeError):
                        pass        # closing: it is leaving the set
        finally:
            receivers.discard(ws)
        return ws

    async def main():
        app = web.Application()
        app.router.add_get(ECHO_PATH, echo)
        app.router.add_get(BROADCAST_PATH, fan_out)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, _HOST, port, backlog=BACKLOG)
            await site.start()
            _announce(runner.addresses[0][1])
            await _until_stopped()
        finally:
            await runner.cleanup()

    return _run_loop(main)


# ---------------------------------------------------------------------------
# ASGI (uvicorn)

_receivers = set()      # the `send` of every open /broadcast connection


async def asgi_app(scope, receive, send):
    """A raw ASGI application serving /ws and /broadcast."""
    if scope["type"] != "websocket":
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not Found\n"})
        return
    path = scope["path"]
    if (await receive())["type"] != "websocket.connect":
        return
    if path not in (ECHO_PATH, BROADCAST_PATH):
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    fan_out = path == BROADCAST_PATH
    if fan_out:
        _receivers.add(send)
        try:
            await send({"type": "websocket.send", "text": READY})
        except OSError:
            _receivers.discard(send)
            return
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return                  # websocket.disconnect
            data = message.get("bytes")
            out = ({"type": "websocket.send", "bytes": data} if data is not None
                   else {"type": "websocket.send", "text": message.get("text")})
            if not fan_out:
                await send(out)
                continue
            # A copy of the set: a receiver may leave while a send waits.
            for peer in list(_receivers):
                try:
                    await peer(out)
                except (OSError, RuntimeError):
                    pass                # closing (uvicorn's ClientDisconnected is an OSError)
    except OSError:
        pass                            # our own send failed: the client is gone
    finally:
        _receivers.discard(send)


def _serve_uvicorn(port):
    import uvicorn

    # ws="websockets" (uvicorn's implementation on the websockets library's
    # legacy API) is the one asked for; uvicorn warns that it is deprecated.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*websockets.*deprecated.*")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((_HOST, port))
    # Listening before PORT is announced: connections wait in the backlog
    # until uvicorn, starting up, accepts them.
    sock.listen(BACKLOG)
    config = uvicorn.Config(asgi_app, host=_HOST, port=sock.getsockname()[1], loop="uvloop",
                            http="httptools", ws="websockets", lifespan="off",
                            access_log=False, log_level="warning",
                            ws_max_size=MAX_MESSAGE, ws_per_message_deflate=False,
                            ws_ping_interval=None, backlog=BACKLOG)
    server = uvicorn.Server(config)

    def stop():
        server.should_exit = True       # polled by uvicorn's main loop

    _announce(sock.getsockname()[1])
    _on_stdin_eof(stop)
    # uvicorn handles SIGTERM and SIGINT itself (should_exit, too).
    server.run(sockets=[sock])
    return 0


def _serve_hpsocket_asgi(port):
    import hpsocket.asgi

    async def main():
        server = hpsocket.asgi.Server(asgi_app, lifespan="off", ws_max_message_size=MAX_MESSAGE,
                                      ws_ping_interval=None)
        await server.start(_HOST, port)
        _announce(server.listen_address[1])
        try:
            await _until_stopped()
        finally:
            await server.shutdown(timeout=1)

    return _run_loop(main)


# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hpsocket.bench.ws_apps",
        description="Run one of the WebSocket benchmark's servers: prints 'PORT <n>', "
                    "serves /ws (echo) and /broadcast until stdin closes or SIGTERM/SIGINT "
                    "arrives.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free one)")
    parser.add_argument("--workers", type=int, default=1,
                        help="hpsocket-ws: worker threads (default 1; 0 = the library's "
                             "default)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be in 0..65535")
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    if args.kind == "hpsocket-ws":
        return _serve_hpsocket(args.port, args.workers)
    if args.kind == "websockets":
        return _serve_websockets(args.port)
    if args.kind == "aiohttp":
        return _serve_aiohttp(args.port)
    if args.kind == "hpsocket-asgi":
        return _serve_hpsocket_asgi(args.port)
    return _serve_uvicorn(args.port)


if __name__ == "__main__":
    sys.exit(main())
