# WebSocket (RFC 6455) on HttpServer.  An upgrade request goes to
# on_websocket (worker thread), which accepts or refuses it; hpsocket checks
# the handshake and writes the 101 as the answer to that request, so it keeps
# its place among pipelined answers, and every frame after it is a further
# piece of that answer (hps_http_submit, HPS_HTTP_WS_SEQ).  The library parses
# frame heads; _ws.h checks them and assembles messages without the GIL;
# Python is entered once per whole message.  Pings are answered, the close
# handshake is done both ways, and on_ws_close is called exactly once.

import base64 as _base64
import binascii as _binascii
import hashlib as _hashlib

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _ws_accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    if isinstance(key, str):
        key = key.encode("latin-1")
    return _base64.b64encode(_hashlib.sha1(key + _WS_GUID).digest()).decode("ascii")


cdef list _ws_tokens(Request req, str name):
    """The comma-separated tokens of every `name` header, stripped."""
    cdef list out = []
    for value in req.headers.get_all(name):
        for t in value.split(","):
            t = t.strip()
            if t:
                out.append(t)
    return out


cdef tuple _ws_refusal(Request req):
    """(status, headers) if req is not a valid opening handshake (RFC 6455
    4.2.1), else None."""
    headers = req.headers
    if req.method != "GET" or req.version != "1.1":
        return 400, ()
    if req.body or headers.get("Content-Length") not in (None, "0") or headers.get("Transfer-Encoding"):
        return 400, ()
    if not any(t.lower() == "upgrade" for t in _ws_tokens(req, "Connection")):
        return 400, ()
    versions = headers.get_all("Sec-WebSocket-Version")
    if len(versions) != 1 or versions[0].strip() != "13":
        return 426, (("Sec-WebSocket-Version", "13"),)
    keys = headers.get_all("Sec-WebSocket-Key")
    if len(keys) != 1:
        return 400, ()
    try:
        raw = _base64.b64decode(keys[0].strip().encode("ascii"), validate=True)
    except (ValueError, _binascii.Error, UnicodeEncodeError):
        return 400, ()
    if len(raw) != 16:
        return 400, ()
    return None


cdef int _ws_refuse(HttpServer self, hps_http_conn* st, Request req, int status, object headers) except -1:
    """Answer req with status and close the connection after it."""
    st.dead = 1
    HP_Server_PauseReceive(self._handle, <HP_CONNID>req.conn_id, 1)
    req.keep_alive = False
    if not req._responded:
        _respond(self, req, status, tuple(headers) + (("Content-Type", "text/plain; charset=utf-8"),),
                 (_HTTPStatus(status).phrase + "\n").encode())
    return 0


cdef bytes _ws_101(HttpServer self, Request req, object protocol, object headers):
    """The 101 accepting req (already checked), with the subprotocol chosen
    (or None) and extra (name, value) headers."""
    cdef list lines = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Accept: "
                       + _ws_accept_key(req.headers.get("Sec-WebSocket-Key").strip()).encode() + b"\r\n"]
    if protocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + _header_bytes(protocol, "value") + b"\r\n")
    for item in headers:
        name = _header_bytes(item[0], "name")
        value = _header_bytes(item[1], "value")
        if not hps_http_token(<const unsigned char*>PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)):
            raise ValueError(f"invalid header name {item[0]!r}")
        if not hps_http_value_ok(<const unsigned char*>PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)):
            raise ValueError(f"header value of {item[0]!r} contains CR, LF or NUL")
        if name.lower() in (b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol"):
            raise ValueError(f"the {item[0]!r} header of a 101 is hpsocket's to set")
        lines.append(name + b": " + value + b"\r\n")
    if self._server_line is not None:
        lines.append(self._server_line)
    lines.append(b"\r\n")
    return b"".join(lines)


cdef int _ev_websocket(HttpServer self, HP_CONNID conn_id, hps_http_conn* st,
                       unsigned long long seq) except -1:
    """A WebSocket upgrade request (worker thread, GIL held): check it, ask
    on_websocket, and answer 101 (the connection becomes a WebSocket) or
    refuse it (the connection closes after the answer)."""
    cdef Request req = _make_request(
        self, conn_id, <const char*>(st.head.buf + st.head.head), st.nheaders,
        st.body.buf + st.body.head, hps_buf_len(&st.body), st.version, seq, False)
    cdef bytes head
    cdef WSABUF buf
    cdef int rc
    refusal = _ws_refusal(req)
    if refusal is not None:
        return _ws_refuse(self, st, req, refusal[0], refusal[1])
    try:
        r = _fn(self, EVI_WEBSOCKET)(self, req)
        protocol = None
        if isinstance(r, str):
            if r not in _ws_tokens(req, "Sec-WebSocket-Protocol"):
                raise ValueError(f"on_websocket chose the subprotocol {r!r}, which the client did not offer")
            protocol = r
        elif r is not True and r is not False and r is not None:
            raise TypeError(f"on_websocket must return True, False or a subprotocol (str), not {r!r}")
    except BaseException as exc:
        self._failed(EVI_WEBSOCKET, conn_id, exc)
        return _ws_refuse(self, st, req, 500, ())
    if r is None or r is False:
        return _ws_refuse(self, st, req, 403, ())
    if req._responded:
        raise RuntimeError("on_websocket accepted a request it had answered")
    head = _ws_101(self, req, protocol, ())
    if hps_ws_attach(self._ctx, st, seq, self._cfg().ws_max_message) < 0:
        return _ws_refuse(self, st, req, 503, ())
    req._responded = True
    buf.buf = <unsigned char*>PyBytes_AS_STRING(head)
    buf.len = <unsigned int>PyBytes_GET_SIZE(head)
    with nogil:
        rc = hps_http_submit(self._ctx, self._handle, conn_id, seq, &buf, 1, 0)
    if rc > 0 and _fn(self, EVI_WS_OPEN) is not None:
        try:
            _fn(self, EVI_WS_OPEN)(self, conn_id)
        except BaseException as exc:
            self._failed(EVI_WS_OPEN, conn_id, exc)
            hps_ws_send_close(self._ctx, self._handle, conn_id, HPS_WS_INTERNAL_ERROR, NULL, 0, 0)
    return 0


# -- frames (worker threads, no GIL) ----------------------------------------------------
#
# Shared by the server (HttpServer) and the clients (WebSocketAgent and
# WebSocketClient, on HttpAgent and HttpClient): the role says where the
# connection's WebSocket state lives and how a frame is sent (a server's
# unmasked, in order after its 101; a client's masked on a copy).

cdef inline hps_ws* _ws_state(void* sender, HP_CONNID conn_id, hps_ctx** pctx) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    pctx[0] = ctx
    if ctx == NULL or ctx.family == NULL:
        return NULL
    if ctx.role == ROLE_SERVER:
        return hps_ws_of(ctx, conn_id)
    return hps_wsc_of(ctx, conn_id)


cdef inline int _ws_frame(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int opcode,
                          const unsigned char* p, size_t n) noexcept nogil:
    if ctx.role == ROLE_SERVER:
        return hps_ws_send(ctx, sender, conn_id, opcode, p, n, 0)
    return hps_wsc_send(ctx, sender, conn_id, opcode, p, n)


cdef inline int _ws_close_frame(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int code,
                                const unsigned char* reason, size_t reason_len, bint end) noexcept nogil:
    """Our Close.  end: the peer's Close came first; a server then closes
    the connection once it is written (a client waits for the server to)."""
    if ctx.role == ROLE_SERVER:
        return hps_ws_send_close(ctx, sender, conn_id, code, reason, reason_len, end)
    return hps_wsc_send_close(ctx, sender, conn_id, code, reason, reason_len)


cdef void _ws_report(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_ws* ws, int code,
                     const unsigned char* reason, size_t reason_len) noexcept nogil:
    """on_ws_close, once per connection."""
    cdef hps_owner saved
    if ws.reported:
        return
    ws.reported = 1
    if ctx.role == ROLE_SERVER and (<hps_http_cfg*>ctx.family).wake_fd >= 0:
        hps_http_job_event(<hps_http_cfg*>ctx.family, HPS_JOB_WS_CLOSE, conn_id, code, reason, reason_len)
        return
    if _handled(sender, EV_WS_CLOSE) == NULL:
        return
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        _ev_ws_close(<Component><object>ctx.owner, conn_id, code, reason, reason_len)
    hps_conn_call_end(saved)


cdef int _ev_ws_close(Component self, HP_CONNID conn_id, int code, const unsigned char* reason,
                      size_t reason_len) noexcept:
    try:
        _fn(self, EVI_WS_CLOSE)(self, conn_id, code,
                                PyUnicode_DecodeUTF8(<const char*>reason, reason_len, "replace"))
    except BaseException as exc:
        self._failed(EVI_WS_CLOSE, conn_id, exc)
    return 0


cdef void _ws_fail(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_ws* ws) noexcept nogil:
    """The peer broke the protocol: our Close with the code, then the close
    of the connection; nothing more it sends is looked at."""
    cdef const char* why
    if ws.reported:
        return
    _ws_close_frame(ctx, sender, conn_id, ws.failed, NULL, 0, 1)
    if ws.failed == 1002:
        why = b"protocol error"
    elif ws.failed == 1007:
        why = b"invalid UTF-8 in a text message"
    elif ws.failed == 1009:
        why = b"message too big"
    else:
        why = b"internal error"
    _ws_report(ctx, sender, conn_id, ws, ws.failed, <const unsigned char*>why, strlen(why))


cdef En_HP_HandleResult _ws_on_header(void* sender, HP_CONNID conn_id, BOOL fin, BYTE rsv, BYTE opcode,
                                      const BYTE* mask, ULONGLONG length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_ws* ws = _ws_state(sender, conn_id, &ctx)
    if ws == NULL or ws.reported:
        return HR_OK
    hps_ws_seen(ws)
    if ctx.role == ROLE_SERVER:
        # Frames of one read are answered with one write (see _http.h).
        ws.batched = hps_http_follows(sender, conn_id)
    if hps_ws_frame_begin(ws, fin, rsv, opcode, mask, length):
        _ws_fail(ctx, sender, conn_id, ws)
    return HR_OK


cdef En_HP_HandleResult _ws_on_body(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_ws* ws = _ws_state(sender, conn_id, &ctx)
    if ws == NULL or ws.reported or length <= 0:
        return HR_OK
    if hps_ws_frame_data(ws, data, <size_t>length):
        _ws_fail(ctx, sender, conn_id, ws)
    return HR_OK


cdef En_HP_HandleResult _ws_on_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_ws* ws = _ws_state(sender, conn_id, &ctx)
    cdef hps_owner saved
    cdef int what
    cdef size_t n
    if ws == NULL or ws.reported:
        return HR_OK
    what = hps_ws_frame_end(ws)
    if what == HPS_WS_MESSAGE:
        if ctx.role == ROLE_SERVER and (<hps_http_cfg*>ctx.family).wake_fd >= 0:
            # To an event loop's app, without the GIL; out of memory, the
            # peer is told (1011) as when a handler fails.
            if not hps_ws_to_loop(ctx, sender, conn_id, ws.msg_opcode, hps_buf_data(&ws.msg), hps_buf_len(&ws.msg)):
                _ws_close_frame(ctx, sender, conn_id, HPS_WS_INTERNAL_ERROR, NULL, 0, 0)
        elif _handled(sender, EV_WS_MESSAGE) != NULL:
            saved = hps_conn_call_begin(sender, conn_id)
            with gil:
                _ev_ws_message(<Component><object>ctx.owner, conn_id, ws)
            hps_conn_call_end(saved)
        hps_ws_message_taken(ws)
        if ctx.role == ROLE_SERVER:
            hps_ws_message_seen(ws)
    elif what == HPS_WS_GOT_PING:
        _ws_frame(ctx, sender, conn_id, HPS_WS_PONG, hps_buf_data(&ws.ctl), hps_buf_len(&ws.ctl))
    elif what == HPS_WS_GOT_PONG:
        hps_ws_ponged(ws)
    elif what == HPS_WS_GOT_CLOSE:
        # Our answer: the peer's code echoed; or, if our Close went first,
        # the handshake is over.  Either way the connection then closes.
        if not _ws_close_frame(ctx, sender, conn_id, ws.close_code, NULL, 0, 1):
            if ctx.role == ROLE_SERVER:
                hps_ws_finish(ctx, sender, conn_id)
            else:
                # Both Close frames went: a client may close now (RFC 6455
                # 7.1.1) instead of waiting for the server to.
                hps_disconnect(ctx, conn_id, 1)
        n = hps_buf_len(&ws.ctl)
        _ws_report(ctx, sender, conn_id, ws, ws.close_code,
                   hps_buf_data(&ws.ctl) + (2 if n >= 2 else 0), n - 2 if n >= 2 else 0)
    elif what == HPS_WS_FAILED:
        _ws_fail(ctx, sender, conn_id, ws)
    if ctx.role == ROLE_SERVER:
        hps_http_mark_end(sender, conn_id)
    return HR_OK


cdef int _ev_ws_message(Component self, HP_CONNID conn_id, hps_ws* ws) noexcept:
    """A whole message to on_ws_message: str (already checked UTF-8) or bytes."""
    cdef const char* p = <const char*>hps_buf_data(&ws.msg)
    cdef size_t n = hps_buf_len(&ws.msg)
    try:
        if ws.msg_opcode == HPS_WS_TEXT:
            message = PyUnicode_DecodeUTF8(p, n, NULL)
        else:
            message = PyBytes_FromStringAndSize(p, n)
        _fn(self, EVI_WS_MESSAGE)(self, conn_id, message)
    except BaseException as exc:
        self._failed(EVI_WS_MESSAGE, conn_id, exc)
        # The handler failed: the peer is told (1011) and the connection closes.
        _ws_close_frame(self._ctx, self._handle, conn_id, HPS_WS_INTERNAL_ERROR, NULL, 0, 0)
    return 0


cdef inline void _ws_closed(void* sender, HP_CONNID conn_id) noexcept nogil:
    """A connection closes: a WebSocket that ended without a Close reports
    1006 first (if the class handles on_ws_close)."""
    cdef hps_ctx* ctx
    cdef hps_ws* ws
    ctx = hps_lookup(sender)
    if ctx == NULL or not (ctx.mask & EV_WS_CLOSE):
        return
    ws = _ws_state(sender, conn_id, &ctx)
    if ws != NULL and not ws.reported:
        _ws_report(ctx, sender, conn_id, ws, HPS_WS_ABNORMAL, NULL, 0)


cdef En_HP_HandleResult _ws_on_tcp_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op,
                                         int error) noexcept nogil:
    """OnClose of a server whose class handles on_ws_close: a WebSocket that
    ends without a Close frame reports 1006 first."""
    _ws_closed(sender, conn_id)
    return _http_on_close(sender, conn_id, op, error)


cdef void _ws_register(void* listener, unsigned int mask) noexcept nogil:
    HP_Set_FN_HttpServer_OnWSMessageHeader(listener, _ws_on_header)
    HP_Set_FN_HttpServer_OnWSMessageBody(listener, _ws_on_body)
    HP_Set_FN_HttpServer_OnWSMessageComplete(listener, _ws_on_complete)
    if mask & EV_WS_CLOSE:
        HP_Set_FN_HttpServer_OnClose(listener, _ws_on_tcp_close)


# -- sending (any thread) --------------------------------------------------------------

cdef object _ws_payload(object message, int* opcode, Py_buffer* view):
    """message as a frame payload: str is text (UTF-8), anything
    bytes-like binary.  Fills view (release it); returns what keeps it."""
    if isinstance(message, str):
        message = (<str>message).encode("utf-8")
        opcode[0] = HPS_WS_TEXT
    else:
        opcode[0] = HPS_WS_BINARY
    PyObject_GetBuffer(message, view, PyBUF_SIMPLE)
    if view.len > 0xFFFFFFFF:
        PyBuffer_Release(view)
        raise ValueError("a WebSocket message over 4 GiB cannot be sent in one frame")
    return message


cdef bytes _ws_close_reason(object reason):
    cdef bytes r
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a str, not {type(reason).__name__}")
    r = (<str>reason).encode("utf-8")
    if len(r) > 123:
        raise ValueError("a close reason is at most 123 bytes of UTF-8")
    return r


cdef int _ws_close_code(object code) except -1:
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"code must be an int, not {type(code).__name__}")
    if not hps_ws_code_ok(code) or code == 1002 or code == 1007:
        # 1002 and 1007 are hpsocket's to send, for what the peer did.
        raise ValueError(f"{code} is not a close code an application may send "
                         "(1000, 1001, 1003, 1008-1014, 3000-4999)")
    return code
