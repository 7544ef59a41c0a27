"""Direct writes (hpsocket/_send.h): what a connection's own callback
sends is gathered and written straight to the socket when the callback
returns, when nothing is queued for the connection; any other send goes
through HP-Socket's queue, and the two never interleave.
A component made with direct_writes=False sends everything through the
queue."""

import os
import queue
import random
import socket
import struct
import threading
import zlib

import pytest

import hpsocket

from support import HOST, TIMEOUT, bulk_echo, pack_frame, recv_exact


@pytest.fixture(params=["direct", "queued"])
def send_mode(request):
    """Both ways of sending: direct writes (the default) and the library's
    queue only."""
    return request.param


def _frame(model, body):
    return pack_frame(body) if model == "pack" else body


def _server(model, handler, mode="direct"):
    base = {"push": hpsocket.TcpServer, "pull": hpsocket.TcpPullServer,
            "pack": hpsocket.TcpPackServer}[model]

    class Server(base):
        def on_receive(self, conn_id, data):
            if model == "pull":
                data = self.fetch(conn_id, data)
            handler(self, conn_id, data)

    return Server(direct_writes=(mode == "direct"))


@pytest.mark.parametrize("model", ["push", "pull", "pack"])
def test_replies_go_around_the_library_queue(model, send_mode):
    """Direct: what on_receive sends is not in the library's queue (it is
    written when the handler returns); queued: it is."""
    queued = []

    def handler(srv, conn_id, data):
        srv.send(conn_id, b"re:" + data)
        srv.send(conn_id, b"re2:" + data)
        queued.append(srv.pending_data_length(conn_id))

    reply = _frame(model, b"re:ping") + _frame(model, b"re2:ping")
    with _server(model, handler, send_mode) as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as sock:
            sock.sendall(_frame(model, b"ping"))
            assert recv_exact(sock, len(reply)) == reply
    assert queued == [0 if send_mode == "direct" else len(reply)]


def test_replies_leave_when_the_handler_returns(send_mode):
    """HP-Socket fact behind direct writes: the library writes a connection's
    queued data only once that connection's callback has returned (it holds
    the socket's I/O lock for the callback), so nothing it queues can
    overtake or split a direct write made from the callback.  Gathered
    direct writes leave at the same moment."""
    release = threading.Event()
    replied = threading.Event()

    def handler(srv, conn_id, data):
        srv.send(conn_id, b"re:" + data)
        replied.set()
        release.wait(TIMEOUT)

    with _server("push", handler, send_mode) as srv:
        srv.start(HOST, 0)
        try:
            with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as sock:
                sock.sendall(b"ping")
                assert replied.wait(TIMEOUT)
                sock.settimeout(0.5)
                with pytest.raises(socket.timeout):
                    sock.recv(100)
                release.set()
                sock.settimeout(TIMEOUT)
                assert recv_exact(sock, 7) == b"re:ping"
        finally:
            release.set()


def test_large_and_many_replies():
    """Replies past what one callback gathers (HPS_OUT_MAX) are written at
    once, in order with what was gathered before them."""
    sizes = [10, 70000, 5, 65536, 1, 200000, 3]

    def handler(srv, conn_id, data):
        for i, n in enumerate(sizes):
            srv.send(conn_id, bytes([i]) * n)

    expected = b"".join(bytes([i]) * n for i, n in enumerate(sizes))
    with _server("push", handler) as srv:
        srv.start(HOST, 0)
        with socket.create_connection(srv.listen_address, timeout=TIMEOUT) as sock:
            sock.sendall(b"go")
            assert recv_exact(sock, len(expected)) == expected


def _make_frame(tag, seq, rng):
    data = rng.randbytes(rng.randint(0, 20000))
    payload = struct.pack("<II", seq, zlib.crc32(data)) + data
    return struct.pack("<II", tag, len(payload)) + payload


def test_direct_and_queued_sends_never_interleave():
    """Replies written directly from on_receive (most of them partly: the
    socket's send buffer is small) while another thread sends frames to the
    same connection: every frame arrives whole, each stream in order.  (With
    the other thread's sends not held back while a direct write is under way,
    see hps_direct_forbid, frames interleaved in most runs.)"""
    conn_ready = threading.Event()
    tokens = queue.Queue()
    backlog = []

    class Server(hpsocket.TcpPullServer):
        def on_accept(self, conn_id, fd):
            s = socket.socket(fileno=os.dup(fd))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            s.close()
            self.conn_id = conn_id
            conn_ready.set()

        def on_receive(self, conn_id, length):
            tokens.put(None)   # the other thread sends while this one does
            while True:
                head = self.peek(conn_id, 8)
                if head is None:
                    return
                frame = self.fetch(conn_id, 8 + struct.unpack("<II", head)[1])
                if frame is None:
                    return
                assert self.send(conn_id, frame)

    rng = random.Random("interleave")
    echoed = [_make_frame(1, i, rng) for i in range(600)]
    pushed = [_make_frame(2, i, rng) for i in range(600)]
    got = {1: [], 2: []}

    def push(srv):
        for frame in pushed:
            try:
                tokens.get(timeout=0.05)
            except queue.Empty:
                pass
            assert srv.send(srv.conn_id, frame)
            backlog.append(srv.pending_data_length(srv.conn_id))

    def read_frame(sock):
        tag, n = struct.unpack("<II", recv_exact(sock, 8))
        assert tag in got, f"stream out of step: tag {tag:#x}"
        payload = recv_exact(sock, n)
        seq, crc = struct.unpack("<II", payload[:8])
        assert zlib.crc32(payload[8:]) == crc, f"frame {tag}/{seq} damaged"
        got[tag].append(seq)
        return tag

    with Server() as srv:
        srv.start(HOST, 0)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(TIMEOUT)
            sock.connect(srv.listen_address)
            assert conn_ready.wait(TIMEOUT)
            pusher = threading.Thread(target=push, args=(srv,))
            pusher.start()
            try:
                for frame in echoed:      # one at a time: the replies go direct
                    sock.sendall(frame)
                    while read_frame(sock) != 1:
                        pass
                while len(got[2]) < len(pushed):
                    read_frame(sock)
            finally:
                pusher.join(TIMEOUT)
            assert not pusher.is_alive()
    assert got[1] == list(range(len(echoed)))
    assert got[2] == list(range(len(pushed)))


@pytest.mark.parametrize("kind", ["agent", "client"])
def test_bulk_echo_through_the_library_queue(kind):
    bulk_echo("push", kind, direct_writes=False)
