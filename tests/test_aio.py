"""hpsocket.aio: asyncio's Protocol/Transport contract and streams on
HP-Socket's engine, against plain asyncio peers."""

import asyncio
import socket
import threading

import pytest

import hpsocket.aio as hio

T = 10  # seconds: the bound of every wait


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


class Recorder(asyncio.Protocol):
    """Keeps the calls it gets, in order; echoes when told to."""

    def __init__(self, echo=False):
        self.calls = []
        self.data = bytearray()
        self.echo = echo
        self.transport = None
        self.lost = asyncio.get_running_loop().create_future()
        self.got = asyncio.Event()

    def connection_made(self, transport):
        self.calls.append("made")
        self.transport = transport

    def data_received(self, data):
        assert isinstance(data, bytes)
        if not self.calls or self.calls[-1] != "data":
            self.calls.append("data")
        self.data += data
        self.got.set()
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.calls.append("eof")

    def connection_lost(self, exc):
        self.calls.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


def collecting(cls=None):
    """(protocols made so far, a factory that makes and keeps one)."""
    protos = []

    def factory():
        protos.append((cls or Recorder)())
        return protos[-1]

    return protos, factory


async def serve(factory, **options):
    server = await hio.create_server(factory, "127.0.0.1", 0, **options)
    return server, server.sockname[1]


async def wait_until(pred, what):
    for _ in range(T * 200):
        if pred():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_echo_with_a_plain_asyncio_client():
    async def main():
        server, port = await serve(lambda: Recorder(echo=True))
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            for size in (1, 100, 65536, 1 << 20):
                payload = bytes(range(256)) * (size // 256) or b"x"
                w.write(payload)
                assert await asyncio.wait_for(r.readexactly(len(payload)), T) == payload
            w.close()
            await w.wait_closed()
    run(main())


def test_protocol_state_machine_on_peer_close():
    async def main():
        protos, factory = collecting()
        server, port = await serve(factory)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"abc")
            await w.drain()
            await wait_until(lambda: protos and protos[0].data == b"abc", "data")
            w.close()
            exc = await asyncio.wait_for(protos[0].lost, T)
            assert exc is None
            # made first, lost exactly once and last, EOF before it.
            assert protos[0].calls == ["made", "data", "eof", "lost"]
            assert protos[0].transport.is_closing()
    run(main())


def test_close_sends_everything_written_first():
    big = b"z" * (8 << 20)

    class Sender(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.write(big)
            transport.close()
            assert transport.is_closing()
            transport.write(b"ignored after close")

    async def main():
        protos, factory = collecting(Sender)
        server, port = await serve(factory)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            got = await asyncio.wait_for(r.read(), T)     # to EOF
            assert got == big
            assert await asyncio.wait_for(protos[0].lost, T) is None
            assert protos[0].calls == ["made", "lost"]
            w.close()
    run(main())


def test_abort_drops_the_connection_at_once():
    async def main():
        protos, factory = collecting()
        server, port = await serve(factory)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await wait_until(lambda: protos, "accept")
            protos[0].transport.abort()
            assert protos[0].transport.is_closing()
            assert await asyncio.wait_for(protos[0].lost, T) is None
            assert protos[0].calls == ["made", "lost"]
            assert await asyncio.wait_for(r.read(), T) == b""
            w.close()
    run(main())


def test_extra_info():
    async def main():
        protos, factory = collecting()
        server, port = await serve(factory)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await wait_until(lambda: protos, "accept")
            t = protos[0].transport
            assert t.get_extra_info("peername") == w.get_extra_info("sockname")
            assert t.get_extra_info("sockname") == ("127.0.0.1", port)
            assert t.get_extra_info("socket") is None
            assert t.get_extra_info("nothing", 42) == 42
            assert t.get_protocol() is protos[0]
            assert isinstance(t.get_extra_info("hpsocket.conn_id"), int)
            w.close()
    run(main())


def test_pause_reading_holds_data_and_stops_the_socket():
    async def main():
        protos, factory = collecting()
        server, port = await serve(factory)
        async with server:
            c = socket.create_connection(("127.0.0.1", port))
            await wait_until(lambda: protos, "accept")
            p = protos[0]
            p.transport.pause_reading()
            assert not p.transport.is_reading()
            # The peer fills every buffer on the way: the server no longer reads.
            c.setblocking(False)
            sent = 0
            chunk = b"q" * 65536
            deadline = asyncio.get_running_loop().time() + T
            while True:
                try:
                    sent += c.send(chunk)
                except BlockingIOError:
                    # Once more after a moment: kernel buffers settle.
                    await asyncio.sleep(0.05)
                    try:
                        sent += c.send(chunk)
                        continue
                    except BlockingIOError:
                        break
                assert asyncio.get_running_loop().time() < deadline, "the server kept reading"
                assert sent < 512 << 20
            assert len(p.data) < sent
            held = len(p.data)
            p.transport.resume_reading()
            assert p.transport.is_reading()
            c.setblocking(True)
            await wait_until(lambda: len(p.data) == sent, f"{sent} bytes (had {held})")
            assert p.calls == ["made", "data"] or p.calls == ["made"] + ["data"]
            c.close()
    run(main())


def test_read_limit_pauses_a_slow_loop_natively():
    """The loop is blocked: HP-Socket must stop reading once read_limit
    bytes wait for it, or the peer could fill memory without bound."""
    release = threading.Event()
    result = {}

    class Blocking(Recorder):
        def data_received(self, data):
            if not release.is_set():
                release.wait(T * 3)      # the loop is stuck here meanwhile
            super().data_received(data)

    def peer(port):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"s")
        c.setblocking(False)
        sent, chunk = 1, b"r" * 65536
        try:
            while sent < (256 << 20):
                try:
                    sent += c.send(chunk)
                except BlockingIOError:
                    r = socket.socket  # noqa: F841
                    import select
                    if not select.select([], [c], [], 0.3)[1]:
                        break
            result["sent"] = sent
            result["eagain"] = sent < (256 << 20)
        finally:
            release.set()
            c.setblocking(True)
            result["sock"] = c

    async def main():
        protos, factory = collecting(Blocking)
        server, port = await serve(factory, read_limit=65536)
        async with server:
            th = threading.Thread(target=peer, args=(port,))
            th.start()
            await asyncio.get_running_loop().run_in_executor(None, th.join, T * 3)
            assert result.get("eagain"), result
            await wait_until(lambda: protos and len(protos[0].data) == result["sent"], "all bytes")
            assert bytes(protos[0].data[:1]) == b"s"
            result["sock"].close()
    run(main())


def test_write_flow_control_pauses_and_resumes_the_protocol():
    events = []

    class Writer(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.set_write_buffer_limits(high=256 << 10)
            assert transport.get_write_buffer_limits() == (64 << 10, 256 << 10)
            self.total = 0
            while not events:
                transport.write(b"w" * 65536)
                self.total += 65536
                assert self.total < 256 << 20

        def pause_writing(self):
            events.append(("pause", self.transport.get_write_buffer_size()))

        def resume_writing(self):
            events.append(("resume", self.transport.get_write_buffer_size()))

    async def main():
        protos, factory = collecting(Writer)
        server, port = await serve(factory)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await wait_until(lambda: events, "pause_writing")
            assert events[0][0] == "pause" and events[0][1] > 256 << 10
            got = 0
            while got < protos[0].total:
                got += len(await asyncio.wait_for(r.read(1 << 20), T))
            await wait_until(lambda: len(events) >= 2, "resume_writing")
            assert events[1][0] == "resume" and events[1][1] <= 64 << 10
            w.close()
    run(main())


def test_connect_refused_and_cancelled():
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(hio.open_connection("127.0.0.1", port), T)
        # A connect that is cancelled leaves nothing behind.
        srv, sport = await serve(lambda: Recorder())
        async with srv:
            task = asyncio.ensure_future(hio.create_connection(Recorder, "127.0.0.1", sport))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    run(main())


def test_client_protocol_and_streams_against_a_plain_asyncio_server():
    async def handle(r, w):
        line = await r.readline()
        w.write(line.upper())
        await w.drain()
        w.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            r, w = await hio.open_connection("127.0.0.1", port)
            w.write(b"hello world\n")
            await w.drain()
            assert await asyncio.wait_for(r.readuntil(b"\n"), T) == b"HELLO WORLD\n"
            assert await asyncio.wait_for(r.read(), T) == b""
            assert r.at_eof()
            w.close()
            await asyncio.wait_for(w.wait_closed(), T)
    run(main())


def test_streams_server_readexactly_readuntil_drain():
    async def handle(r, w):
        try:
            n = int((await r.readuntil(b":"))[:-1])
            body = await r.readexactly(n)
            for _ in range(64):
                w.write(body)
                await w.drain()
        except asyncio.IncompleteReadError:
            pass
        w.close()
        await w.wait_closed()

    async def main():
        server = await hio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", server.sockname[1])
            body = b"b" * 100000
            w.write(b"%d:" % len(body) + body)
            got = await asyncio.wait_for(r.read(-1), T)
            assert got == body * 64
            w.close()
    run(main())


def test_exception_in_a_protocol_goes_to_the_loop_handler_and_aborts_only_that_connection():
    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda loop, ctx: reported.append(ctx))

        class Bad(Recorder):
            def data_received(self, data):
                if data.startswith(b"boom"):
                    raise ValueError("boom")
                super().data_received(data)
                self.transport.write(data)

        server, port = await serve(Bad)
        async with server:
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w1.write(b"boom")
            assert await asyncio.wait_for(r1.read(), T) == b""
            assert len(reported) == 1 and isinstance(reported[0]["exception"], ValueError)
            assert "data_received" in reported[0]["message"]
            w2.write(b"fine")
            assert await asyncio.wait_for(r2.readexactly(4), T) == b"fine"
            w1.close()
            w2.close()
    run(main())


def test_buffered_protocol():
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(1000)
            self.got = bytearray()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, n):
            self.got += self.buf[:n]
            self.transport.write(bytes(self.buf[:n]))

        def connection_lost(self, exc):
            pass

    async def main():
        server, port = await serve(Buffered)
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            payload = bytes(range(256)) * 400
            w.write(payload)
            assert await asyncio.wait_for(r.readexactly(len(payload)), T) == payload
            w.close()
    run(main())


def test_server_object_like_asyncio_server():
    async def main():
        protos, factory = collecting()
        server, port = await serve(factory)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        assert server.sockets[0].getsockname() == ("127.0.0.1", port)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        # Accepted (one still in the listening socket's queue would be reset
        # by close(), as with asyncio's own servers).
        await wait_until(lambda: protos, "accept")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        # No longer listening.
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        server.close_clients()
        assert await asyncio.wait_for(r.read(), T) == b""
        await asyncio.wait_for(server._closed, T)   # the native server stopped
        w.close()
    run(main())


def test_several_loops_in_several_threads():
    errors = []

    def one(i):
        async def main():
            server, port = await serve(lambda: Recorder(echo=True))
            async with server:
                rs = [await hio.open_connection("127.0.0.1", port) for _ in range(5)]
                for k, (r, w) in enumerate(rs):
                    w.write(b"%d-%d;" % (i, k))
                for k, (r, w) in enumerate(rs):
                    assert await asyncio.wait_for(r.readuntil(b";"), T) == b"%d-%d;" % (i, k)
                for r, w in rs:
                    w.close()
        try:
            run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_on_uvloop():
    uvloop = pytest.importorskip("uvloop")

    async def main():
        server, port = await serve(lambda: Recorder(echo=True))
        async with server:
            r, w = await hio.open_connection("127.0.0.1", port)
            w.write(b"uv" * 50000)
            assert await asyncio.wait_for(r.readexactly(100000), T) == b"uv" * 50000
            w.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 60))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())   # as asyncio.run does
        loop.close()


def test_bad_arguments():
    async def main():
        with pytest.raises(TypeError):
            await hio.create_server(Recorder, "127.0.0.1", 0, bogus=1)
        with pytest.raises(TypeError):
            await hio.create_server(Recorder, "127.0.0.1", 0, read_limit="x")
        server, port = await serve(lambda: Recorder())
        async with server:
            protos, factory = collecting()
            t, p = await hio.create_connection(factory,
                                               "127.0.0.1", port)
            with pytest.raises(TypeError):
                t.write("text")
            with pytest.raises(ValueError):
                t.set_write_buffer_limits(high=1, low=2)
            with pytest.raises(NotImplementedError):
                t.write_eof()
            assert not t.can_write_eof()
            t.close()
            assert await asyncio.wait_for(p.lost, T) is None
    run(main())


def test_start_serving_later():
    async def main():
        server = await hio.create_server(lambda: Recorder(echo=True), "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving() and server.sockname is None
        await server.start_serving()
        assert server.is_serving()
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", server.sockname[1])
            w.write(b"later")
            assert await asyncio.wait_for(r.readexactly(5), T) == b"later"
            w.close()
        assert not server.is_serving()
        with pytest.raises(RuntimeError):
            await server.start_serving()
    run(main())


def test_pack_model_whole_messages_both_ways():
    async def handle(stream):
        async for message in stream:
            stream.send(message[::-1])
            await stream.drain()
        stream.close()

    async def main():
        server = await hio.start_pack_server(handle, "127.0.0.1", 0, pack_header_flag=0x169,
                                            max_pack_size=1 << 20)
        async with server:
            stream = await hio.open_pack_connection("127.0.0.1", server.sockname[1], pack_header_flag=0x169,
                                                    max_pack_size=1 << 20)
            sizes = [1, 2, 100, 4096, 65536, 1 << 20]
            for n in sizes:
                stream.send(bytes(range(256)) * (n // 256) + b"e" * (n % 256))
            for n in sizes:
                body = bytes(range(256)) * (n // 256) + b"e" * (n % 256)
                assert await asyncio.wait_for(stream.recv(), T) == body[::-1]
            stream.close()
            await asyncio.wait_for(stream.wait_closed(), T)
            assert await stream.recv() is None
    run(main())


def test_pack_model_bad_header_closes_only_that_connection():
    import struct

    async def main():
        protos, factory = collecting()
        server = await hio.create_server(factory, "127.0.0.1", 0,
                                         model="pack", pack_header_flag=0x169, max_pack_size=1000)
        async with server:
            port = server.sockname[1]
            good = socket.create_connection(("127.0.0.1", port))
            bad = socket.create_connection(("127.0.0.1", port))
            good.sendall(struct.pack("=I", (0x169 << 22) | 3) + b"abc")
            bad.sendall(struct.pack("=I", (0x169 << 22) | 5000) + b"x" * 10)   # over max_pack_size
            await wait_until(lambda: len(protos) == 2 and sum(1 for p in protos if p.lost.done()) == 1
                             and any(p.data == b"abc" for p in protos), "the bad one closed")
            lost = [p for p in protos if p.lost.done()][0]
            assert isinstance(lost.lost.result(), OSError) and lost.lost.result().errno == 90   # EMSGSIZE
            assert [p for p in protos if not p.lost.done()][0].data == b"abc"
            good.close()
            bad.close()
        with pytest.raises(ValueError):
            await hio.create_server(Recorder, "127.0.0.1", 0, model="pull")
    run(main())


LEFT_OPEN = """
import asyncio, socket, sys, threading
import hpsocket.aio as hio

class Echo(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
    def data_received(self, d):
        self.t.write(d)

async def main():
    server = await hio.create_server(Echo, "127.0.0.1", 0)
    r, w = await hio.open_connection("127.0.0.1", server.sockname[1])
    w.write(b"x")
    assert await r.readexactly(1) == b"x"
    peer = socket.create_connection(("127.0.0.1", server.sockname[1]))
    return peer     # server, client and a plain peer left open

mode = sys.argv[1]
if mode == "run":
    peer = asyncio.run(main())
    # asyncio.run shut the loop down: what ran on it was stopped.
    peer.settimeout(10)
    assert peer.recv(10) == b""
    print("stopped with the loop", flush=True)
else:
    loop = asyncio.new_event_loop()
    peer = loop.run_until_complete(main())
    loop.close()        # no shutdown_asyncgens: the exit stops what is left
    print("closed without shutdown", flush=True)
"""


@pytest.mark.parametrize("mode", ["run", "bare"])
def test_loop_ends_with_live_connections(mode):
    from support import run_python
    proc = run_python(mode, source=LEFT_OPEN, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("stopped with the loop" if mode == "run" else "closed without shutdown") in proc.stdout


def test_pending_awaits_cancel_and_end_cleanly():
    async def main():
        gate = asyncio.Event()

        async def handle(r, w):
            await gate.wait()
            w.write(b"late")
            await w.drain()
            w.close()

        server = await hio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await hio.open_connection("127.0.0.1", server.sockname[1])
            # A read that is cancelled leaves the stream usable.
            task = asyncio.ensure_future(r.readexactly(4))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            gate.set()
            assert await asyncio.wait_for(r.readexactly(4), T) == b"late"
            # A read pending when the peer closes ends with EOF.
            with pytest.raises(asyncio.IncompleteReadError):
                await asyncio.wait_for(r.readexactly(10), T)
            w.close()
            await asyncio.wait_for(w.wait_closed(), T)
    run(main())


def test_drain_raises_after_the_connection_is_lost():
    async def main():
        accepted = []

        async def handle(r, w):
            accepted.append(w)

        server = await hio.start_server(handle, "127.0.0.1", 0)
        async with server:
            r, w = await hio.open_connection("127.0.0.1", server.sockname[1])
            await wait_until(lambda: accepted, "accept")
            accepted[0].transport.abort()
            assert await asyncio.wait_for(r.read(), T) == b""
            w.write(b"x")
            with pytest.raises(ConnectionResetError):
                for _ in range(3):
                    await asyncio.wait_for(w.drain(), T)
            w.close()
    run(main())
