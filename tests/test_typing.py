"""The type stubs describe the API: a typical program type-checks, and a
misuse is caught."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy")

GOOD = """
import hpsocket

class Echo(hpsocket.TcpServer):
    def on_receive(self, conn_id: int, data: bytes) -> None:
        self.send(conn_id, data)

class Puller(hpsocket.TcpPullServer):
    def on_receive(self, conn_id: int, length: int) -> hpsocket.HandleResult:
        chunk = self.fetch(conn_id, length)
        if chunk is not None:
            self.send(conn_id, memoryview(chunk))
        return hpsocket.HandleResult.OK

with Echo(worker_threads=2) as srv:
    srv.start("127.0.0.1", 0)
    host, port = srv.listen_address
    ids: list[int] = srv.connection_ids
    cli = hpsocket.TcpPackClient(max_pack_size=1024)
    cli.pack_header_flag = 0x169
    ok: bool = cli.send(bytearray(b"x"))
    try:
        srv.stop()
    except hpsocket.HPSocketError as exc:
        print(exc.code, exc.description, exc.errno)
v: tuple[int, int, int, int] = hpsocket.native_version

class App(hpsocket.HttpServer):
    def on_request(self, request: hpsocket.Request):
        if request.path == "/later":
            w: hpsocket.ResponseWriter = self.start_response(request, 200, [("Content-Type", "text/plain")])
            w.write(b"a")
            w.end()
            return None
        name: str | None = request.headers.get("Host")
        q: dict[str, list[str]] = request.query_params
        return 200, {"Content-Type": "text/plain"}, f"{name} {q}"

app = App(threads=2, max_body_size=1 << 20, keep_alive_timeout=5.0)
app.server_header = None

class Udp(hpsocket.UdpServer):
    def on_accept(self, conn_id: int, address: tuple[str, int]) -> None:
        print(address[0], address[1])
    def on_receive(self, conn_id: int, data: bytes) -> None:
        self.send(conn_id, data)

udp = Udp(idle_timeout=30.0, max_datagram_size=1400)
udp.idle_timeout = None
cast = hpsocket.UdpCast(cast_mode=hpsocket.CastMode.BROADCAST, multicast_loop=True)
m: hpsocket.CastMode = cast.cast_mode
"""

BAD_HTTP = """
import hpsocket
class App(hpsocket.HttpServer):
    def on_request(self, request: hpsocket.Request):
        self.respond(request, "200 OK")
        return None
"""

AIO = """
import asyncio
import hpsocket.aio

class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport) or True
        self.transport = transport

async def main() -> None:
    server: hpsocket.aio.Server = await hpsocket.aio.create_server(Echo, "127.0.0.1", 0, worker_threads=2)
    addr = server.sockname
    async with server:
        r, w = await hpsocket.aio.open_connection("127.0.0.1", 1 if addr is None else addr[1])
        w.write(b"x")
        await w.drain()
        line: bytes = await r.readline()
        t, p = await hpsocket.aio.create_connection(Echo, "127.0.0.1", 1)
        t.write(b"y")
        n: int = t.get_write_buffer_size()

asyncio.run(main())
"""

ASGI = """
import asyncio
import hpsocket.asgi
from hpsocket.asgi import Receive, Scope, Send

async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})

async def main() -> None:
    server = hpsocket.asgi.Server(app, lifespan="off", max_body_size=1 << 20)
    await server.start("127.0.0.1", 0)
    host, port = server.listen_address
    serving: bool = server.is_serving()
    await server.shutdown(timeout=1.0)

asyncio.run(main())
"""

BAD_ASGI = """
import hpsocket.asgi
hpsocket.asgi.serve(42, "127.0.0.1", 8000)
"""

BAD = """
import hpsocket
srv = hpsocket.TcpServer()
srv.start("127.0.0.1", "80")
"""


def run_mypy(tmp_path, source):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--python-version", "3.11", str(path)],
        capture_output=True, text=True, timeout=300,
    )


def test_stubs_accept_typical_program(tmp_path):
    r = run_mypy(tmp_path, GOOD)
    assert r.returncode == 0, r.stdout + r.stderr


def test_aio_is_typed(tmp_path):
    r = run_mypy(tmp_path, AIO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stubs_reject_a_string_status(tmp_path):
    r = run_mypy(tmp_path, BAD_HTTP)
    assert r.returncode == 1
    assert 'Argument 2 to "respond" of "HttpServer"' in r.stdout


def test_stubs_reject_wrong_argument_type(tmp_path):
    r = run_mypy(tmp_path, BAD)
    assert r.returncode == 1
    assert 'Argument 2 to "start" of "Server"' in r.stdout


def test_asgi_is_typed(tmp_path):
    r = run_mypy(tmp_path, ASGI)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_mypy(tmp_path, BAD_ASGI)
    assert r.returncode == 1
    assert 'Argument 1 to "serve"' in r.stdout
