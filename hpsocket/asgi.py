"""An ASGI 3 server on hpsocket's HttpServer: HTTP and lifespan.

    python -m hpsocket.asgi module:app --host 127.0.0.1 --port 8000

or from Python::

    hpsocket.asgi.serve(app, "127.0.0.1", 8000)          # runs its own loop
    await hpsocket.asgi.serve_async(app, "127.0.0.1", 8000)   # inside a running loop

HP-Socket's worker threads read and parse requests (with HttpServer's
limits, timeouts and rejection of bad requests) and never run Python: each
whole request goes through a native queue to the event loop, which is woken
by an eventfd once per batch and starts one task per request.  Answers leave
in request order (pipelining) through HttpServer's response path: a body
sent in one ``http.response.body`` goes out with a Content-Length in one
write; a streamed one (``more_body``) is chunked (or, to HTTP/1.0 clients,
ends with the connection), the task waiting while more than
``write_buffer_high`` bytes are queued for a slow client.  A request body up
to ``stream_body_over`` (64 KiB) reaches the app whole, in one
``http.request``; a larger or chunked one in pieces as it arrives, the
connection not being read while 1 MiB waits for the app (up to
``max_body_size``, 1 GiB by default; larger gets 413).
``http.response.pathsend`` is served by HttpServer.send_file (Range, HEAD,
Last-Modified).  HEAD and ``Expect: 100-continue`` are handled for the app.
An app that fails before it starts its response gets a 500; after, the
connection is closed.

WebSocket scopes: the upgrade request is checked (version 13, a valid key)
and queued with the connection's reading paused; the app accepts it (101,
with a subprotocol and headers) or denies it (403, or its own response
through the ``websocket.http.response`` extension).  Messages arrive whole
(fragments joined, text checked as UTF-8 natively), reading pausing while
1 MiB waits for the app; pings are answered and the close handshake done
natively; shutdown closes WebSockets with 1012.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
import traceback
from collections import deque
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional, Set, Tuple
from urllib.parse import unquote

from hpsocket._core import (ASGI_BODY, ASGI_UPGRADE, ASGI_WS_CLOSE, ASGI_WS_MESSAGE, HttpServer,
                            _asgi_attach, _asgi_body_read, _asgi_detach, _asgi_headers,
                            _asgi_start_response, _asgi_take, _asgi_ws_accept, _asgi_ws_refusal,
                            _asgi_ws_taken)
from hpsocket._serve_cli import http_options, load_app, server_parser

__all__ = ["ASGIApp", "ClientDisconnected", "Server", "serve", "serve_async", "main"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application.
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("hpsocket.asgi")
access_logger = logging.getLogger("hpsocket.asgi.access")

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_EAGER = sys.version_info >= (3, 12)      # asyncio.Task(..., eager_start=True)
_EXTENSIONS: Dict[str, Dict[str, Any]] = {"http.response.pathsend": {}}
_WS_EXTENSIONS: Dict[str, Dict[str, Any]] = {"websocket.http.response": {}}
_RECEIVE_DISCONNECT = {"type": "http.disconnect"}
_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]


def _traceback(exc):
    # As text: a record holding the traceback would keep the request, the
    # server and its connections alive for as long as a handler keeps it.
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


class ClientDisconnected(OSError):
    """A WebSocket message was sent after the connection closed."""


class _Engine(HttpServer):
    """The HttpServer underneath: no Python handler runs on its workers.
    The WebSocket events are overridden only so that they are enabled: in
    this mode they go to the event loop's queue instead."""

    def on_websocket(self, request):
        return False

    def on_ws_close(self, conn_id, code, reason):
        pass


class _Conn:
    """A connection with requests in the app: its address, live cycles and
    WebSocket session."""

    __slots__ = ("client", "cycles", "ws", "reading")

    def __init__(self, client):
        self.client = client
        self.cycles = []
        self.ws = None
        self.reading = None     # the cycle waiting for more of its streamed body


class _Cycle:
    """One request and its response: the app's receive and send."""

    __slots__ = ("server", "request", "conn", "scope", "body_taken", "started", "complete",
                 "disconnected", "status", "headers", "writer", "waiter", "began", "sent")

    def __init__(self, server, request, conn, scope):
        self.server = server
        self.request = request
        self.conn = conn
        self.scope = scope
        self.body_taken = False
        self.started = False
        self.complete = False
        self.disconnected = False
        self.status = 0
        self.headers = None
        self.writer = None
        self.waiter = None
        self.began = 0.0
        self.sent = 0

    async def receive(self):
        if not self.body_taken:
            if self.request.body_stream is not None:
                return await self._receive_streamed()
            self.body_taken = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        # Then nothing until the client goes or the response is complete.
        if not (self.disconnected or self.complete):
            await self._wait()
        return _RECEIVE_DISCONNECT

    async def _wait(self):
        self.waiter = self.server._loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    async def _receive_streamed(self):
        """The next piece of a body over stream_body_over (or chunked), as
        it arrives; the connection is read again as the app takes it."""
        while not self.disconnected:
            try:
                data = _asgi_body_read(self.request)
            except ConnectionError:
                break
            if data is None:
                self.conn.reading = self
                try:
                    await self._wait()
                finally:
                    self.conn.reading = None
                continue
            if not data:
                self.body_taken = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": data, "more_body": True}
        self.body_taken = True
        return _RECEIVE_DISCONNECT

    async def send(self, message):
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body before http.response.start")
            if self.complete:
                raise RuntimeError("the response is already complete")
            body = message.get("body", b"")
            if not message.get("more_body", False):
                if self.writer is None:
                    if not self.disconnected:
                        self.server._engine.respond(self.request, self.status, self.headers, body)
                else:
                    self.writer.end(body)
                self.complete = True
                self.sent += len(body)
                self._finish()
                return
            if self.writer is None:
                self.writer = _asgi_start_response(self.server._engine, self.request,
                                                   self.status, self.headers)
            if body:
                self.sent += len(body)
                self.writer.write(body)
                await self.server._pace(self)
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start was already sent")
            status = message["status"]
            if not isinstance(status, int) or not 200 <= status <= 599:
                raise ValueError(f"invalid ASGI status {status!r} (200-599)")
            self.started = True
            self.status = status
            self.headers = message.get("headers", ())
        elif kind == "http.response.pathsend":
            if not self.started or self.complete:
                raise RuntimeError("http.response.pathsend needs a started, unfinished response")
            self.complete = True
            engine = self.server._engine
            await self.server._loop.run_in_executor(
                None, engine.send_file, self.request, message["path"], self.status, self.headers)
            self._finish()
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} in an HTTP scope")

    def _finish(self):
        self.wake()
        if access_logger.isEnabledFor(logging.INFO):
            self.server._log_access(self)

    def gone(self):
        """The client went away."""
        self.disconnected = True
        self.wake()

    def wake(self):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


_CONNECTING, _OPEN, _CLOSING, _DONE = range(4)


class _WebSocket:
    """One WebSocket session: the app's receive and send."""

    __slots__ = ("server", "request", "conn", "scope", "state", "inbox", "waiter", "connected",
                 "peer_gone", "denial")

    def __init__(self, server, request, conn, scope):
        self.server = server
        self.request = request
        self.conn = conn
        self.scope = scope
        self.state = _CONNECTING
        self.inbox = deque()
        self.waiter = None
        self.connected = False     # websocket.connect was received
        self.peer_gone = None      # the disconnect message, once the peer is gone
        self.denial = None         # [status, headers, body parts] of a denial response

    # events from the drain
    def message(self, payload, size):
        self.inbox.append((payload, size))
        self._wake()

    def gone(self, code=1006, reason=""):
        if self.peer_gone is None:
            self.peer_gone = {"type": "websocket.disconnect", "code": code, "reason": reason}
            if self.state != _CONNECTING:
                self.state = _DONE
            self._wake()

    def _wake(self):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self):
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        while not self.inbox:
            if self.peer_gone is not None:
                return self.peer_gone
            self.waiter = self.server._loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        payload, size = self.inbox.popleft()
        _asgi_ws_taken(self.server._engine, self.request.conn_id, size)
        if type(payload) is str:
            return {"type": "websocket.receive", "text": payload}
        return {"type": "websocket.receive", "bytes": payload}

    async def send(self, message):
        kind = message["type"]
        engine = self.server._engine
        if kind == "websocket.send":
            if self.state != _OPEN:
                if self.state == _CONNECTING:
                    raise RuntimeError("websocket.send before websocket.accept")
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            data = text if text is not None else message.get("bytes")
            if data is None:
                raise ValueError("websocket.send needs text or bytes")
            if not engine.ws_send(self.request.conn_id, data):
                raise ClientDisconnected("the WebSocket is closed")
        elif kind == "websocket.accept":
            if self.state != _CONNECTING or self.denial is not None:
                raise RuntimeError("websocket.accept after the handshake was answered")
            if self.peer_gone is not None:
                raise ClientDisconnected("the client went away before the accept")
            self.state = _OPEN
            if not _asgi_ws_accept(engine, self.request, message.get("subprotocol"),
                                   message.get("headers", ())):
                self.gone()
        elif kind == "websocket.close":
            if self.state == _CONNECTING and self.denial is None:
                self.state = _DONE
                self._deny(403, [], b"")
            elif self.state == _OPEN:
                self.state = _CLOSING
                engine.ws_close(self.request.conn_id, message.get("code", 1000), message.get("reason") or "")
            elif self.state == _DONE and self.peer_gone is not None:
                return      # the peer closed first: nothing to answer
            else:
                raise RuntimeError("websocket.close after the WebSocket was closed")
        elif kind == "websocket.http.response.start":
            if self.state != _CONNECTING or self.denial is not None:
                raise RuntimeError("a denial response only before websocket.accept")
            self.denial = [message["status"], message.get("headers", ()), []]
        elif kind == "websocket.http.response.body":
            if self.denial is None or self.state != _CONNECTING:
                raise RuntimeError("websocket.http.response.body without its start")
            self.denial[2].append(message.get("body", b""))
            if not message.get("more_body", False):
                self.state = _DONE
                self._deny(self.denial[0], self.denial[1], b"".join(self.denial[2]))
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} in a websocket scope")

    def _deny(self, status, headers, body):
        self.server._engine.respond(self.request, status, headers, body)

    def ended(self, failed):
        """The app returned (or failed): what it left open is closed."""
        engine = self.server._engine
        try:
            if self.state == _CONNECTING:
                self.state = _DONE
                if not self.request.responded:
                    self._deny(500 if failed else 403, [], b"")
            elif self.state == _OPEN:
                self.state = _DONE
                engine.ws_close(self.request.conn_id, 1011 if failed else 1000, "")
        except Exception as exc:       # the connection is gone
            logger.debug("could not close a WebSocket: %r", exc)


class Server:
    """An ASGI 3 application served over HttpServer from the running
    asyncio loop (the default loop or uvloop).

    ``options`` go to HttpServer: ``max_body_size`` (default 1 GiB),
    ``stream_body_over`` (64 KiB), ``max_header_size``, ``keep_alive_timeout``, ``header_timeout``,
    ``body_timeout``, ``worker_threads`` (default 1: the loop is the
    bottleneck), ``server_header``, the ``ws_*`` WebSocket options and the
    TCP tunables.
    ``lifespan``: "auto" (run it if the app supports it), "on" (it must),
    "off".  ``graceful_timeout``: how long shutdown() lets requests in
    progress finish before they are cancelled.
    """

    def __init__(self, app: ASGIApp, *, root_path: str = "", lifespan: str = "auto",
                 graceful_timeout: float = 10.0, url_scheme: str = "http",
                 write_buffer_high: int = 1 << 20, **options: Any) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        if "threads" in options:
            raise TypeError("hpsocket.asgi runs the app on its event loop: no request threads")
        options.setdefault("worker_threads", 1)
        # Bodies over 64 KiB reach the app in pieces as they arrive (the
        # connection is not read while 1 MiB waits): the limit on them can
        # be generous.
        options.setdefault("stream_body_over", 65536)
        options.setdefault("max_body_size", 1 << 30)
        self.app = app
        self.root_path = root_path
        self.lifespan = lifespan
        self.graceful_timeout = graceful_timeout
        self.url_scheme = url_scheme
        self.write_buffer_high = write_buffer_high
        self._engine = _Engine(**options)
        self._loop: Any = None
        self._fd = -1
        self._conns: Dict[int, _Conn] = {}
        self._tasks: Set[asyncio.Task[Any]] = set()
        self._state: Dict[str, Any] = {}
        self._server_addr: Optional[Tuple[str, int]] = None
        self._closing = False
        self._stopped: Any = None
        self._life: Optional[_Lifespan] = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def listen_address(self) -> Tuple[str, int]:
        """(host, port) the server listens on."""
        return self._engine.listen_address

    def is_serving(self) -> bool:
        return self._fd >= 0 and not self._closing

    async def start(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Run the app's lifespan startup, then listen on host:port (port 0:
        any free port)."""
        if self._fd >= 0:
            raise RuntimeError("the server is already serving")
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._stopped = self._loop.create_future()
        if self.lifespan != "off":
            self._life = _Lifespan(self)
            await self._life.startup()
        self._fd = _asgi_attach(self._engine)
        self._loop.add_reader(self._fd, self._drain)
        try:
            self._engine.start(host, port)
        except BaseException:
            self._loop.remove_reader(self._fd)
            _asgi_detach(self._engine)
            self._fd = -1
            raise
        self._server_addr = self._engine.listen_address

    async def serve_forever(self) -> None:
        """Wait until shutdown() (or cancellation, which shuts down)."""
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            await self.shutdown()
            raise

    async def shutdown(self, timeout: Optional[float] = None) -> None:
        """Graceful stop: requests arriving from now on get 503 (and the
        connection closes); those in progress get up to ``timeout``
        (graceful_timeout) to finish, then are cancelled; then every
        connection closes and the app's lifespan shutdown runs."""
        if self._fd < 0 or self._closing:
            if self._stopped is not None:
                await asyncio.shield(self._stopped)
            return
        self._closing = True
        timeout = self.graceful_timeout if timeout is None else timeout
        for conn in self._conns.values():
            ws = conn.ws
            if ws is not None and ws.state == _OPEN:
                ws.state = _CLOSING          # 1012: the service restarts
                self._engine.ws_close(ws.request.conn_id, 1012, "server shutting down")
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        self._loop.remove_reader(self._fd)
        self._engine.stop()
        _asgi_detach(self._engine)
        self._fd = -1
        for conn in self._conns.values():
            for cycle in conn.cycles:
                cycle.gone()
        self._conns.clear()
        try:
            if self._life is not None:
                await self._life.shutdown()
        finally:
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.shutdown()

    # -- requests --------------------------------------------------------------

    def _drain(self):
        """The eventfd fired: start everything queued."""
        conns = self._conns
        for item in _asgi_take(self._engine):
            if type(item) is tuple:
                kind, conn_id, payload, code = item
                conn = conns.get(conn_id)
                if kind == ASGI_WS_MESSAGE:
                    if conn is not None and conn.ws is not None:
                        conn.ws.message(payload, code)
                    else:
                        _asgi_ws_taken(self._engine, conn_id, code)
                elif kind == ASGI_BODY:
                    if conn is not None and conn.reading is not None:
                        conn.reading.wake()
                elif kind == ASGI_WS_CLOSE:
                    if conn is not None and conn.ws is not None:
                        conn.ws.gone(code, payload)
                elif kind == ASGI_UPGRADE:
                    if conn is None:
                        conn = conns[conn_id] = _Conn(payload.remote_address)
                    self._begin_websocket(payload, conn)
                else:
                    conn = conns.pop(conn_id, None)
                    if conn is not None:
                        for cycle in conn.cycles:
                            cycle.gone()
                        if conn.ws is not None:
                            conn.ws.gone()
                continue
            conn = conns.get(item.conn_id)
            if conn is None:
                conn = conns[item.conn_id] = _Conn(item.remote_address)
            if self._closing:
                self._engine.respond(item, 503, _TEXT, b"Service Unavailable\n")
                continue
            self._begin(item, conn)

    def _begin_websocket(self, request, conn):
        refusal = _asgi_ws_refusal(request)
        if refusal is not None or self._closing:
            status, headers = refusal or (503, ())
            self._engine.respond(request, status, list(headers) + _TEXT, b"")
            return
        scope = self._scope(request, conn, "websocket", "ws" if self.url_scheme == "http" else "wss")
        scope["extensions"] = _WS_EXTENSIONS
        protocols = []
        for name, value in scope["headers"]:
            if name == b"sec-websocket-protocol":
                protocols += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
        scope["subprotocols"] = protocols
        ws = conn.ws = _WebSocket(self, request, conn, scope)
        self._spawn(self._run_websocket(ws))

    async def _run_websocket(self, ws):
        failed = False
        try:
            await self.app(ws.scope, ws.receive, ws.send)
        except BaseException as exc:
            failed = True
            if not isinstance(exc, (asyncio.CancelledError, ClientDisconnected)):
                logger.error("Exception in ASGI application\n%s", _traceback(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            ws.ended(failed)
            if ws.conn.ws is ws:
                ws.conn.ws = None

    def _scope(self, request, conn, kind, scheme):
        target = request.target
        path, sep, query = target.partition("?")
        if "#" in path:
            path = path.partition("#")[0]
        scope = {
            "type": kind,
            "asgi": _ASGI,
            "http_version": request.version,
            "scheme": scheme,
            "path": unquote(path) if "%" in path else path,
            "raw_path": path.encode("latin-1"),
            "query_string": query.partition("#")[0].encode("latin-1") if sep else b"",
            "root_path": self.root_path,
            "headers": _asgi_headers(request),
            "client": conn.client,
            "server": self._server_addr,
        }
        if self._state:
            scope["state"] = self._state.copy()
        return scope

    def _begin(self, request, conn):
        scope = self._scope(request, conn, "http", self.url_scheme)
        scope["method"] = request.method
        scope["extensions"] = _EXTENSIONS
        cycle = _Cycle(self, request, conn, scope)
        conn.cycles.append(cycle)
        self._spawn(self._run(cycle))

    def _spawn(self, coro):
        if _EAGER:
            # Run now, up to its first real wait: most requests finish
            # without one, and then cost no scheduling at all.
            task = asyncio.Task(coro, loop=self._loop, eager_start=True)
            if task.done():
                return
        else:
            task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, cycle):
        if access_logger.isEnabledFor(logging.INFO):
            cycle.began = time.perf_counter()
        try:
            await self.app(cycle.scope, cycle.receive, cycle.send)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                logger.error("Exception in ASGI application\n%s", _traceback(exc))
            self._failed(cycle)
            if not isinstance(exc, Exception):
                raise
        else:
            if not cycle.complete:
                if cycle.started:
                    logger.error("ASGI application returned without completing its response")
                else:
                    logger.error("ASGI application returned without starting a response")
                self._failed(cycle)
        finally:
            try:
                cycle.conn.cycles.remove(cycle)
            except ValueError:
                pass

    def _failed(self, cycle):
        """A 500 if nothing was sent yet, else the connection closes."""
        if cycle.complete:
            return
        cycle.complete = True
        try:
            if cycle.writer is not None:
                cycle.writer.abort()
            elif not cycle.request.responded:
                cycle.status = 500
                self._engine.respond(cycle.request, 500, _TEXT, b"Internal Server Error\n")
        except Exception as exc:     # the connection is gone: nothing to tell
            logger.debug("could not answer a failed request: %r", exc)
        cycle._finish()

    async def _pace(self, cycle):
        """A streamed body: wait while too much is queued for the client."""
        engine = self._engine
        conn_id = cycle.request.conn_id
        high = self.write_buffer_high
        delay = 0.0005
        while not cycle.disconnected:
            try:
                if engine.pending_data_length(conn_id) <= high:
                    return
            except Exception:
                return          # the connection is gone
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)

    def _log_access(self, cycle):
        req = cycle.request
        client = cycle.conn.client
        took = (time.perf_counter() - cycle.began) * 1000 if cycle.began else 0.0
        access_logger.info('%s - "%s %s HTTP/%s" %d %d %.1fms',
                           f"{client[0]}:{client[1]}" if client else "-", req.method, req.target,
                           req.version, cycle.status, cycle.sent, took)


class _Lifespan:
    """The app's lifespan protocol: startup before listening, shutdown
    after the last connection."""

    def __init__(self, server):
        self.server = server
        self.queue = asyncio.Queue()
        self.events = {}
        self.task = None
        self.unsupported = False
        self.error = None

    async def startup(self):
        server = self.server
        loop = asyncio.get_running_loop()
        for name in ("startup", "shutdown"):
            self.events[name] = loop.create_future()
        scope = {"type": "lifespan", "asgi": _ASGI, "state": server._state}
        self.task = loop.create_task(self._run(scope))
        await self.queue.put({"type": "lifespan.startup"})
        await asyncio.wait([self.events["startup"], self.task], return_when=asyncio.FIRST_COMPLETED)
        if self.events["startup"].done():
            failure = self.events["startup"].result()
            if failure is not None:
                raise RuntimeError(f"the application's lifespan startup failed: {failure}")
            return
        # The app returned or raised without answering startup.
        if self.server.lifespan == "on":
            raise RuntimeError("the application's lifespan ended before startup completed") from self.error
        self.unsupported = True
        logger.info("ASGI 'lifespan' not supported by the application: %r", self.error)

    async def shutdown(self):
        if self.unsupported or self.task is None or self.task.done():
            return
        await self.queue.put({"type": "lifespan.shutdown"})
        await asyncio.wait([self.events["shutdown"], self.task], return_when=asyncio.FIRST_COMPLETED)
        if self.events["shutdown"].done():
            failure = self.events["shutdown"].result()
            if failure is not None:
                logger.error("the application's lifespan shutdown failed: %s", failure)

    async def _run(self, scope):
        try:
            await self.server.app(scope, self.queue.get, self._send)
        except BaseException as exc:
            self.error = exc
            if self.events["startup"].done() or self.server.lifespan == "on":
                logger.error("Exception in the ASGI lifespan\n%s", _traceback(exc))
            if not isinstance(exc, Exception):
                raise

    async def _send(self, message):
        kind = message["type"]
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            event = self.events["startup"]
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            event = self.events["shutdown"]
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} in a lifespan scope")
        if event.done():
            raise RuntimeError(f"{kind} was already sent")
        event.set_result(message.get("message", "") or kind if kind.endswith("failed") else None)


async def serve_async(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, *,
                      install_signal_handlers: Optional[bool] = None, **options: Any) -> Server:
    """Serve app from the running loop until SIGINT/SIGTERM (handlers
    installed when run in the main thread, unless told otherwise) or
    cancellation; then shut down gracefully."""
    server = Server(app, **options)
    await server.start(host, port)
    loop = asyncio.get_running_loop()
    host, port = server.listen_address
    logger.info("hpsocket.asgi: serving on http://%s:%d", host, port)
    installed = []
    if install_signal_handlers is None:
        import threading
        install_signal_handlers = threading.current_thread() is threading.main_thread()
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, lambda: loop.create_task(server.shutdown()))
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    try:
        await server.serve_forever()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return server


def _new_loop(kind):
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    if kind != "asyncio":
        raise ValueError(f"loop must be 'asyncio' or 'uvloop', not {kind!r}")
    return asyncio.new_event_loop()


def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, *, loop: str = "asyncio",
          **options: Any) -> None:
    """Serve app until SIGINT or SIGTERM, on a new event loop ("asyncio"
    or "uvloop")."""
    ev = _new_loop(loop)
    asyncio.set_event_loop(ev)
    try:
        ev.run_until_complete(serve_async(app, host, port, **options))
    finally:
        try:
            ev.run_until_complete(ev.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            ev.close()


def main(argv: Optional[list] = None) -> None:
    parser = server_parser("ASGI")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--worker-threads", type=int, default=1,
                        help="HP-Socket worker threads reading the sockets (default 1)")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    parser.add_argument("--lifespan", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--root-path", default="")
    parser.add_argument("--graceful-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    if args.no_access_log:
        access_logger.setLevel(logging.WARNING)
    serve(load_app(args.app), args.host, args.port, loop=args.loop, worker_threads=args.worker_threads,
          lifespan=args.lifespan, root_path=args.root_path, graceful_timeout=args.graceful_timeout,
          **http_options(args))


if __name__ == "__main__":
    main()
