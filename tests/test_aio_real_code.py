"""asyncio code written for asyncio (the Python documentation's examples,
aiohttp's HTTP server) runs on hpsocket.aio with only the server or
connection creation changed, against plain clients."""

import asyncio
import socket
import urllib.request

import pytest

import hpsocket.aio as hio

T = 10


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


# The asyncio documentation's "TCP echo server using streams" and "TCP echo
# client using streams", with the server made by hpsocket.aio.start_server.
async def handle_echo(reader, writer):
    data = await reader.read(100)
    message = data.decode()
    addr = writer.get_extra_info('peername')
    print(f"Received {message!r} from {addr!r}")
    print(f"Send: {message!r}")
    writer.write(data)
    await writer.drain()
    print("Close the connection")
    writer.close()
    await writer.wait_closed()


async def tcp_echo_client(message, port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    print(f'Send: {message!r}')
    writer.write(message.encode())
    await writer.drain()
    data = await reader.read(100)
    print(f'Received: {data.decode()!r}')
    print('Close the connection')
    writer.close()
    await writer.wait_closed()
    return data.decode()


def test_docs_stream_echo_server(capsys):
    async def main():
        server = await hio.start_server(handle_echo, '127.0.0.1', 0)
        addrs = ', '.join(str(sock.getsockname()) for sock in server.sockets)
        print(f'Serving on {addrs}')
        port = server.sockets[0].getsockname()[1]
        async with server:
            task = asyncio.ensure_future(server.serve_forever())
            answers = await asyncio.gather(*(tcp_echo_client(f'Hello World {i}!', port) for i in range(20)))
            assert answers == [f'Hello World {i}!' for i in range(20)]
            task.cancel()
    run(main())
    out = capsys.readouterr().out
    assert "Serving on ('127.0.0.1'," in out and out.count("Close the connection") == 40


# The documentation's "TCP Echo Server" and "TCP Echo Client" protocols.
class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        peername = transport.get_extra_info('peername')
        print('Connection from {}'.format(peername))
        self.transport = transport

    def data_received(self, data):
        message = data.decode()
        print('Data received: {!r}'.format(message))
        print('Send: {!r}'.format(message))
        self.transport.write(data)
        print('Close the client socket')
        self.transport.close()


class EchoClientProtocol(asyncio.Protocol):
    def __init__(self, message, on_con_lost):
        self.message = message
        self.on_con_lost = on_con_lost
        self.received = b""

    def connection_made(self, transport):
        transport.write(self.message.encode())
        print('Data sent: {!r}'.format(self.message))

    def data_received(self, data):
        self.received += data
        print('Data received: {!r}'.format(data.decode()))

    def connection_lost(self, exc):
        print('The server closed the connection')
        self.on_con_lost.set_result(True)


def test_docs_protocol_echo_server_and_client():
    async def main():
        loop = asyncio.get_running_loop()
        server = await hio.create_server(lambda: EchoServerProtocol(), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            for create in (loop.create_connection, hio.create_connection):
                on_con_lost = loop.create_future()
                transport, protocol = await create(
                    lambda: EchoClientProtocol('Hello World!', on_con_lost), '127.0.0.1', port)
                try:
                    await asyncio.wait_for(on_con_lost, T)
                finally:
                    transport.close()
                assert protocol.received == b'Hello World!'
    run(main())


# A line chat: every line a client sends goes to every other client.
async def chat_server(make_server):
    clients = set()

    async def handle(reader, writer):
        clients.add(writer)
        try:
            while line := await reader.readline():
                for other in list(clients):
                    if other is not writer:
                        other.write(line)
                        await other.drain()
        finally:
            clients.discard(writer)
            writer.close()

    return await make_server(handle, '127.0.0.1', 0), clients


def test_chat_server():
    async def main():
        server, clients = await chat_server(hio.start_server)
        port = server.sockets[0].getsockname()[1]
        async with server:
            conns = [await asyncio.open_connection('127.0.0.1', port) for _ in range(5)]
            for _ in range(200):
                if len(clients) == 5:
                    break
                await asyncio.sleep(0.01)
            assert len(clients) == 5
            conns[0][1].write(b"hi all\n")
            for r, _ in conns[1:]:
                assert await asyncio.wait_for(r.readline(), T) == b"hi all\n"
            for _, w in conns:
                w.close()
    run(main())


def test_aiohttp_server_on_hpsocket():
    web = pytest.importorskip("aiohttp.web")

    async def hello(request):
        body = await request.read()
        return web.Response(text=f"hello {request.match_info['name']} {len(body)}")

    async def main():
        app = web.Application()
        app.router.add_get("/{name}", hello)
        app.router.add_post("/{name}", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        server = await hio.create_server(runner.server, "127.0.0.1", 0)
        port = server.sockname[1]

        def client():
            a = urllib.request.urlopen(f"http://127.0.0.1:{port}/world", timeout=T).read()
            b = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/big", data=b"x" * 900000),
                                       timeout=T).read()
            # Keep-alive and pipelining through one raw socket.
            with socket.create_connection(("127.0.0.1", port), timeout=T) as s:
                s.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                raw = b""
                while chunk := s.recv(65536):
                    raw += chunk
            return a, b, raw

        a, b, raw = await asyncio.get_running_loop().run_in_executor(None, client)
        assert a == b"hello world 0" and b == b"hello big 900000"
        assert raw.count(b"HTTP/1.1 200 OK") == 2 and b"hello one 0" in raw and raw.endswith(b"hello two 0")
        server.close()
        server.close_clients()
        await runner.cleanup()
        await asyncio.wait_for(server.wait_closed(), T)
    run(main())
