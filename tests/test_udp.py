"""The UDP family: UdpServer, UdpClient and UdpCast against plain UDP peers
(raw sockets and asyncio datagram endpoints), on loopback."""

import asyncio
import contextlib
import os
import socket
import threading
import time

import pytest

import hpsocket
from support import HOST, TIMEOUT, Recorder, wait_for


class EchoServer(hpsocket.UdpServer):
    """Echoes every datagram upper-cased; records the events."""

    def __init__(self, **options):
        super().__init__(**options)
        self.events = Recorder()

    def on_accept(self, conn_id, address):
        self.events.add(("accept", conn_id, address))

    def on_receive(self, conn_id, data):
        self.events.add(("receive", conn_id, data))
        self.send(conn_id, data.upper())

    def on_close(self, conn_id, operation, error):
        self.events.add(("close", conn_id, error))


def peer():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(TIMEOUT)
    return s


@contextlib.contextmanager
def serving(**options):
    """An EchoServer on a free port (a local of the test, not a fixture:
    pytest would keep a fixture's server past the leftover check)."""
    srv = EchoServer(**options)
    srv.start(HOST, 0)
    try:
        yield srv
    finally:
        srv.stop()


def kinds(events, kind):
    return [e for e in events.items if e[0] == kind]


def test_echo_with_a_plain_socket_peer():
    with serving(idle_timeout=None) as echo:
        with peer() as s:
            s.sendto(b"hello", echo.listen_address)
            assert s.recvfrom(2048) == (b"HELLO", echo.listen_address)
            for i in range(50):
                s.sendto(b"m%d" % i, echo.listen_address)
            got = sorted(s.recvfrom(2048)[0] for _ in range(50))
            assert got == sorted(b"M%d" % i for i in range(50))
            accepts = kinds(echo.events, "accept")
            assert len(accepts) == 1 and accepts[0][2] == s.getsockname()
            conn_id = accepts[0][1]
            assert echo.remote_address(conn_id) == s.getsockname()
            assert conn_id in echo.connection_ids


def test_datagram_boundaries_and_sizes():
    with serving(idle_timeout=None) as echo:
        assert echo.max_datagram_size == 1472
        with peer() as s:
            for n in (1, 100, 1472):
                s.sendto(b"a" * n, echo.listen_address)
                assert s.recvfrom(4096)[0] == b"A" * n
            conn_id = kinds(echo.events, "accept")[0][1]
        with pytest.raises(ValueError, match="max_datagram_size"):
            echo.send(conn_id, b"x" * 1473)
        with pytest.raises(ValueError, match="empty datagram"):
            echo.send(conn_id, b"")
        with pytest.raises(ValueError, match="max_datagram_size"):
            echo.send_packets(conn_id, [b"x" * 1000, b"y" * 1000])


def test_send_packets_is_one_datagram():
    with serving(idle_timeout=None) as echo:
        with peer() as s:
            s.sendto(b"x", echo.listen_address)
            s.recvfrom(2048)
            conn_id = kinds(echo.events, "accept")[0][1]
            assert echo.send_packets(conn_id, [b"ab", memoryview(b"cd"), bytearray(b"ef")])
            assert s.recvfrom(2048)[0] == b"abcdef"


def test_oversize_empty_and_garbage_datagrams_do_no_harm():
    with serving(idle_timeout=None) as echo:
        with peer() as s:
            s.sendto(b"z" * 4000, echo.listen_address)      # over 1472: the library drops it
            s.sendto(b"", echo.listen_address)               # the library's heartbeat: answered empty
            assert s.recvfrom(2048)[0] == b""
            for _ in range(200):
                data = os.urandom(int.from_bytes(os.urandom(2), "big") % 1472 + 1)
                s.sendto(data, echo.listen_address)
                assert s.recvfrom(2048)[0] == data.upper()
            s.sendto(b"still", echo.listen_address)
            assert s.recvfrom(2048)[0] == b"STILL"
        received = [e[2] for e in kinds(echo.events, "receive")]
        assert b"" not in received and all(len(d) <= 1472 for d in received)
        assert len(received) == 201


def test_many_peers():
    srv = EchoServer(idle_timeout=None)
    srv.start(HOST, 0)
    socks = [peer() for _ in range(1000)]
    try:
        # In rounds of 50 at once: a burst of 1,000 datagrams could overflow
        # the sockets' buffers (UDP drops, by design).
        for start in range(0, 1000, 50):
            for i in range(start, start + 50):
                socks[i].sendto(b"p%d" % i, srv.listen_address)
            for i in range(start, start + 50):
                assert socks[i].recvfrom(2048)[0] == b"P%d" % i
        wait_for(lambda: len(kinds(srv.events, "accept")) == 1000)
        assert srv.connection_count == 1000
        assert len({e[1] for e in kinds(srv.events, "accept")}) == 1000
    finally:
        for s in socks:
            s.close()
        srv.stop()
    # every peer was forgotten at stop
    assert len(kinds(srv.events, "close")) == 1000


def test_silent_peers_are_forgotten_and_talking_ones_kept():
    srv = EchoServer(idle_timeout=0.4)
    srv.start(HOST, 0)
    try:
        with peer() as quiet, peer() as talker:
            quiet.sendto(b"q", srv.listen_address)
            talker.sendto(b"t", srv.listen_address)
            quiet.recvfrom(2048)
            talker.recvfrom(2048)
            ids = {e[2]: e[1] for e in kinds(srv.events, "accept")}
            quiet_id, talker_id = ids[quiet.getsockname()], ids[talker.getsockname()]
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                talker.sendto(b"t", srv.listen_address)
                talker.recvfrom(2048)
                time.sleep(0.05)
            closed = [e[1] for e in kinds(srv.events, "close")]
            assert quiet_id in closed
            assert talker_id not in closed
            assert len(kinds(srv.events, "accept")) == 2     # the talker kept its id
            # a forgotten peer that comes back is a new connection
            quiet.sendto(b"back", srv.listen_address)
            assert quiet.recvfrom(2048)[0] == b"BACK"
            assert len(kinds(srv.events, "accept")) == 3
    finally:
        srv.stop()


def test_asyncio_datagram_endpoint_as_the_peer():
    with serving(idle_timeout=None) as echo:
        async def main():
            loop = asyncio.get_running_loop()
            got = loop.create_future()

            class Peer(asyncio.DatagramProtocol):
                def datagram_received(self, data, addr):
                    if not got.done():
                        got.set_result((data, addr))

            transport, _ = await loop.create_datagram_endpoint(Peer, remote_addr=echo.listen_address)
            try:
                transport.sendto(b"from asyncio")
                return await asyncio.wait_for(got, TIMEOUT)
            finally:
                transport.close()

        assert asyncio.run(main()) == (b"FROM ASYNCIO", echo.listen_address)


def test_client_with_an_asyncio_server():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                seen.append(data)
                if data:                      # the library's start probe is empty
                    self.transport.sendto(data[::-1], addr)

        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(HOST, 0))
        port = transport.get_extra_info("sockname")[1]
        got = Recorder()

        class Client(hpsocket.UdpClient):
            def on_receive(self, conn_id, data):
                got.add(data)

        cli = Client()
        assert cli.detect_attempts == 0
        await loop.run_in_executor(None, cli.start, HOST, port)
        try:
            for i in range(20):
                assert cli.send(b"abc%d" % i)
            await loop.run_in_executor(None, wait_for, lambda: len(got.items) == 20)
        finally:
            cli.stop()
            transport.close()
        return seen, got.items

    seen, got = asyncio.run(main())
    assert sorted(got) == sorted((b"abc%d" % i)[::-1] for i in range(20))
    assert [d for d in seen if d] == [b"abc%d" % i for i in range(20)]


def test_client_to_a_closed_port_is_closed_with_econnrefused():
    s = peer()
    port = s.getsockname()[1]
    s.close()
    closed = threading.Event()
    errors = []

    class Client(hpsocket.UdpClient):
        def on_close(self, conn_id, operation, error):
            errors.append(error)
            closed.set()

    cli = Client()
    cli.start(HOST, port)
    cli.send(b"anyone?")
    assert closed.wait(TIMEOUT)
    cli.stop()
    assert errors == [111]


def test_multicast_on_loopback():
    group = "239.255.77.%d" % (os.getpid() % 200 + 1)
    port = peer_port = None
    with peer() as s:
        peer_port = s.getsockname()[1]
    got = Recorder()

    class Member(hpsocket.UdpCast):
        def on_receive(self, conn_id, data):
            got.add((data, self.remote_address()))

    a = Member(multicast_loop=True, reuse_address=True)
    b = Member(multicast_loop=True, reuse_address=True)
    assert a.cast_mode == hpsocket.CastMode.MULTICAST
    a.start(group, peer_port, bind_address=HOST)
    b.start(group, peer_port, bind_address=HOST)
    try:
        assert a.send(b"to the group")
        wait_for(lambda: len([g for g in got.items if g[0] == b"to the group"]) >= 2)
        senders = {g[1] for g in got.items}
        assert all(addr[0] == HOST for addr in senders)
        with pytest.raises(ValueError):
            a.send(b"")
    finally:
        a.stop()
        b.stop()


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        hpsocket.UdpServer(max_datagram_size=0)
    with pytest.raises(ValueError):
        hpsocket.UdpServer(max_datagram_size=70000)
    with pytest.raises(TypeError):
        hpsocket.UdpServer(idle_timeout="soon")
    with pytest.raises(ValueError):
        hpsocket.UdpServer(idle_timeout=0)
    with pytest.raises(TypeError, match="socket_buffer_size"):
        hpsocket.UdpServer(socket_buffer_size=65536)        # TCP's
    with pytest.raises(ValueError):
        hpsocket.UdpCast(multicast_ttl=300)
    with pytest.raises(ValueError):
        hpsocket.UdpCast(cast_mode=7)
    srv = hpsocket.UdpServer()
    with pytest.raises(NotImplementedError):
        srv.pause_receive(1)
    srv.start(HOST, 0)
    try:
        with pytest.raises(hpsocket.HPSocketError):
            srv.max_datagram_size = 512        # only while stopped
        assert srv.send(12345, b"nobody") is False
    finally:
        srv.stop()
    srv.max_datagram_size = 512
    assert srv.max_datagram_size == 512


def test_stop_with_live_peers_and_restart():
    with serving(idle_timeout=None) as echo:
        with peer() as s:
            for _ in range(3):
                s.sendto(b"x", echo.listen_address)
                assert s.recvfrom(2048)[0] == b"X"
                echo.stop()
                assert len(kinds(echo.events, "close")) >= 1
                echo.start(HOST, 0)
