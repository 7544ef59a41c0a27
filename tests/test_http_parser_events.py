"""HttpServer: the library's parser events, for classes that override them."""

import http.client
import socket
import threading

import pytest

import hpsocket
from support import wait_for

HOST = "127.0.0.1"


class Recorder(hpsocket.HttpServer):
    def __init__(self, **options):
        super().__init__(**options)
        self.events = []
        self.lock = threading.Lock()

    def _add(self, *event):
        with self.lock:
            self.events.append(event)

    def on_message_begin(self, conn_id):
        self._add("begin")

    def on_request_line(self, conn_id, method, target):
        self._add("line", method, target)

    def on_header(self, conn_id, name, value):
        self._add("header", name, value)
        if name.lower() == "x-refuse":
            return hpsocket.HandleResult.ERROR
        if name.lower() == "x-raise":
            raise ValueError("refused by a handler")
        return None

    def on_headers_complete(self, conn_id):
        self._add("headers_complete")

    def on_body(self, conn_id, data):
        self._add("body", data)

    def on_chunk_header(self, conn_id, length):
        self._add("chunk", length)

    def on_chunk_complete(self, conn_id):
        self._add("chunk_complete")

    def on_message_complete(self, conn_id):
        self._add("complete")

    def on_upgrade(self, conn_id, upgrade_type):
        self._add("upgrade", upgrade_type)

    def on_parse_error(self, conn_id, code, description):
        self._add("parse_error", code)

    def on_request(self, request):
        self._add("request", request.path, request.body)
        return 200, [], b"ok"


def _exchange(port, data):
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_events_in_order_for_a_chunked_request():
    srv = Recorder()
    srv.start(HOST, 0)
    try:
        out = _exchange(srv.listen_address[1],
                        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK")
        # HP-Socket 5.2.2 reports a chunk's completion only for the last one.
        assert srv.events == [
            ("begin",), ("line", "POST", "/p"), ("header", "Host", "a"),
            ("header", "Transfer-Encoding", "chunked"), ("header", "Connection", "close"),
            ("headers_complete",), ("chunk", 3), ("body", b"abc"),
            ("chunk", 2), ("body", b"de"), ("chunk", 0), ("chunk_complete",),
            ("complete",), ("request", "/p", b"abcde"),
        ]
    finally:
        srv.stop()


def test_a_handler_refuses_with_error_or_an_exception(unraisable):
    srv = Recorder()
    srv.start(HOST, 0)
    try:
        port = srv.listen_address[1]
        for header in (b"X-Refuse: 1", b"X-Raise: 1"):
            srv.events.clear()
            out = _exchange(port, b"GET /r HTTP/1.1\r\nHost: a\r\n" + header + b"\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            assert out.startswith(b"HTTP/1.1 400 Bad Request") and out.count(b"HTTP/1.1") == 1
            assert not any(e[0] == "request" for e in srv.events)
    finally:
        srv.stop()
    assert any(isinstance(r.exc_value, ValueError) for r in unraisable.items)


def test_upgrade_and_parse_error_are_reported():
    srv = Recorder()
    srv.start(HOST, 0)
    try:
        port = srv.listen_address[1]
        out = _exchange(port, b"GET /u HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in out
        # on_upgrade follows on_message_complete, after the answer left.
        wait_for(lambda: ("upgrade", 1) in srv.events)
        srv.events.clear()
        out = _exchange(port, b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400")
        assert [e for e in srv.events if e[0] == "parse_error"]
    finally:
        srv.stop()


def test_events_not_overridden_are_not_dispatched():
    """A subclass that overrides only on_request handles only that event:
    HttpServer's own parser-event methods are quiet defaults; overriding
    one more adds exactly that one."""
    class Plain(hpsocket.HttpServer):
        def on_request(self, request):
            return 200, [], b"plain"

    class One(Plain):
        def on_header(self, conn_id, name, value):
            pass

    srv, one = Plain(), One()     # the class info is made with the first instance
    mask_plain, fns_plain = Plain.__dict__["_hpsocket_events"]
    mask_one, fns_one = One.__dict__["_hpsocket_events"]
    assert bin(mask_plain).count("1") == 1                   # on_request
    assert bin(mask_one ^ mask_plain).count("1") == 1        # + on_header
    assert sum(f is not None for f in fns_plain) == 1
    del srv, one


def test_http_client_sees_parser_events_only_where_overridden():
    srv = Recorder()
    srv.start(HOST, 0)
    try:
        c = http.client.HTTPConnection(HOST, srv.listen_address[1], timeout=10)
        c.request("POST", "/x", body=b"12345")
        assert c.getresponse().read() == b"ok"
        c.close()
        assert ("body", b"12345") in srv.events and ("request", "/x", b"12345") in srv.events
    finally:
        srv.stop()
