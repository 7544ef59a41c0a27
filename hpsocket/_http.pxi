# The HTTP family: HttpServer on HP-Socket's HttpServer.  The library's parser
# events are taken without the GIL (_http.h assembles and checks each
# request); Python is entered once per request, with a Request; responses
# are built here (never with the library's SendResponse) and leave in request
# order through hps_http_submit, whichever thread makes them.

from urllib.parse import unquote as _unquote, parse_qs as _parse_qs
from http import HTTPStatus as _HTTPStatus
from email.utils import formatdate as _formatdate
import mimetypes as _mimetypes

# (event index, method name per role: server, agent, client).
_HTTP_EVENTS = (
    (EVI_PREPARE, ("on_prepare_listen", None, None)),
    (EVI_ACCEPT, ("on_accept", None, None)),
    (EVI_HANDSHAKE, ("on_handshake", None, None)),
    (EVI_SEND, ("on_send", None, None)),
    (EVI_CLOSE, ("on_close", None, None)),
    (EVI_SHUTDOWN, ("on_shutdown", None, None)),
    (EVI_REFUSED, ("on_refused", None, None)),
    (EVI_REQUEST, ("on_request", None, None)),
    (EVI_MESSAGE_BEGIN, ("on_message_begin", None, None)),
    (EVI_REQUEST_LINE, ("on_request_line", None, None)),
    (EVI_HEADER, ("on_header", None, None)),
    (EVI_HEADERS_COMPLETE, ("on_headers_complete", None, None)),
    (EVI_BODY, ("on_body", None, None)),
    (EVI_CHUNK_HEADER, ("on_chunk_header", None, None)),
    (EVI_CHUNK_COMPLETE, ("on_chunk_complete", None, None)),
    (EVI_MESSAGE_COMPLETE, ("on_message_complete", None, None)),
    (EVI_UPGRADE, ("on_upgrade", None, None)),
    (EVI_PARSE_ERROR, ("on_parse_error", None, None)),
    (EVI_WEBSOCKET, ("on_websocket", None, None)),
    (EVI_WS_OPEN, ("on_ws_open", None, None)),
    (EVI_WS_MESSAGE, ("on_ws_message", None, None)),
    (EVI_WS_CLOSE, ("on_ws_close", None, None)),
)


_quiet_defaults.update(("on_message_begin", "on_request_line", "on_header", "on_headers_complete",
                        "on_body", "on_chunk_header", "on_chunk_complete", "on_message_complete",
                        "on_upgrade", "on_parse_error", "on_websocket", "on_ws_open",
                        "on_ws_message", "on_ws_close"))


# -- requests ------------------------------------------------------------------

cdef class Headers:
    """A request's header fields: case-insensitive lookup, repeated names
    kept, in the order they arrived.  Names and values are str (the bytes
    as latin-1)."""

    cdef list _items

    def __init__(self, items=()):
        self._items = [(str(n), str(v)) for n, v in items]

    def get(self, name, default=None):
        """The first value of field ``name``, or default."""
        cdef str key = name.lower()
        for n, v in self._items:
            if n.lower() == key:
                return v
        return default

    def get_all(self, name):
        """Every value of field ``name``, in order (a list, maybe empty)."""
        cdef str key = name.lower()
        return [v for n, v in self._items if n.lower() == key]

    getall = get_all

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self):
        return iter([n for n, v in self._items])

    def __len__(self):
        return len(self._items)

    def keys(self):
        return [n for n, v in self._items]

    def values(self):
        return [v for n, v in self._items]

    def items(self):
        """(name, value) pairs in wire order, repeats included."""
        return list(self._items)

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._items == (<Headers>other)._items
        return NotImplemented

    def __repr__(self):
        return f"Headers({self._items!r})"


cdef class BodyStream:
    """A request body read as it arrives (HttpServer.stream_body_over):
    ``read(n)``, ``readinto(buffer)``.  b"" at the end; ConnectionError if
    the body will not come whole (the client closed, it exceeded
    max_body_size, it was malformed); TimeoutError after body_timeout
    without a byte.  Reading blocks: for handlers on request threads."""

    cdef hps_http_pipe* _pipe
    cdef int _timeout_ms
    cdef bint _done
    cdef object _server       # the native server must outlive the pipe's calls into it

    def __init__(self):
        raise TypeError("BodyStream objects are made by HttpServer")

    def __dealloc__(self):
        if self._pipe != NULL:
            hps_http_pipe_discard(self._pipe)
            hps_http_pipe_release(self._pipe)
            self._pipe = NULL

    def readable(self):
        return True

    def readinto(self, buffer):
        """Fill buffer with what has arrived (waiting for at least one byte):
        the count, 0 at the end of the body."""
        cdef Py_buffer view
        cdef long got
        if self._done:
            return 0
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
        try:
            if view.len == 0:
                return 0
            with nogil:
                got = hps_http_pipe_read(self._pipe, <unsigned char*>view.buf, <size_t>view.len,
                                         self._timeout_ms)
        finally:
            PyBuffer_Release(&view)
        if got == -1:
            raise ConnectionError("the request body will not arrive whole")
        if got == -2:
            raise TimeoutError("no request body bytes within body_timeout")
        if got == 0:
            self._done = True
        return got

    def read(self, n=-1):
        """Up to n bytes (waiting for at least one); all the rest if n < 0."""
        cdef bytearray buf
        cdef list parts
        if n is None or n < 0:
            parts = []
            while True:
                buf = bytearray(65536)
                got = self.readinto(buf)
                if not got:
                    return b"".join(parts)
                parts.append(bytes(buf[:got]))
        buf = bytearray(n)
        got = self.readinto(buf)
        return bytes(buf[:got])

    cdef void _discard(self) noexcept:
        """The response went out: the rest of the body is dropped."""
        if self._pipe != NULL and not self._done:
            hps_http_pipe_discard(self._pipe)


cdef class Request:
    """One whole HTTP request, as on_request receives it."""

    cdef readonly str method
    cdef readonly str target
    cdef readonly str version
    cdef Headers _headers
    cdef bytes _raw_headers       # name\0value\0 pairs, parsed on first use
    cdef int _nheaders
    cdef readonly bytes body
    cdef readonly BodyStream body_stream
    cdef readonly bint keep_alive
    cdef readonly object conn_id
    cdef object _server
    cdef unsigned long long _seq
    cdef bint _responded
    cdef object _path
    cdef object _query_params

    def __init__(self):
        raise TypeError("Request objects are made by HttpServer")

    @property
    def headers(self):
        """The header fields (Headers), in wire order."""
        cdef const char* p
        cdef list items
        cdef int i
        cdef str name
        if self._headers is None:
            items = []
            p = PyBytes_AS_STRING(self._raw_headers)
            for i in range(self._nheaders):
                name = _latin1(p)
                p += strlen(p) + 1
                items.append((name, _latin1(p)))
                p += strlen(p) + 1
            self._headers = Headers.__new__(Headers)
            self._headers._items = items
            self._raw_headers = None
        return self._headers

    @property
    def path(self):
        """The target's path, percent-decoded (str)."""
        if self._path is None:
            t = self.target
            i = len(t)
            for sep in ("?", "#"):
                j = t.find(sep)
                if 0 <= j < i:
                    i = j
            self._path = _unquote(t[:i], errors="surrogateescape")
        return self._path

    @property
    def query(self):
        """The raw query string (after "?", without a fragment), or ""."""
        t = self.target
        i = t.find("?")
        if i < 0:
            return ""
        j = t.find("#", i)
        return t[i + 1:] if j < 0 else t[i + 1:j]

    @property
    def query_params(self):
        """The query parsed: {name: [values...]}, blank values kept."""
        if self._query_params is None:
            self._query_params = _parse_qs(self.query, keep_blank_values=True)
        return self._query_params

    @property
    def remote_address(self):
        """The client's (host, port), or None once the connection is gone."""
        try:
            return self._server.remote_address(self.conn_id)
        except HPSocketError:
            return None

    @property
    def responded(self):
        return self._responded

    def respond(self, status, headers=(), body=b""):
        """Same as server.respond(self, status, headers, body)."""
        return self._server.respond(self, status, headers, body)

    def __repr__(self):
        return f"<Request {self.method} {self.target} HTTP/{self.version} conn={self.conn_id}>"


cdef inline str _latin1(const char* p):
    return PyUnicode_DecodeLatin1(p, strlen(p), NULL)


cdef Request _make_request(HttpServer server, HP_CONNID conn_id, const char* p, int nheaders,
                           const unsigned char* body, size_t body_len, unsigned int version,
                           unsigned long long seq, bint keep_alive):
    """A Request from a parsed head ("method\\0target\\0" then name\\0value\\0
    pairs) and body."""
    cdef Request req = Request.__new__(Request)
    cdef const char* start
    cdef int i
    # The usual methods as shared str objects.
    if strcmp(p, "GET") == 0:
        req.method = "GET"
    elif strcmp(p, "POST") == 0:
        req.method = "POST"
    elif strcmp(p, "HEAD") == 0:
        req.method = "HEAD"
    else:
        req.method = _latin1(p)
    p += strlen(p) + 1
    req.target = _latin1(p)
    p += strlen(p) + 1
    start = p
    for i in range(nheaders):
        p += strlen(p) + 1
        p += strlen(p) + 1
    req._raw_headers = PyBytes_FromStringAndSize(start, p - start)
    req._nheaders = nheaders
    req.body = PyBytes_FromStringAndSize(<const char*>body, body_len) if body_len else b""
    req.version = "1.1" if (version >> 8) & 0xFF else "1.0"
    req.keep_alive = keep_alive
    req.conn_id = conn_id
    req._server = server
    req._seq = seq
    return req


cdef int _attach_stream(Request req, hps_http_pipe* pipe, unsigned int timeout_ms) except -1:
    """Give req the body stream (the reference to pipe passes to it)."""
    cdef BodyStream stream = BodyStream.__new__(BodyStream)
    stream._pipe = pipe
    stream._server = req._server
    stream._timeout_ms = <int>min(timeout_ms, 0x7FFFFFFF)
    req.body_stream = stream
    return 0


# -- responses -----------------------------------------------------------------

cdef dict _status_lines = {}


cdef bytes _status_line(int status):
    line = _status_lines.get(status)
    if line is None:
        reason = hps_http_reason(status)
        if reason != NULL:
            text = reason.decode()
        else:
            try:
                text = _HTTPStatus(status).phrase
            except ValueError:
                text = "Unknown"
        line = f"HTTP/1.1 {status} {text}\r\n".encode("latin-1")
        _status_lines[status] = line
    return line


cdef bytes _header_bytes(object v, str what):
    if isinstance(v, str):
        return (<str>v).encode("latin-1")
    if isinstance(v, bytes):
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, int) and what == "value" and not isinstance(v, bool):
        return str(v).encode()
    raise TypeError(f"header {what}s must be str or bytes, not {type(v).__name__}")


# How a response body is delimited.
cdef enum:
    FRAME_LENGTH = 0      # Content-Length
    FRAME_CHUNKED = 1     # Transfer-Encoding: chunked
    FRAME_CLOSE = 2       # the end of the connection (HTTP/1.0, length unknown)


# What _build_head decided besides the head itself.
ctypedef struct _HeadInfo:
    bint close
    bint send_body
    int framing
    long long declared


cdef inline int _append(hps_buf* out, const char* p, Py_ssize_t n) except -1:
    if hps_buf_append(out, <const unsigned char*>p, <int>n) < 0:
        raise MemoryError()
    return 0


cdef inline const char* _field(object v, Py_ssize_t* n, list keep, bint is_value) except NULL:
    """A header name or value as bytes (pointer, length); str is latin-1."""
    cdef const char* p
    if isinstance(v, str):
        if PyUnicode_IS_ASCII(v):
            return PyUnicode_AsUTF8AndSize(v, n)
        v = (<str>v).encode("latin-1")
    elif is_value and isinstance(v, int) and not isinstance(v, bool):
        v = str(v).encode()
    elif isinstance(v, (bytearray, memoryview)):
        v = bytes(v)
    elif not isinstance(v, bytes):
        raise TypeError(f"header {'value' if is_value else 'name'}s must be str or bytes, not {type(v).__name__}")
    keep.append(v)
    n[0] = PyBytes_GET_SIZE(v)
    return PyBytes_AS_STRING(v)


cdef inline bint _is(const char* p, Py_ssize_t n, const char* name, Py_ssize_t m) noexcept:
    return n == m and strncasecmp(p, name, m) == 0


cdef int _build_head(HttpServer server, Request req, object status, object headers, long long body_len,
                     hps_buf* out, _HeadInfo* info) except -1:
    """Write the head of a response to req into out (empty).  body_len: the
    body's length, or -1 if it is streamed (then a Content-Length among
    headers gives it, else chunked or, for HTTP/1.0, until the close)."""
    cdef int code
    cdef const char* n
    cdef const char* v
    cdef Py_ssize_t nl, vl, i
    cdef bint has_date = False, has_server = False
    cdef bint close = not req.keep_alive or hps_http_last_answer(server._ctx, <HP_CONNID>req.conn_id, req._seq)
    cdef bint no_body, head_only = req.method == "HEAD"
    cdef long long declared = -1, cl
    cdef int framing = FRAME_LENGTH
    cdef char num[32]
    cdef char date[64]
    cdef bytes line
    cdef list keep = []
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    code = status
    if not 200 <= code <= 599:
        raise ValueError(f"status must be a final status, 200 to 599, not {status}")
    no_body = code == 204 or code == 304
    if no_body and body_len > 0:
        raise ValueError(f"a {code} response has no body")
    line = _status_line(code)
    _append(out, PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line))
    if isinstance(headers, dict):
        headers = headers.items()
    for item in headers:
        if isinstance(item, list) and len(<list>item) == 2:
            item = tuple(item)      # ASGI's [name, value]
        elif not isinstance(item, tuple) or len(<tuple>item) != 2:
            raise TypeError(f"headers must be (name, value) pairs, not {item!r}")
        n = _field((<tuple>item)[0], &nl, keep, False)
        v = _field((<tuple>item)[1], &vl, keep, True)
        if not hps_http_token(<const unsigned char*>n, nl):
            raise ValueError(f"invalid header name {(<tuple>item)[0]!r}")
        if not hps_http_value_ok(<const unsigned char*>v, vl):
            raise ValueError(f"header value of {(<tuple>item)[0]!r} contains CR, LF or NUL")
        if _is(n, nl, "content-length", 14):
            while vl and (v[0] == 32 or v[0] == 9):
                v += 1
                vl -= 1
            while vl and (v[vl - 1] == 32 or v[vl - 1] == 9):
                vl -= 1
            if vl == 0 or vl > 18:
                raise ValueError(f"invalid Content-Length {(<tuple>item)[1]!r}")
            cl = 0
            for i in range(vl):
                if not 48 <= v[i] <= 57:
                    raise ValueError(f"invalid Content-Length {(<tuple>item)[1]!r}")
                cl = cl * 10 + (v[i] - 48)
            if declared >= 0 and cl != declared:
                raise ValueError("two different Content-Length headers")
            declared = cl
            continue   # written below, once
        if _is(n, nl, "transfer-encoding", 17):
            raise ValueError("Transfer-Encoding is hpsocket's to set (a streamed response without Content-Length is chunked)")
        if _is(n, nl, "connection", 10):
            for i in range(vl - 4):
                if strncasecmp(v + i, "close", 5) == 0:
                    close = True
            continue   # written below
        if _is(n, nl, "date", 4):
            has_date = True
        elif _is(n, nl, "server", 6):
            has_server = True
        _append(out, n, nl)
        _append(out, ": ", 2)
        _append(out, v, vl)
        _append(out, "\r\n", 2)
    if body_len >= 0:
        if declared >= 0 and declared != body_len and not (no_body or head_only):
            raise ValueError(f"Content-Length {declared} does not match the body's {body_len} bytes")
        if not (head_only and declared >= 0):   # HEAD: the length a GET would have
            declared = body_len
    if not has_date:
        _append(out, date, hps_http_date(date))
    if not has_server and server._server_line is not None:
        _append(out, PyBytes_AS_STRING(server._server_line), PyBytes_GET_SIZE(server._server_line))
    if no_body:
        declared = 0
    elif declared >= 0:
        _append(out, num, snprintf(num, sizeof(num), "Content-Length: %lld\r\n", declared))
    elif req.version == "1.0":
        framing = FRAME_CLOSE
        close = True
    else:
        framing = FRAME_CHUNKED
        if not head_only:
            _append(out, "Transfer-Encoding: chunked\r\n", 28)
    if close:
        _append(out, "Connection: close\r\n\r\n", 21)
    elif req.version == "1.0":
        _append(out, "Connection: keep-alive\r\n\r\n", 26)
    else:
        _append(out, "\r\n", 2)
    info.close = close
    info.send_body = not (no_body or head_only)
    info.framing = framing
    info.declared = declared
    return 0


cdef object _respond(HttpServer server, Request req, object status, object headers, object body):
    """Send the response to req: True, or False if the connection is gone."""
    cdef Py_buffer view
    cdef WSABUF bufs[2]
    cdef int count = 1, rc = 0, gate
    cdef hps_buf head
    cdef _HeadInfo info
    cdef HP_CONNID conn_id = req.conn_id
    cdef unsigned long long seq = req._seq
    if req._responded:
        raise RuntimeError(f"{req!r} was already answered")
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = (<str>body).encode("utf-8")
    memset(&head, 0, sizeof(head))
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        if view.len > 0xFFFFFFFF:
            raise ValueError("a body over 4 GiB cannot be sent in one response")
        _build_head(server, req, status, headers, view.len, &head, &info)
        req._responded = True
        bufs[0].buf = head.buf + head.head
        bufs[0].len = <unsigned int>hps_buf_len(&head)
        if info.send_body and view.len:
            bufs[1].buf = <unsigned char*>view.buf
            bufs[1].len = <unsigned int>view.len
            count = 2
        with nogil:
            gate = hps_gate_enter(server._ctx)
            if gate:
                rc = hps_http_submit(server._ctx, server._handle, conn_id, seq, bufs, count,
                                     HPS_HTTP_END | (HPS_HTTP_CLOSE if info.close else 0))
            hps_gate_leave(server._ctx, gate)
        if req.body_stream is not None:
            req.body_stream._discard()
    finally:
        PyBuffer_Release(&view)
        hps_buf_free(&head)
    return rc > 0


# A streamed response waits (outside the workers) while this much is queued.
cdef int _HIGH_WATER = 1 << 20


cdef int _submit_piece(HttpServer server, Request req, WSABUF* bufs, int count, int flags,
                       bint wait) except -2:
    """One piece of req's response, in order; then, off the workers and if
    wait, wait while the connection's send queue is over _HIGH_WATER.  The
    result of hps_http_submit."""
    cdef HP_CONNID conn_id = req.conn_id
    cdef unsigned long long seq = req._seq
    cdef int rc = 0, pending, gate
    with nogil:
        gate = hps_gate_enter(server._ctx)
        if gate:
            rc = hps_http_submit(server._ctx, server._handle, conn_id, seq, bufs, count, flags)
            # Written now, not when the callback returns: the next piece may come
            # from another thread, through the library's queue.
            hps_out_flush_for(server._ctx, server._handle, conn_id)
            if rc > 0 and wait and not hps_in_callback():
                while server._ctx.ops.get_pending(server._handle, conn_id, &pending) and pending > _HIGH_WATER:
                    usleep(1000)
        hps_gate_leave(server._ctx, gate)
    return rc


cdef class ResponseWriter:
    """A response sent in pieces (HttpServer.start_response): ``write(data)``
    each piece, then ``end()``.  Without a Content-Length it is chunked (or,
    to an HTTP/1.0 client, ends with the connection).  Outside the worker
    threads write() waits while more than 1 MiB is queued for the client.
    Also a context manager: an exception inside aborts the response (the
    connection closes, since its framing is broken)."""

    cdef HttpServer _server
    cdef Request _req
    cdef int _framing
    cdef long long _remaining
    cdef bint _send_body, _close, _ended, _broken
    cdef bint _nowait     # an event loop's: never waits, paces itself (hpsocket.asgi)

    def __init__(self):
        raise TypeError("ResponseWriter objects are made by HttpServer.start_response")

    @property
    def ended(self):
        return self._ended

    def write(self, data):
        """Send a piece of the body: True, or False if the connection is gone."""
        cdef Py_buffer view
        cdef WSABUF bufs[3]
        cdef bytes size_line
        cdef int rc
        if self._ended:
            raise RuntimeError("the response has ended")
        if isinstance(data, str):
            data = (<str>data).encode("utf-8")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if self._broken:
                return False
            if view.len == 0 or not self._send_body:
                return True
            if self._framing == FRAME_LENGTH:
                if view.len > self._remaining:
                    raise ValueError(f"{view.len} bytes is more than the {self._remaining} the Content-Length leaves")
                self._remaining -= view.len
            bufs[0].buf = <unsigned char*>view.buf
            bufs[0].len = <unsigned int>view.len
            if self._framing == FRAME_CHUNKED:
                size_line = b"%x\r\n" % view.len
                bufs[1] = bufs[0]
                bufs[0].buf = <unsigned char*>PyBytes_AS_STRING(size_line)
                bufs[0].len = <unsigned int>PyBytes_GET_SIZE(size_line)
                bufs[2].buf = <unsigned char*>b"\r\n"
                bufs[2].len = 2
                rc = _submit_piece(self._server, self._req, bufs, 3, 0, not self._nowait)
            else:
                rc = _submit_piece(self._server, self._req, bufs, 1, 0, not self._nowait)
            if rc <= 0:
                self._broken = True
            return rc > 0
        finally:
            PyBuffer_Release(&view)

    def end(self, data=b""):
        """Send the last piece (if any) and finish the response.  True, or
        False if the connection is gone or the body fell short of its
        Content-Length (the connection is then closed)."""
        cdef WSABUF buf
        cdef int flags = HPS_HTTP_END
        cdef bint short
        if data:
            self.write(data)
        if self._ended:
            return not self._broken
        self._ended = True
        short = self._send_body and self._framing == FRAME_LENGTH and self._remaining > 0
        if self._close or short or self._framing == FRAME_CLOSE:
            flags |= HPS_HTTP_CLOSE
        buf.buf = <unsigned char*>b"0\r\n\r\n"
        buf.len = 5 if (self._framing == FRAME_CHUNKED and self._send_body) else 0
        if _submit_piece(self._server, self._req, &buf, 1, flags, not self._nowait) <= 0:
            self._broken = True
        if self._req.body_stream is not None:
            self._req.body_stream._discard()
        return not (self._broken or short)

    def abort(self):
        """End the response by closing the connection (its body is cut)."""
        cdef WSABUF buf
        if self._ended:
            return
        self._ended = True
        buf.buf = NULL
        buf.len = 0
        _submit_piece(self._server, self._req, &buf, 1, HPS_HTTP_END | HPS_HTTP_CLOSE, False)
        if self._req.body_stream is not None:
            self._req.body_stream._discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.end()


cdef ResponseWriter _start_response(HttpServer server, Request req, object status, object headers,
                                    bint nowait=False):
    cdef ResponseWriter w
    cdef WSABUF buf
    cdef hps_buf head
    cdef _HeadInfo info
    cdef int rc
    if req._responded:
        raise RuntimeError(f"{req!r} was already answered")
    memset(&head, 0, sizeof(head))
    try:
        _build_head(server, req, status, headers, -1, &head, &info)
        req._responded = True
        w = ResponseWriter.__new__(ResponseWriter)
        w._server = server
        w._req = req
        w._framing = info.framing
        w._remaining = info.declared
        w._send_body = info.send_body
        w._close = info.close
        w._nowait = nowait
        buf.buf = head.buf + head.head
        buf.len = <unsigned int>hps_buf_len(&head)
        rc = _submit_piece(server, req, &buf, 1, 0, not nowait)
        w._broken = rc <= 0
    finally:
        hps_buf_free(&head)
    return w


_FILE_PIECE = 256 * 1024


def _parse_range(value, long long size):
    """(start, end) inclusive of one "bytes=" range; None to ignore the
    header (invalid or several ranges); False if unsatisfiable."""
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    first, sep, last = value[6:].strip().partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            return False
        return (max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        return False
    if end < start:
        return None
    return (start, min(end, size - 1))


def _send_file_body(ResponseWriter w, f, long long start, long long length):
    """Write a file's bytes [start, start+length) through w, then end it."""
    try:
        f.seek(start)
        while length > 0:
            data = f.read(min(_FILE_PIECE, length))
            if not data:
                break
            length -= len(data)
            if not w.write(data):
                break
        w.end()
    except BaseException:
        w.abort()
        raise
    finally:
        f.close()


cdef int _handle_request(HttpServer self, Request req) except -1:
    """Call on_request with req and send what it returns; an exception goes
    to on_error and is answered with 500 (the connection then closes)."""
    try:
        r = _fn(self, EVI_REQUEST)(self, req)
        if r is not None:
            if not isinstance(r, tuple) or not 2 <= len(<tuple>r) <= 3:
                raise TypeError(f"on_request must return (status, headers, body) or None, not {r!r}")
            _respond(self, req, (<tuple>r)[0], (<tuple>r)[1], (<tuple>r)[2] if len(<tuple>r) == 3 else b"")
    except BaseException as exc:
        self._failed(EVI_REQUEST, req.conn_id, exc)
        if not req._responded:
            req.keep_alive = False
            try:
                _respond(self, req, 500, (("Content-Type", "text/plain; charset=utf-8"),),
                         b"Internal Server Error\n")
            except BaseException as err:
                _write_unraisable(err, self)
    return 0


cdef En_HP_HandleResult _ev_request(HttpServer self, HP_CONNID conn_id, hps_http_conn* st,
                                    unsigned long long seq, bint keep_alive) noexcept:
    """Dispatcher of a request on the worker thread (threads == 0)."""
    try:
        _handle_request(self, _make_request(
            self, conn_id, <const char*>(st.head.buf + st.head.head), st.nheaders,
            st.body.buf + st.body.head, hps_buf_len(&st.body), st.version, seq, keep_alive))
    except BaseException as exc:
        self._failed(EVI_REQUEST, conn_id, exc)
    return HR_OK


def _http_request_thread(HttpServer server):
    """One of hpsocket's request threads (threads > 0): takes whole requests
    from the native queue, without the GIL, and handles them."""
    cdef hps_http_cfg* cfg = server._cfg()
    cdef hps_http_job* job
    # SCHED_BATCH: a request thread woken by the worker does not preempt it,
    # so where they share a CPU the worker finishes its round of reads first
    # and the thread then takes their requests in one go, instead of two
    # context switches per request.
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    hps_http_thread_count(cfg, 1)
    try:
        _http_serve_jobs(server, cfg)
    finally:
        hps_http_thread_count(cfg, -1)


cdef int _http_serve_jobs(HttpServer server, hps_http_cfg* cfg) except -1:
    cdef hps_http_job* job
    while True:
        # A job is taken only while this thread holds the GIL (so no request
        # waits inside a thread for it), and the queue is waited on without.
        job = hps_http_job_trypop(cfg)
        if job == NULL:
            if cfg.jobs_closed:
                return 0
            with nogil:
                hps_http_job_wait(cfg, 500)
            continue
        try:
            req = _make_request(server, job.id, <const char*>job.data, job.nheaders,
                                job.data + job.head_len, job.body_len, job.version, job.seq,
                                job.keep_alive)
            if job.pipe != NULL:
                _attach_stream(req, job.pipe, cfg.body_ms)
                job.pipe = NULL
            _handle_request(server, req)
            req = None
        except BaseException as exc:
            _write_unraisable(exc, server)
        finally:
            if job.pipe != NULL:
                hps_http_pipe_release(job.pipe)
            free(job)


cdef int _ev_parser(HttpServer self, int index, HP_CONNID conn_id, const char* s1, const char* s2,
                    const BYTE* data, int number) noexcept:
    """Dispatcher of the parser events a class overrides: 1 to refuse the
    request (the handler returned HandleResult.ERROR or raised), else 0."""
    cdef object fn = _fn(self, index)
    try:
        if index == EVI_REQUEST_LINE or index == EVI_HEADER:
            r = fn(self, conn_id, _latin1(s1), _latin1(s2))
        elif index == EVI_BODY:
            r = fn(self, conn_id, PyBytes_FromStringAndSize(<const char*>data, number))
        elif index == EVI_CHUNK_HEADER or index == EVI_UPGRADE:
            r = fn(self, conn_id, number)
        elif index == EVI_PARSE_ERROR:
            r = fn(self, conn_id, number, _latin1(s1) if s1 != NULL else "")
        else:
            r = fn(self, conn_id)
        return 1 if _result(r) == HR_ERROR else 0
    except BaseException as exc:
        self._failed(index, conn_id, exc)
        return 1


cdef inline bint _http_raw(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_http_conn* st, int index,
                           const char* s1, const char* s2, const BYTE* data, int number) noexcept nogil:
    """The class's own on_<parser event>, if it overrides it (else nothing,
    without the GIL): True if the request is to be refused."""
    cdef hps_owner saved
    cdef int rc
    if (ctx.mask & (1u << index)) == 0 or (st != NULL and st.dead):
        return False
    if _handled(sender, 1u << index) == NULL:
        return False
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = _ev_parser(<HttpServer><object>ctx.owner, index, conn_id, s1, s2, data, number)
    hps_conn_call_end(saved)
    if rc and st != NULL and index != EVI_PARSE_ERROR:
        _http_refuse(ctx, sender, conn_id, st, 400)
    return rc != 0


# -- trampolines (without the GIL) -----------------------------------------------

cdef inline hps_http_conn* _http_conn(void* sender, HP_CONNID conn_id, hps_ctx** pctx) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    pctx[0] = ctx
    if ctx == NULL or ctx.family == NULL:
        return NULL
    return hps_http_state(ctx, conn_id)


cdef void _http_refuse(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_http_conn* st, int status) noexcept nogil:
    """hpsocket's own answer, written before the callback returns."""
    cdef hps_owner saved = hps_conn_call_begin(sender, conn_id)
    hps_http_refuse(ctx, sender, conn_id, st, status)
    hps_conn_call_end(saved)


cdef En_HP_HttpParseResult _http_on_message_begin(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st == NULL:
        return HPR_ERROR if ctx != NULL else HPR_OK
    if not st.dead:
        hps_http_begin(st)
        st.batched = hps_http_follows(sender, conn_id)
        if ctx.mask & EV_PARSER:
            _http_raw(ctx, sender, conn_id, st, EVI_MESSAGE_BEGIN, NULL, NULL, NULL, 0)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_request_line(void* sender, HP_CONNID conn_id, LPCTSTR method, LPCTSTR url) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st != NULL and not st.dead:
        hps_http_request_line(st, <hps_http_cfg*>ctx.family, method, url)
        if ctx.mask & EV_PARSER:
            _http_raw(ctx, sender, conn_id, st, EVI_REQUEST_LINE, method, url, NULL, 0)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_header(void* sender, HP_CONNID conn_id, LPCTSTR name, LPCTSTR value) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st != NULL and not st.dead:
        hps_http_header(st, <hps_http_cfg*>ctx.family, name, value)
        if ctx.mask & EV_PARSER:
            _http_raw(ctx, sender, conn_id, st, EVI_HEADER, name, value, NULL, 0)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_headers_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_cfg* cfg
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st == NULL or st.dead:
        return HPR_OK
    cfg = <hps_http_cfg*>ctx.family
    hps_http_headers_done(st, cfg, HP_HttpServer_GetVersion(sender, conn_id))
    if (ctx.mask & EV_PARSER) and not st.error:
        if _http_raw(ctx, sender, conn_id, st, EVI_HEADERS_COMPLETE, NULL, NULL, NULL, 0):
            return HPR_OK
    if st.error:
        # Answered now, before any body arrives; the body is then ignored.
        _http_refuse(ctx, sender, conn_id, st, st.error)
        return HPR_OK
    if st.expect_continue and ((st.has_cl and st.cl > 0) or st.has_te):
        # The client waits for this before it sends the body.
        hps_http_continue(ctx, sender, conn_id, st)
    if (cfg.threads > 0 or cfg.wake_fd >= 0) and cfg.stream_over > 0 and (
            (st.has_cl and st.cl > cfg.stream_over) or st.has_te):
        # A large body: the request goes to a request thread now, and its
        # body follows through a pipe as it arrives.
        _http_dispatch_streamed(ctx, cfg, sender, conn_id, st)
    return HPR_OK


cdef void _http_dispatch_streamed(hps_ctx* ctx, hps_http_cfg* cfg, void* sender, HP_CONNID conn_id,
                                  hps_http_conn* st) noexcept nogil:
    cdef hps_http_job* job
    cdef hps_http_pipe* pipe
    cdef unsigned long long seq
    cdef bint keep_alive = HP_HttpServer_IsKeepAlive(sender, conn_id) and not HP_HttpServer_IsUpgrade(sender, conn_id)
    pipe = hps_http_pipe_new(sender, conn_id)
    if pipe == NULL:
        _http_refuse(ctx, sender, conn_id, st, 503)
        return
    if not keep_alive:
        st.dead = 1
        HP_Server_PauseReceive(sender, conn_id, 1)
    hps_lock(ctx)
    seq = st.next_seq
    st.next_seq += 1
    hps_unlock(ctx)
    job = hps_http_job_make(st, conn_id, seq, keep_alive)
    if job == NULL:
        hps_http_pipe_release(pipe)
        hps_http_pipe_release(pipe)
        st.dead = 1
        return
    job.pipe = pipe          # the job's reference, then the reader's
    st.pipe = pipe           # the connection's reference
    if not hps_http_job_push(cfg, job):
        hps_http_pipe_end(pipe, 1)


cdef En_HP_HttpParseResult _http_on_body(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st == NULL or st.dead:
        return HPR_OK
    hps_http_body(st, <hps_http_cfg*>ctx.family, data, length)
    if (ctx.mask & EV_PARSER) and not st.error and not st.dead:
        _http_raw(ctx, sender, conn_id, st, EVI_BODY, NULL, NULL, data, length)
    if st.error:
        if st.pipe != NULL:
            _http_end_stream(sender, conn_id, st, 1)   # the handler answers; then the close
        else:
            _http_refuse(ctx, sender, conn_id, st, st.error)
    return HPR_OK


cdef void _http_end_stream(void* sender, HP_CONNID conn_id, hps_http_conn* st, bint error) noexcept nogil:
    """The streamed body is complete (or will not be: then nothing more of
    the connection is read, and the handler's answer closes it)."""
    hps_http_pipe_end(st.pipe, error)
    hps_http_pipe_release(st.pipe)
    st.pipe = NULL
    if error and not st.dead:
        st.dead = 1
        HP_Server_PauseReceive(sender, conn_id, 1)


cdef En_HP_HttpParseResult _http_on_chunk_header(void* sender, HP_CONNID conn_id, int length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if st == NULL:
        return HPR_OK
    if length == 0:
        st.in_trailers = 1
    if ctx.mask & EV_PARSER:
        _http_raw(ctx, sender, conn_id, st, EVI_CHUNK_HEADER, NULL, NULL, NULL, length)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_chunk_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef hps_http_conn* st
    if ctx != NULL and (ctx.mask & EV_PARSER):
        st = _http_conn(sender, conn_id, &ctx)
        if st != NULL:
            _http_raw(ctx, sender, conn_id, st, EVI_CHUNK_COMPLETE, NULL, NULL, NULL, 0)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_message_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    cdef hps_owner saved
    cdef unsigned long long seq
    cdef bint keep_alive
    cdef hps_http_cfg* cfg
    cdef hps_http_job* job
    if st == NULL:
        return HPR_OK
    if (ctx.mask & EV_PARSER) and not st.error and not st.dead:
        if _http_raw(ctx, sender, conn_id, st, EVI_MESSAGE_COMPLETE, NULL, NULL, NULL, 0):
            return HPR_OK
    if st.pipe != NULL:
        # A streamed request: dispatched at its headers, its body now whole.
        _http_end_stream(sender, conn_id, st, st.error != 0)
        hps_http_reset(st)
        return HPR_OK
    if st.dead:
        return HPR_OK
    if st.error:
        _http_refuse(ctx, sender, conn_id, st, st.error)
        return HPR_OK
    if _handled(sender, EV_REQUEST) == NULL:
        _http_refuse(ctx, sender, conn_id, st, 503)   # the server object is gone
        return HPR_OK
    if (ctx.mask & EV_WEBSOCKET) and HP_HttpServer_GetUpgradeType(sender, conn_id) == HUT_WEB_SOCKET:
        # Decided here, before the library reads on: a 101 (frames follow)
        # or a refusal (nothing more is read).
        hps_lock(ctx)
        seq = st.next_seq
        st.next_seq += 1
        hps_unlock(ctx)
        cfg = <hps_http_cfg*>ctx.family
        if cfg.wake_fd >= 0:
            # An event loop's app decides, later: nothing is read meanwhile
            # (the client waits for the answer before it sends frames).
            HP_Server_PauseReceive(sender, conn_id, 1)
            job = hps_http_job_make(st, conn_id, seq, 0)
            if job != NULL:
                job.kind = HPS_JOB_UPGRADE
            if job == NULL or not hps_http_job_push(cfg, job):
                _http_refuse(ctx, sender, conn_id, st, 503)
            hps_http_reset(st)
            return HPR_OK
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            try:
                _ev_websocket(<HttpServer><object>ctx.owner, conn_id, st, seq)
            except BaseException as exc:
                _write_unraisable(exc, <object>ctx.owner)
        hps_conn_call_end(saved)
        hps_http_reset(st)
        return HPR_OK
    # Nothing after a request that ends the connection is read or answered.
    keep_alive = HP_HttpServer_IsKeepAlive(sender, conn_id) and not HP_HttpServer_IsUpgrade(sender, conn_id)
    if not keep_alive:
        st.dead = 1
        HP_Server_PauseReceive(sender, conn_id, 1)
    hps_lock(ctx)
    seq = st.next_seq
    st.next_seq += 1
    hps_unlock(ctx)
    cfg = <hps_http_cfg*>ctx.family
    if cfg.threads > 0 or cfg.wake_fd >= 0:
        # To hpsocket's request threads or an event loop (hpsocket.asgi):
        # this worker never waits for the GIL.
        job = hps_http_job_make(st, conn_id, seq, keep_alive)
        if job == NULL or not hps_http_job_push(cfg, job):
            _http_refuse(ctx, sender, conn_id, st, 503)
        hps_http_reset(st)
        return HPR_OK
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        _ev_request(<HttpServer><object>ctx.owner, conn_id, st, seq, keep_alive)
    hps_conn_call_end(saved)
    hps_http_reset(st)
    hps_http_mark_end(sender, conn_id)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_upgrade(void* sender, HP_CONNID conn_id, En_HP_HttpUpgradeType kind) noexcept nogil:
    # Upgrades are refused: the request was answered as an ordinary one,
    # with Connection: close, and nothing after it is read.
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx != NULL and (ctx.mask & EV_PARSER):
        _http_raw(ctx, sender, conn_id, NULL, EVI_UPGRADE, NULL, NULL, NULL, <int>kind)
    return HPR_OK


cdef En_HP_HttpParseResult _http_on_parse_error(void* sender, HP_CONNID conn_id, int code, LPCTSTR desc) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_http_conn* st = _http_conn(sender, conn_id, &ctx)
    if ctx != NULL and (ctx.mask & EV_PARSE_ERROR) and (st == NULL or not st.dead):
        _http_raw(ctx, sender, conn_id, NULL, EVI_PARSE_ERROR, desc, NULL, NULL, code)
    if st != NULL and st.pipe != NULL:
        _http_end_stream(sender, conn_id, st, 1)   # the library closes the connection now
    elif st != NULL and not st.dead:
        _http_refuse(ctx, sender, conn_id, st, st.error if st.error else hps_http_parse_error_status(code))
    return HPR_OK


cdef En_HP_HandleResult _http_on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    """OnClose: an event loop reading the request queue learns of it there,
    after the connection's requests; then the shared one."""
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx != NULL and ctx.family != NULL:
        hps_http_job_closed(ctx, conn_id)
    return _on_close(sender, conn_id, op, error)


cdef void _http_register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    HP_Set_FN_HttpServer_OnPrepareListen(listener, _on_prepare_listen)
    HP_Set_FN_HttpServer_OnAccept(listener, _on_accept)
    if mask & EV_HANDSHAKE:
        HP_Set_FN_HttpServer_OnHandShake(listener, _on_handshake)
    if mask & EV_SEND:
        HP_Set_FN_HttpServer_OnSend(listener, _on_send)
    HP_Set_FN_HttpServer_OnClose(listener, _http_on_close)
    if mask & EV_SHUTDOWN:
        HP_Set_FN_HttpServer_OnShutdown(listener, _on_shutdown)
    # Every parser event, OnUpgrade included: unregistered, the library
    # accepts every upgrade and leaves HTTP for good.
    HP_Set_FN_HttpServer_OnMessageBegin(listener, _http_on_message_begin)
    HP_Set_FN_HttpServer_OnRequestLine(listener, _http_on_request_line)
    HP_Set_FN_HttpServer_OnHeader(listener, _http_on_header)
    HP_Set_FN_HttpServer_OnHeadersComplete(listener, _http_on_headers_complete)
    HP_Set_FN_HttpServer_OnBody(listener, _http_on_body)
    HP_Set_FN_HttpServer_OnChunkHeader(listener, _http_on_chunk_header)
    HP_Set_FN_HttpServer_OnChunkComplete(listener, _http_on_chunk_complete)
    HP_Set_FN_HttpServer_OnMessageComplete(listener, _http_on_message_complete)
    HP_Set_FN_HttpServer_OnUpgrade(listener, _http_on_upgrade)
    HP_Set_FN_HttpServer_OnParseError(listener, _http_on_parse_error)
    _ws_register(listener, mask)


cdef void _http_family_stop(hps_ctx* ctx) noexcept nogil:
    hps_http_sweeper_stop(ctx)
    hps_http_jobs_close(<hps_http_cfg*>ctx.family)


# -- the function table ------------------------------------------------------------

cdef Ops OPS_HTTP_SERVER


cdef void _init_http_ops() noexcept:
    global OPS_HTTP_SERVER
    _fill_server(&OPS_HTTP_SERVER)
    OPS_HTTP_SERVER.name = b"HttpServer"
    OPS_HTTP_SERVER.model = MODEL_PUSH
    OPS_HTTP_SERVER.events = <PyObject*>_HTTP_EVENTS
    OPS_HTTP_SERVER.register = _http_register
    OPS_HTTP_SERVER.family_stop = _http_family_stop
    OPS_HTTP_SERVER.native.family_free = hps_http_conn_free
    OPS_HTTP_SERVER.native.ctx_family_free = hps_http_cfg_free
    OPS_HTTP_SERVER.create_listener = Create_HP_HttpServerListener
    OPS_HTTP_SERVER.create = Create_HP_HttpServer
    OPS_HTTP_SERVER.destroy = Destroy_HP_HttpServer
    OPS_HTTP_SERVER.destroy_listener = Destroy_HP_HttpServerListener


_init_http_ops()


cdef unsigned int _ms_arg(object seconds, str name) except? 0:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    if not 0 < seconds <= 86400:
        raise ValueError(f"{name} must be more than 0 and at most 86400 seconds, not {seconds}")
    return max(1, <unsigned int>(seconds * 1000))


cdef class HttpServer(Server):
    """An HTTP/1.1 server.  Override ``on_request(request)``: return
    ``(status, headers, body)``, or None and answer later (any thread) with
    ``respond(request, status, headers, body)``.

    hpsocket builds every response head (one Content-Length, none on 204 and
    304, no body for HEAD, Date, Server, Connection) and answers refused
    requests itself: 400 for malformed ones (Content-Length with
    Transfer-Encoding, a Transfer-Encoding other than chunked (501),
    Content-Length not digits, no or repeated Host on HTTP/1.1, obs-fold),
    413, 414, 431, 501 for unknown methods, 505.  Pipelined requests are
    answered in order.  Idle keep-alive connections close after
    keep_alive_timeout, requests too slow to arrive get 408.
    socket_buffer_size defaults to 65536 here (4096 for TCP servers)."""

    _OPTIONS = Server._OPTIONS | frozenset({
        "max_header_size", "max_body_size", "max_target_length", "keep_alive_timeout",
        "header_timeout", "body_timeout", "server_header", "threads", "stream_body_over",
        "ws_max_message_size", "ws_ping_interval", "ws_ping_timeout", "ws_close_timeout",
        "ws_idle_timeout"})

    def __cinit__(self, *args, **kwargs):
        cdef hps_http_cfg* cfg
        self._setup(&OPS_HTTP_SERVER)
        # 64 KiB reads (the library's default is 4 KiB): a 64 KiB request
        # body in 1 read instead of 16 (post64k: 32.8k -> 42.2k req/s).
        self._ops.tunables[T_SOCKET_BUFFER_SIZE].set(self._handle, 65536)
        cfg = hps_http_cfg_new()
        if cfg == NULL:
            raise MemoryError()
        cfg.max_header = 65536
        cfg.max_target = 8192
        cfg.max_body = 1 << 20
        cfg.keep_alive_ms = 5000
        cfg.header_ms = 10000
        cfg.body_ms = 30000
        cfg.ws_max_message = 1 << 20
        cfg.ws_ping_ms = 20000
        cfg.ws_pong_ms = 20000
        cfg.ws_close_ms = 10000
        self._ctx.family = cfg
        self._server_line = b"Server: hpsocket\r\n"
        self._request_threads = []

    def on_request(self, request):
        """A whole request arrived (worker thread).  Return (status, headers,
        body), or None and call respond() later.  The default answers 404."""
        return 404, (("Content-Type", "text/plain; charset=utf-8"),), b"Not Found\n"

    # The library's parser events, on the worker thread, for a class that
    # wants them besides on_request (each one not overridden costs nothing).
    # HandleResult.ERROR (or an exception) refuses the request with 400.

    def on_message_begin(self, conn_id):
        """A request's first byte."""

    def on_request_line(self, conn_id, method, target):
        """The request line was parsed."""

    def on_header(self, conn_id, name, value):
        """One header field (str), in wire order."""

    def on_headers_complete(self, conn_id):
        """The header block ended."""

    def on_body(self, conn_id, data):
        """A piece of the body (bytes), as it arrived."""

    def on_chunk_header(self, conn_id, length):
        """A chunk of a chunked body begins (0: the last)."""

    def on_chunk_complete(self, conn_id):
        """A chunk ended."""

    def on_message_complete(self, conn_id):
        """The request is complete (on_request follows)."""

    def on_upgrade(self, conn_id, upgrade_type):
        """The request asked to upgrade the connection (1 WebSocket, 2
        CONNECT, -1 other); it is refused: answered as an ordinary request,
        then closed."""

    # WebSocket (each one not overridden costs nothing).

    def on_websocket(self, request):
        """A WebSocket upgrade request, already checked (GET, HTTP/1.1,
        Sec-WebSocket-Version 13, a 16-byte key), on the worker thread.
        Return True to accept it, a subprotocol the client offered (str) to
        accept it with that one, False or None to refuse it (403).  Not
        overridden: WebSocket requests go to on_request like any other and
        are answered, then closed."""
        return False

    def on_ws_open(self, conn_id):
        """The 101 is on its way: the connection is a WebSocket (ws_send may
        be called from here on)."""

    def on_ws_message(self, conn_id, message):
        """One whole message (fragments joined): str for text, bytes for
        binary.  On the worker thread; an exception closes the connection
        with 1011."""

    def on_ws_close(self, conn_id, code, reason):
        """The WebSocket ended, once per connection: the peer's close code
        (1005 if its Close had none), the code hpsocket sent when the peer
        broke the protocol (1002, 1007, 1009), or 1006 if the connection
        ended without a Close.  reason is str."""

    def on_parse_error(self, conn_id, code, description):
        """The peer sent what is not HTTP (http_parser's error code); it is
        answered 400 (or 431, 501) and closed."""

    def start(self, host="0.0.0.0", port=0):
        """Listen on host:port (port 0: any free port; see listen_address)."""
        cdef hps_http_cfg* cfg = self._cfg()
        self._join_request_threads()
        hps_http_jobs_drop(cfg)      # of an earlier run: their connections are gone
        hps_http_jobs_open(cfg)
        Server.start(self, host, port)
        if hps_http_sweeper_start(self._ctx) != 0:
            self.stop()
            raise OSError("could not start the HTTP sweeper thread")
        for i in range(cfg.threads):
            t = threading.Thread(target=_http_request_thread, args=(self,),
                                 name=f"hpsocket-http-{i}", daemon=True)
            t.start()
            self._request_threads.append(t)

    def stop(self):
        """Stop: close every connection, then wait (up to 10 s each) for the
        request threads to finish the handler they are in."""
        Server.stop(self)
        if not hps_in_callback():
            self._join_request_threads()

    cdef int _join_request_threads(self) except -1:
        me = threading.current_thread()
        threads, self._request_threads = self._request_threads, []
        for t in threads:
            if t is not me:
                t.join(10)
        return 0

    def respond(self, Request request not None, status, headers=(), body=b""):
        """Answer ``request`` (any thread): status 200-599, headers as (name,
        value) pairs or a dict, body bytes-like or str (UTF-8).  True if
        sent or queued behind earlier responses, False if the connection
        is gone.  A second answer to one request raises RuntimeError."""
        if request._server is not self:
            raise ValueError("the request belongs to another server")
        return _respond(self, request, status, headers, body)

    def start_response(self, Request request not None, status, headers=()):
        """Begin a response sent in pieces (any thread): returns a
        ResponseWriter; write() the body, then end().  Chunked unless
        headers give a Content-Length."""
        if request._server is not self:
            raise ValueError("the request belongs to another server")
        return _start_response(self, request, status, headers)

    def send_file(self, Request request not None, path, status=200, headers=(), content_type=None):
        """Answer with a file of any size: Content-Type (guessed from the
        name unless given), Content-Length, Last-Modified, Accept-Ranges; a
        single "Range: bytes=" gets 206 (416 when it cannot be met); HEAD
        gets the head only.  Large files are sent piece by piece, paced by
        the client (from a worker thread, on a thread of their own).  True,
        or False if the connection is gone.  OSError if the file cannot be
        opened."""
        if request._server is not self:
            raise ValueError("the request belongs to another server")
        f = open(path, "rb")
        try:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"{path!r} is not a regular file")
            size = info.st_size
            hdrs = list(headers.items() if isinstance(headers, dict) else headers)
            names = {(n.decode("latin-1") if isinstance(n, bytes) else str(n)).lower() for n, v in hdrs}
            if "content-type" not in names:
                ctype = content_type or _mimetypes.guess_type(os.fspath(path))[0] or "application/octet-stream"
                hdrs.append(("Content-Type", ctype))
            if "last-modified" not in names:
                hdrs.append(("Last-Modified", _formatdate(info.st_mtime, usegmt=True)))
            hdrs.append(("Accept-Ranges", "bytes"))
            start, length = 0, size
            if status == 200 and request.method in ("GET", "HEAD"):
                rng = _parse_range(request.headers.get("Range"), size)
                if rng is False:
                    hdrs = [h for h in hdrs if (h[0].lower() if isinstance(h[0], str) else h[0].decode("latin-1").lower()) != "content-type"]
                    hdrs.append(("Content-Range", f"bytes */{size}"))
                    f.close()
                    return self.respond(request, 416, hdrs, b"")
                if rng is not None:
                    start, length = rng[0], rng[1] - rng[0] + 1
                    status = 206
                    hdrs.append(("Content-Range", f"bytes {rng[0]}-{rng[1]}/{size}"))
            hdrs = [h for h in hdrs if (h[0].lower() if isinstance(h[0], str) else h[0].decode("latin-1").lower()) != "content-length"]
            hdrs.append(("Content-Length", str(length)))
            w = _start_response(self, request, status, hdrs)
        except BaseException:
            f.close()
            raise
        if not w._send_body or length == 0 or length <= _FILE_PIECE or not hps_in_callback():
            _send_file_body(w, f, start, length)
        else:
            threading.Thread(target=_send_file_body, args=(w, f, start, length),
                             name="hpsocket-send-file", daemon=True).start()
        return not w._broken

    cdef hps_http_cfg* _cfg(self):
        return <hps_http_cfg*>self._ctx.family

    # -- WebSocket ------------------------------------------------------------------

    def ws_send(self, conn_id, message):
        """Send one message (any thread): str as text, any bytes-like object
        as binary (copied before returning).  True if sent or queued; False
        if the connection is not an open WebSocket (gone, never upgraded,
        or closing)."""
        cdef Py_buffer view
        cdef int opcode, rc = 0, gate
        cdef HP_CONNID c = _conn_arg(conn_id)
        keep = _ws_payload(message, &opcode, &view)
        try:
            with nogil:
                gate = hps_gate_enter(self._ctx)
                if gate:
                    rc = hps_ws_send(self._ctx, self._handle, c, opcode, <const unsigned char*>view.buf,
                                     <size_t>view.len, 0)
                hps_gate_leave(self._ctx, gate)
        finally:
            PyBuffer_Release(&view)
        return rc != 0

    def ws_broadcast(self, conn_ids, message):
        """Send one message to many connections (any thread): framed once,
        written to each in one native call.  Returns how many took it."""
        cdef Py_buffer view
        cdef int opcode, sent = 0, gate
        cdef list ids = [_conn_arg(c) for c in conn_ids]
        cdef Py_ssize_t n = len(ids), i
        cdef HP_CONNID* arr
        if n == 0:
            return 0
        if n > 0x7FFFFFFF:
            raise ValueError("too many connections")
        arr = <HP_CONNID*>PyMem_Malloc(n * sizeof(HP_CONNID))
        if arr == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                arr[i] = ids[i]
            keep = _ws_payload(message, &opcode, &view)
            try:
                with nogil:
                    gate = hps_gate_enter(self._ctx)
                    if gate:
                        sent = hps_ws_broadcast(self._ctx, self._handle, arr, <int>n, opcode,
                                                <const unsigned char*>view.buf, <size_t>view.len)
                    hps_gate_leave(self._ctx, gate)
            finally:
                PyBuffer_Release(&view)
        finally:
            PyMem_Free(arr)
        return sent

    def ws_ping(self, conn_id, data=b""):
        """Send a ping (at most 125 bytes of data); the peer's pong resets
        the keep-alive timer.  True if sent or queued."""
        cdef Py_buffer view
        cdef int rc = 0, gate
        cdef HP_CONNID c = _conn_arg(conn_id)
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len > 125:
                raise ValueError("a ping carries at most 125 bytes")
            with nogil:
                gate = hps_gate_enter(self._ctx)
                if gate:
                    rc = hps_ws_send(self._ctx, self._handle, c, HPS_WS_PING, <const unsigned char*>view.buf,
                                     <size_t>view.len, 0)
                hps_gate_leave(self._ctx, gate)
        finally:
            PyBuffer_Release(&view)
        return rc != 0

    def ws_close(self, conn_id, code=1000, reason=""):
        """Start the close handshake (any thread): our Close frame with code
        and reason (at most 123 bytes of UTF-8); no message may follow it.
        The connection closes when the peer answers, or after
        ws_close_timeout.  False if the connection is not an open WebSocket."""
        cdef int c_code = _ws_close_code(code)
        cdef bytes r = _ws_close_reason(reason)
        cdef HP_CONNID c = _conn_arg(conn_id)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(r)
        cdef size_t n = PyBytes_GET_SIZE(r)
        cdef int rc = 0, gate
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                rc = hps_ws_send_close(self._ctx, self._handle, c, c_code, p, n, 0)
            hps_gate_leave(self._ctx, gate)
        return rc != 0

    property ws_max_message_size:
        """Largest WebSocket message received, bytes (default 1 MiB); a
        larger one closes the connection with 1009."""
        def __get__(self):
            return self._cfg().ws_max_message

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"ws_max_message_size must be an int, not {type(value).__name__}")
            if not 1 <= value <= 0x7FFFFFFF:
                raise ValueError(f"ws_max_message_size must be 1 to 2147483647, not {value}")
            self._cfg().ws_max_message = value

    property ws_ping_interval:
        """Seconds without a frame from the peer before hpsocket pings it
        (default 20; None: never)."""
        def __get__(self):
            return self._cfg().ws_ping_ms / 1000.0 if self._cfg().ws_ping_ms else None

        def __set__(self, value):
            self._cfg().ws_ping_ms = 0 if value is None else _ms_arg(value, "ws_ping_interval")

    property ws_ping_timeout:
        """Seconds the peer has to answer that ping (default 20); then the
        connection is dropped (on_ws_close gets 1006)."""
        def __get__(self):
            return self._cfg().ws_pong_ms / 1000.0

        def __set__(self, value):
            self._cfg().ws_pong_ms = _ms_arg(value, "ws_ping_timeout")

    property ws_idle_timeout:
        """Seconds without a message from the peer (pings and pongs do not
        count) before hpsocket closes the WebSocket with 1001 "idle
        timeout" (default None: never)."""
        def __get__(self):
            return self._cfg().ws_idle_ms / 1000.0 if self._cfg().ws_idle_ms else None

        def __set__(self, value):
            self._cfg().ws_idle_ms = 0 if value is None else _ms_arg(value, "ws_idle_timeout")

    property ws_close_timeout:
        """Seconds the peer has to answer our Close (default 10); then the
        connection is dropped."""
        def __get__(self):
            return self._cfg().ws_close_ms / 1000.0

        def __set__(self, value):
            self._cfg().ws_close_ms = _ms_arg(value, "ws_close_timeout")

    property threads:
        """Request threads (default 0).  0: on_request runs on the library's
        worker thread, the fastest for handlers that never block.  N > 0:
        on_request runs on N threads of hpsocket's, fed from a native queue,
        so that the workers never wait for the GIL; for handlers that block
        (WSGI applications).  Set while stopped."""
        def __get__(self):
            return self._cfg().threads

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"threads must be an int, not {type(value).__name__}")
            if not 0 <= value <= 1024:
                raise ValueError(f"threads must be 0 to 1024, not {value}")
            self._require_stopped("threads")
            self._cfg().threads = value

    property stream_body_over:
        """Request bodies larger than this many bytes, and chunked ones, are
        streamed: on_request runs once the headers are in, with
        ``request.body`` empty and ``request.body_stream`` to read the body
        as it arrives (the socket is not read while more than 1 MiB waits
        unread).  Needs threads > 0 (reading blocks).  0 (the default):
        every body is read whole first.  max_body_size still applies: past
        it the stream raises ConnectionError and the connection closes
        after the answer."""
        def __get__(self):
            return self._cfg().stream_over

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"stream_body_over must be an int, not {type(value).__name__}")
            if not 0 <= value < 2 ** 63:
                raise ValueError(f"stream_body_over out of range: {value}")
            self._cfg().stream_over = value

    property max_header_size:
        """Largest request line plus header block, bytes (default 65536);
        more is answered with 431."""
        def __get__(self):
            return self._cfg().max_header

        def __set__(self, value):
            self._cfg().max_header = _check_length(value)

    property max_target_length:
        """Longest request target, bytes (default 8192); longer gets 414."""
        def __get__(self):
            return self._cfg().max_target

        def __set__(self, value):
            self._cfg().max_target = _check_length(value)

    property max_body_size:
        """Largest request body, bytes (default 1 MiB); larger gets 413."""
        def __get__(self):
            return self._cfg().max_body

        def __set__(self, value):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"max_body_size must be an int, not {type(value).__name__}")
            if not 0 <= value < 2 ** 63:
                raise ValueError(f"max_body_size out of range: {value}")
            self._cfg().max_body = value

    property keep_alive_timeout:
        """Seconds an idle keep-alive connection stays open (default 5)."""
        def __get__(self):
            return self._cfg().keep_alive_ms / 1000.0

        def __set__(self, value):
            self._cfg().keep_alive_ms = _ms_arg(value, "keep_alive_timeout")

    property header_timeout:
        """Seconds from a request's first byte to the end of its headers
        (default 10); slower requests get 408 (slowloris)."""
        def __get__(self):
            return self._cfg().header_ms / 1000.0

        def __set__(self, value):
            self._cfg().header_ms = _ms_arg(value, "header_timeout")

    property body_timeout:
        """Longest pause, seconds, while a request body arrives (default 30);
        then 408."""
        def __get__(self):
            return self._cfg().body_ms / 1000.0

        def __set__(self, value):
            self._cfg().body_ms = _ms_arg(value, "body_timeout")

    property server_header:
        """The Server header of responses (default "hpsocket"; None: none)."""
        def __get__(self):
            if self._server_line is None:
                return None
            return self._server_line[8:len(self._server_line) - 2].decode("latin-1")

        def __set__(self, value):
            if value is None:
                self._server_line = None
                return
            v = _header_bytes(value, "value")
            if not hps_http_value_ok(<const unsigned char*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v)):
                raise ValueError("server_header contains CR, LF or NUL")
            self._server_line = b"Server: " + v + b"\r\n"
