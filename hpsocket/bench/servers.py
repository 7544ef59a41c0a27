"""Echo servers driven by ``python -m hpsocket bench``.

Each kind runs as its own process::

    python -m hpsocket.bench.servers <kind> [--workers W] [--pack-flag F]

binds 127.0.0.1 on a port the OS picks, prints ``PORT <n>`` on stdout (and
flushes), echoes every connection until stdin reaches end of file (or
SIGTERM / SIGINT arrives), then stops cleanly and exits 0.

Kinds (``KINDS``):

- ``native-push``, ``native-pack``, ``native-pull``: the C ``echo_server``
  over libhpsocket4c (no Python at all; this process execs it);
- ``hpsocket-push``, ``hpsocket-pack``, ``hpsocket-pull``: subclasses of
  ``hpsocket.TcpServer`` / ``TcpPackServer`` / ``TcpPullServer``;
- ``hpsocket-push-queued``: ``hpsocket-push`` with every reply going through
  HP-Socket's own send queue (``direct_writes=False``; see ``_send.h``);
- ``ctypes-push``, ``ctypes-pack``: the old ctypes binding (PyPI
  ``HPSocket==0.9.3``), ``TcpPush.HP_TcpPushServer`` / ``TcpPack.HP_TcpPackServer``;
- ``asyncio``, ``uvloop``: one ``asyncio.Protocol`` echo on the default
  event loop, resp. on uvloop;
- ``hpsocket-aio``, ``hpsocket-aio-uvloop``: the same Protocol, served by
  ``hpsocket.aio.create_server`` (HP-Socket's engine) on those two loops.

Every server sets TCP_NODELAY on accepted sockets.  ``--workers`` (worker
threads; 0 = the library's default) applies to the HP-Socket based kinds.
Pack kinds frame with ``--pack-flag`` (default ``PACK_FLAG``) and accept
bodies up to 4 MiB - 1.
"""

import argparse
import os
import signal
import socket
import sys

__all__ = ["KINDS", "HP_KINDS", "PACK_KINDS", "PACK_FLAG", "available", "command"]

#: Every server kind, in the order they are listed.
KINDS = (
    "native-push", "native-pack", "native-pull",
    "hpsocket-push", "hpsocket-pack", "hpsocket-pull", "hpsocket-push-queued",
    "hpsocket-aio", "hpsocket-aio-uvloop",
    "ctypes-push", "ctypes-pack",
    "asyncio", "uvloop",
)
#: Kinds built on HP-Socket: they take --workers.
HP_KINDS = frozenset(k for k in KINDS if k.split("-")[0] in ("native", "hpsocket", "ctypes"))
#: Kinds speaking HP-Socket's Pack framing (driven by loadgen --mode pack).
PACK_KINDS = frozenset(k for k in KINDS if k.endswith("-pack"))
#: The Pack header flag used by the benchmark (any value in 0..1023 works).
PACK_FLAG = 0x169
#: Largest Pack body the servers accept (the 22-bit header limit).
MAX_PACK_BODY = 0x3FFFFF


def available(kind):
    """None if the kind can run here, else a short reason why not."""
    import importlib.util

    if kind not in KINDS:
        return "unknown server kind"
    if kind.startswith("ctypes-") and importlib.util.find_spec("HPSocket") is None:
        return "the ctypes binding (PyPI HPSocket) is not installed"
    if kind.endswith("uvloop") and importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed"
    return None


def command(kind, workers=0, pack_flag=PACK_FLAG, native_paths=None, python=None):
    """The argv that starts a server of this kind.  Native kinds run the C
    echo_server directly (native_paths: the dict from native.build())."""
    if kind not in KINDS:
        raise ValueError("unknown server kind %r" % (kind,))
    if kind.startswith("native-"):
        if native_paths is None:
            from . import native
            native_paths = native.build()
        argv = [native_paths["echo_server"], "--port", "0", "--model", kind.split("-", 1)[1],
                "--workers", str(int(workers or 0))]
        if kind in PACK_KINDS:
            argv += ["--pack-flag", str(pack_flag), "--max-pack-size", str(MAX_PACK_BODY)]
        return argv
    argv = [python or sys.executable, "-m", "hpsocket.bench.servers", kind]
    if workers:
        argv += ["--workers", str(int(workers))]
    if kind in PACK_KINDS:
        argv += ["--pack-flag", str(pack_flag)]
    return argv


# ---------------------------------------------------------------------------
# Waiting for the end: stdin's end of file, SIGTERM or SIGINT.

class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def _announce(port):
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()


def _wait_for_eof():
    """Blocks the main thread (without holding the GIL) until stdin closes
    or a stop signal arrives."""
    try:
        while True:
            try:
                chunk = os.read(0, 65536)
            except InterruptedError:
                continue
            except OSError:
                return
            if not chunk:
                return
    except _Stop:
        return


def _install_signals():
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


# ---------------------------------------------------------------------------
# hpsocket (this package)

def _serve_hpsocket(model, workers, pack_flag):
    import hpsocket

    options = {}
    if model == "push-queued":
        options["direct_writes"] = False
        model = "push"
    if model == "push":
        class Echo(hpsocket.TcpServer):
            def on_receive(self, conn_id, data):
                self.send(conn_id, data)
    elif model == "pack":
        class Echo(hpsocket.TcpPackServer):
            def on_receive(self, conn_id, body):
                self.send(conn_id, body)
        options.update(pack_header_flag=pack_flag, max_pack_size=MAX_PACK_BODY)
    else:
        class Echo(hpsocket.TcpPullServer):
            def on_receive(self, conn_id, length):
                data = self.fetch(conn_id, length)
                if data:
                    self.send(conn_id, data)
    if workers:
        options["worker_threads"] = workers
    options["no_delay"] = True

    _install_signals()
    srv = Echo(**options)
    try:
        srv.start("127.0.0.1", 0)
        _announce(srv.listen_address[1])
        _wait_for_eof()
    finally:
        srv.stop()
    return 0


# ---------------------------------------------------------------------------
# The ctypes binding, HPSocket 0.9.3

def _serve_ctypes(model, workers, pack_flag):
    import ctypes

    import HPSocket.pyhpsocket as HP  # type: ignore[import-untyped]
    if model == "push":
        from HPSocket import TcpPush  # type: ignore[import-untyped]
        base = TcpPush.HP_TcpPushServer
    elif model == "pack":
        from HPSocket import TcpPack  # type: ignore[import-untyped]
        base = TcpPack.HP_TcpPackServer
    else:
        raise SystemExit("servers: the ctypes binding is benchmarked in push and pack only")

    class Echo(base):
        # Not decorated: an int return reaches the library (0 = HR_OK).
        def OnAccept(self, Sender, ConnID, Client):
            fd = ctypes.cast(Client, ctypes.c_void_p).value
            try:
                s = socket.socket(fileno=os.dup(fd))
                try:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                finally:
                    s.close()
            except OSError:
                pass
            return HP.EnHandleResult.HR_OK

        # Called with keywords: Sender=, ConnID=, Data= (and Length= for push).
        def OnReceive(self, Sender, ConnID, Data, Length=None):
            self.Send(Sender, ConnID, Data)

    _install_signals()
    srv = Echo()
    if workers:
        HP.HP_Server_SetWorkerThreadCount(srv.Server, workers)
    if model == "pack":
        ok = srv.Start("127.0.0.1", 0, pack_flag, MAX_PACK_BODY)
    else:
        ok = srv.Start("127.0.0.1", 0)
    if not ok:
        sys.stderr.write("servers: ctypes start failed: %s\n"
                         % HP.HP_Server_GetLastErrorDesc(srv.Server))
        sys.stderr.flush()
        os._exit(1)
    try:
        addr = HP.HP_Server_GetListenAddress(srv.Server)
        _announce(addr[1])
        _wait_for_eof()
    finally:
        # No HP_Server_Stop: HP-Socket 5.2.2 can kill the process with
        # exit(70) when stopped while its listening socket is still polled
        # (hpsocket guards against that; the ctypes binding does not), and
        # the binding hangs at interpreter exit while connections are (or
        # were) alive.  Leaving at once closes every socket just the same.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# ---------------------------------------------------------------------------
# asyncio and uvloop

def _serve_asyncio(use_uvloop, aio=False, workers=0):
    """aio: served by hpsocket.aio (HP-Socket's engine) instead of the loop's
    own sockets; the Protocol is the same."""
    import asyncio

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass

        def data_received(self, data):
            self.transport.write(data)

    async def main():
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def on_stdin():
            try:
                chunk = os.read(0, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                loop.remove_reader(0)
                done.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        # A deep accept queue, as HP-Socket has: with the default (100) a burst
        # of 128 connects overflows it and some wait for a SYN retransmit.
        if aio:
            import hpsocket.aio
            options = {"worker_threads": workers} if workers else {}
            server = await hpsocket.aio.create_server(Echo, "127.0.0.1", 0, **options)
            _announce(server.sockname[1])
        else:
            server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
            _announce(server.sockets[0].getsockname()[1])
        loop.add_reader(0, on_stdin)
        await done.wait()
        server.close()
        if aio:
            server.abort_clients()
        try:
            await asyncio.wait_for(server.wait_closed(), 2)
        except asyncio.TimeoutError:
            pass

    if use_uvloop:
        import uvloop
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    else:
        asyncio.run(main())
    return 0


# ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hpsocket.bench.servers",
        description="Run one benchmark echo server: prints 'PORT <n>', echoes until stdin closes.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--workers", type=int, default=0,
                        help="worker threads of the HP-Socket based kinds (0 = library default)")
    parser.add_argument("--pack-flag", type=lambda s: int(s, 0), default=PACK_FLAG,
                        help="Pack header flag, 0..1023 (default 0x%x)" % PACK_FLAG)
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    if args.workers and args.kind not in HP_KINDS:
        parser.error("--workers applies to the HP-Socket based kinds only")
    if not 0 <= args.pack_flag <= 0x3FF:
        parser.error("--pack-flag must be in 0..1023")

    family, _, model = args.kind.partition("-")
    if family == "native":
        argv = command(args.kind, args.workers, args.pack_flag)
        sys.stdout.flush()
        os.execv(argv[0], argv)
    if model.startswith("aio"):
        return _serve_asyncio(model.endswith("uvloop"), aio=True, workers=args.workers)
    if family == "hpsocket":
        return _serve_hpsocket(model, args.workers, args.pack_flag)
    if family == "ctypes":
        return _serve_ctypes(model, args.workers, args.pack_flag)
    return _serve_asyncio(args.kind == "uvloop")


if __name__ == "__main__":
    sys.exit(main())
