"""asyncio programs on HP-Socket's engine.

The functions mirror asyncio's: ``create_server`` and ``create_connection``
take an ``asyncio.Protocol`` (or ``BufferedProtocol``) factory and give
transports that keep asyncio's contract; ``start_server`` and
``open_connection`` give asyncio's own ``StreamReader``/``StreamWriter``.
HP-Socket's worker threads do the I/O and never take the GIL on this path:
they queue each event in a native inbox per event loop and wake the loop
through an eventfd only when the inbox goes from empty to non-empty; the
loop then handles everything queued at once, one connection's consecutive
chunks as one ``data_received``.

Options (keywords) are those of ``hpsocket.TcpServer`` / ``TcpAgent``
(``worker_threads``, ``socket_buffer_size``, ``max_connections``,
``keep_alive_time``...) plus ``read_limit``: the bytes of a connection
queued for the loop and not yet handed to its protocol past which HP-Socket
stops reading that socket (default 256 KiB; reading resumes below a
quarter of it).

Differences from asyncio's own transports: ``write_eof()`` is not
available (``can_write_eof()`` is False; HP-Socket 5.2 cannot half-close
reliably), ``get_extra_info("socket")`` is None (the library owns the
socket), and there is no TLS.
"""

import asyncio
import collections
import socket
import weakref
from typing import Any, Callable, Optional, Tuple, cast

from hpsocket import _core
from hpsocket._errors import HPSocketError

__all__ = ["create_server", "create_connection", "start_server", "open_connection", "Server",
           "AioTransport", "ListeningSocket", "PackStream", "start_pack_server", "open_pack_connection",
           "stats"]

AioTransport = _core.AioTransport

# Per event loop: its inbox, and the agent its outgoing connections share.
_inboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
_agents: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
_guards: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()


def _inbox(loop):
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _core._aio_inbox(loop)
        _inboxes[loop] = inbox
        # Started here, the guard is an async generator of this loop: the
        # loop's shutdown_asyncgens() (asyncio.run, uvloop alike) closes it,
        # and its finally stops what is still running on the loop.
        guard = _loop_guard(loop, inbox)
        try:
            guard.__anext__().send(None)
        except StopIteration:
            pass
        _guards[loop] = guard
    return inbox


async def _loop_guard(loop, inbox):
    try:
        yield
    finally:
        # These hold the loop (the inbox, the guard's finalizer): let it go.
        _inboxes.pop(loop, None)
        _agents.pop(loop, None)
        _guards.pop(loop, None)
        for native in _core._aio_components(inbox):
            await _stop(loop, inbox, native)
        inbox.close()


def stats(loop: Optional[asyncio.AbstractEventLoop] = None) -> dict:
    """The loop's inbox so far: ``wakeups`` (times the loop was woken for
    it), ``events`` (events handed over) and ``events_per_wakeup``."""
    loop = loop or asyncio.get_running_loop()
    inbox = _inboxes.get(loop)
    if inbox is None:
        return {"wakeups": 0, "events": 0, "events_per_wakeup": None}
    return {"wakeups": inbox.wakeups, "events": inbox.events,
            "events_per_wakeup": inbox.events / inbox.wakeups if inbox.wakeups else None}


def _split(options):
    """Take out what is hpsocket.aio's own: (read_limit, pack model?).  One
    worker thread unless asked: the loop is one thread, and a second worker
    only adds context switches (python -m hpsocket bench --servers
    hpsocket-aio:1,hpsocket-aio:2 on 2 CPUs)."""
    read_limit = options.pop("read_limit", None)
    if read_limit is not None and (isinstance(read_limit, bool) or not isinstance(read_limit, int)):
        raise TypeError(f"read_limit must be an int, not {type(read_limit).__name__}")
    model = options.pop("model", "push")
    options.setdefault("worker_threads", 1)
    if model not in ("push", "pack"):
        raise ValueError(f"model must be 'push' or 'pack', not {model!r}")
    return read_limit, model == "pack"


async def _stop(loop, inbox, native):
    """Stop a native component off the loop (Stop waits for its workers),
    hand its last events to their protocols, then let the inbox forget it."""
    await loop.run_in_executor(None, native.stop)
    _core._aio_drain(inbox)
    _core._aio_forget(native)


class Server:
    """What ``create_server`` returns; behaves like ``asyncio.Server``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, native: Any, inbox: Any,
                 address: Tuple[str, int]) -> None:
        self._loop = loop
        self._native = native
        self._inbox = inbox
        self._address = address
        self._serving = False
        self._closing = False
        self._stopping: "Optional[asyncio.Task[None]]" = None   # stops the native server
        self._closed: "asyncio.Future[None]" = loop.create_future()
        self._serve_forever_fut: "Optional[asyncio.Future[None]]" = None
        _core._aio_on_empty(native, self._maybe_stop)

    def _start(self) -> None:
        self._native.start(*self._address)
        self._serving = True

    def __repr__(self):
        return f"<hpsocket.aio.Server {self.sockname} serving={self._serving}>"

    @property
    def sockname(self) -> Optional[Tuple[str, int]]:
        try:
            return self._native.listen_address
        except Exception:
            return None

    @property
    def sockets(self) -> Tuple["ListeningSocket", ...]:
        """What asyncio.Server.sockets gives, as far as it can be had: the
        listening socket's address (HP-Socket owns the socket itself)."""
        name = self.sockname if self._serving else None
        return () if name is None else (ListeningSocket(name),)

    @property
    def native(self):
        """The hpsocket server underneath (counters, tunables)."""
        return self._native

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        """Start listening (create_server(start_serving=False) did not)."""
        if self._closed.done() or self._stopping is not None:
            raise RuntimeError(f"server {self!r} is closed")
        if not self._serving:
            self._start()

    def close(self) -> None:
        """Stop listening; open connections go on (close_clients() ends
        them).  The native server stops once the last one has closed."""
        if self._closing:
            return
        self._closing = True
        self._serving = False
        self._native.stop_listening()
        if self._serve_forever_fut is not None and not self._serve_forever_fut.done():
            self._serve_forever_fut.cancel()
        self._maybe_stop()

    def close_clients(self) -> None:
        for t in _core._aio_transports(self._native):
            t.close()

    def abort_clients(self) -> None:
        for t in _core._aio_transports(self._native):
            t.abort()

    def _maybe_stop(self):
        if not self._closing or self._stopping is not None or _core._aio_busy(self._native):
            return
        self._stopping = self._loop.create_task(self._stop())

    async def _stop(self):
        try:
            await _stop(self._loop, self._inbox, self._native)
        finally:
            if not self._closed.done():
                self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and its connections too (as
        asyncio does from Python 3.12 on, on every version), and the native
        server has stopped."""
        await asyncio.shield(self._closed)

    async def serve_forever(self) -> None:
        if self._serve_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        await self.start_serving()
        self._serve_forever_fut = self._loop.create_future()
        try:
            await self._serve_forever_fut
        except asyncio.CancelledError:
            # Stops listening; the open connections go on (close_clients()).
            self.close()
            raise
        finally:
            self._serve_forever_fut = None

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


class ListeningSocket:
    """Stands for a Server's listening socket in ``Server.sockets``: its
    address, family and type (the socket is HP-Socket's)."""

    def __init__(self, name: Tuple[str, int]) -> None:
        self._name = name
        self.family = socket.AF_INET6 if ":" in name[0] else socket.AF_INET
        self.type = socket.SOCK_STREAM
        self.proto = socket.IPPROTO_TCP

    def getsockname(self) -> Tuple[str, int]:
        return self._name

    def fileno(self) -> int:
        return -1

    def __repr__(self):
        return f"<hpsocket.aio.ListeningSocket {self._name}>"


_Factory = Callable[[], asyncio.BaseProtocol]


async def create_server(protocol_factory: _Factory, host: Optional[str] = None, port: Optional[int] = None,
                        *, start_serving: bool = True, **options: Any) -> "Server":
    """Listen on host:port (port 0 or None: the OS picks; see
    ``Server.sockname``); each connection gets ``protocol_factory()``."""
    loop = asyncio.get_running_loop()
    read_limit, pack = _split(options)
    native = (_core._AioPackServer if pack else _core._AioServer)(**options)
    inbox = _inbox(loop)
    native._attach(inbox, protocol_factory, read_limit)
    server = Server(loop, native, inbox, ("0.0.0.0" if host is None else host, 0 if port is None else port))
    if start_serving:
        try:
            server._start()
        except BaseException:
            _core._aio_forget(native)
            raise
    return server


def _agent(loop, options, read_limit, pack):
    """The loop's shared agent, or a new one for connections with options."""
    inbox = _inbox(loop)
    shared = options == {"worker_threads": 1} and read_limit is None and not pack
    if shared:
        agent = _agents.get(loop)
        if agent is not None:
            return agent, True
    agent = (_core._AioPackAgent if pack else _core._AioAgent)(**options)
    agent._attach(inbox, read_limit)
    agent.start()
    if shared:
        _agents[loop] = agent      # until the loop shuts down (_loop_guard)
    else:
        _core._aio_on_empty(agent, lambda: loop.create_task(_stop(loop, inbox, agent)))
    return agent, shared


async def create_connection(protocol_factory: _Factory, host: str, port: int,
                            **options: Any) -> Tuple["AioTransport", asyncio.BaseProtocol]:
    """Connect to host:port; returns (transport, protocol) once connected.
    A refused or failed connect raises ConnectionRefusedError or the OSError
    it was."""
    loop = asyncio.get_running_loop()
    read_limit, pack = _split(options)
    agent, shared = _agent(loop, options, read_limit, pack)
    fut = loop.create_future()
    try:
        conn_id = agent._connect(host, port, protocol_factory, fut)
    except HPSocketError as exc:
        if not shared:
            loop.create_task(_stop(loop, _inbox(loop), agent))
        raise OSError(exc.errno or 22, str(exc)) from exc
    try:
        return await fut
    except asyncio.CancelledError:
        agent.disconnect(conn_id)
        raise


async def start_server(client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
                       host: Optional[str] = None, port: Optional[int] = None, *, limit: int = 2 ** 16,
                       **options: Any) -> "Server":
    """asyncio.start_server on HP-Socket: client_connected_cb(reader, writer)
    for each connection, with asyncio's own StreamReader and StreamWriter."""
    loop = asyncio.get_running_loop()

    def factory():
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(factory, host, port, **options)


async def open_connection(host: str, port: int, *, limit: int = 2 ** 16,
                          **options: Any) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio.open_connection on HP-Socket: (StreamReader, StreamWriter)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(lambda: protocol, host, port, **options)
    writer = asyncio.StreamWriter(cast(asyncio.WriteTransport, transport), protocol, reader, loop)
    return reader, writer


# -- whole messages (pack model) ---------------------------------------------------

class PackStream(asyncio.Protocol):
    """One connection of the pack model as whole messages: ``await recv()``
    (or ``async for message in stream``), ``send(message)`` (one message per
    call), ``await drain()``, ``close()``, ``await wait_closed()``.  Reading
    pauses while more than ``limit`` bytes of messages wait to be taken."""

    def __init__(self, limit: int = 2 ** 20) -> None:
        self._limit = limit
        self._messages: "collections.deque[bytes]" = collections.deque()
        self._queued = 0
        self._waiter: "Optional[asyncio.Future[None]]" = None
        self._drain_waiter: "Optional[asyncio.Future[None]]" = None
        self._transport: Any = None
        self._exc: Optional[BaseException] = None
        self._eof = False
        self._paused = False
        self._write_paused = False
        self._closed: "Optional[asyncio.Future[None]]" = None

    # protocol side
    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._messages.append(data)
        self._queued += len(data)
        if self._queued > self._limit and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> None:
        self._eof = True
        self._wake()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._eof = True
        self._exc = exc
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionResetError("connection lost"))
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # user side
    async def recv(self) -> Optional[bytes]:
        """The next whole message; None once the connection has closed
        (after every message that arrived); the connection's error, if it
        broke."""
        while not self._messages:
            if self._eof:
                if self._exc is not None:
                    raise self._exc
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        self._queued -= len(message)
        if self._paused and self._queued <= self._limit // 2:
            self._paused = False
            self._transport.resume_reading()
        return message

    def __aiter__(self) -> "PackStream":
        return self

    async def __anext__(self) -> bytes:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message

    def send(self, message: Any) -> None:
        """Queue one message (a bytes-like body; the header is added)."""
        self._transport.write(message)

    async def drain(self) -> None:
        if self._transport.is_closing():
            if self._exc is not None:
                raise ConnectionResetError("connection lost")
            return
        if self._write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    def close(self) -> None:
        self._transport.close()

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await asyncio.shield(self._closed)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


async def start_pack_server(client_connected_cb: Callable[[PackStream], Any], host: Optional[str] = None,
                            port: Optional[int] = None, *, limit: int = 2 ** 20, **options: Any) -> Server:
    """A pack-model server: client_connected_cb(stream) for each connection
    (a coroutine runs as a task), with whole messages (see PackStream).
    options: pack_header_flag, max_pack_size and the server options."""
    loop = asyncio.get_running_loop()

    class _Protocol(PackStream):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            result = client_connected_cb(self)
            if asyncio.iscoroutine(result):
                loop.create_task(result)

    return await create_server(lambda: _Protocol(limit), host, port, model="pack", **options)


async def open_pack_connection(host: str, port: int, *, limit: int = 2 ** 20, **options: Any) -> PackStream:
    """A pack-model connection as whole messages (see PackStream)."""
    stream = PackStream(limit)
    await create_connection(lambda: stream, host, port, model="pack", **options)
    return stream
