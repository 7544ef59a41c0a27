# The HTTP clients: HttpAgent (many connections) and HttpClient (one) on
# HP-Socket's HttpAgent/HttpClient, and HttpSyncClient (blocking, one
# request at a time) on its HttpSyncClient.  The library's parser events are
# taken without the GIL (_http_client.h assembles each response) and Python
# is entered once per response, with a Response.  Request heads are built
# here and sent raw (the library's SendRequest only when cookies are on);
# requests not answered yet are queued natively, so pipelined responses
# are matched to their requests (HEAD's has no body) in order.

from urllib.parse import urlsplit as _urlsplit

# (event index, method name per role: server, agent, client).
_HTTPC_EVENTS = (
    (EVI_PREPARE, (None, "on_prepare_connect", "on_prepare_connect")),
    (EVI_CONNECT, (None, "on_connect", "on_connect")),
    (EVI_HANDSHAKE, (None, "on_handshake", "on_handshake")),
    (EVI_CLOSE, (None, "on_close", "on_close")),
    (EVI_SHUTDOWN, (None, "on_shutdown", None)),
    (EVI_RESPONSE, (None, "on_response", "on_response")),
    (EVI_PARSE_ERROR, (None, "on_parse_error", "on_parse_error")),
    # WebSocketAgent and WebSocketClient (_ws_client.pxi)
    (EVI_WS_OPEN, (None, "on_ws_open", "on_ws_open")),
    (EVI_WS_MESSAGE, (None, "on_ws_message", "on_ws_message")),
    (EVI_WS_CLOSE, (None, "on_ws_close", "on_ws_close")),
)

cdef extern from "Python.h":
    bint PyObject_CheckBuffer(object o)

cdef extern from "<errno.h>":
    enum:
        ECONNRESET
        ECONNREFUSED
        ETIMEDOUT
        EBADMSG
        ECANCELED


class HttpTimeoutError(HPSocketError, TimeoutError):
    """An HttpSyncClient request (or its connection) took longer than its
    timeout.  Both an HPSocketError and a TimeoutError; errno ETIMEDOUT."""


# -- responses -----------------------------------------------------------------

cdef class Response:
    """One whole HTTP response, as on_response receives it (and
    HttpSyncClient.request returns it)."""

    cdef readonly int status
    cdef readonly str reason
    cdef readonly str version
    cdef readonly bytes body
    cdef readonly bint keep_alive
    cdef readonly object conn_id
    cdef readonly object request_method
    cdef readonly object request_target
    cdef bytes _raw            # name\0value\0 pairs: headers, then trailers
    cdef int _nheaders
    cdef int _ntrailers
    cdef Headers _headers
    cdef Headers _trailers

    def __init__(self):
        raise TypeError("Response objects are made by the HTTP clients")

    cdef int _parse(self) except -1:
        cdef const char* p = PyBytes_AS_STRING(self._raw)
        cdef list items = []
        cdef int i
        cdef str name
        for i in range(self._nheaders + self._ntrailers):
            if i == self._nheaders:
                self._headers = Headers.__new__(Headers)
                self._headers._items = items
                items = []
            name = _latin1(p)
            p += strlen(p) + 1
            items.append((name, _latin1(p)))
            p += strlen(p) + 1
        if self._headers is None:
            self._headers = Headers.__new__(Headers)
            self._headers._items = items
            items = []
        self._trailers = Headers.__new__(Headers)
        self._trailers._items = items
        self._raw = None
        return 0

    @property
    def headers(self):
        """The header fields (Headers: case-insensitive, wire order, repeats
        kept)."""
        if self._headers is None:
            self._parse()
        return self._headers

    @property
    def trailers(self):
        """The trailer fields of a chunked response (Headers, maybe empty)."""
        if self._trailers is None:
            self._parse()
        return self._trailers

    def __repr__(self):
        return f"<Response {self.status} {self.reason} HTTP/{self.version} body={len(self.body)} bytes>"


cdef Response _make_response(object conn_id, hps_httpc_conn* st, const char* method, const char* target,
                             bint keep_alive, object body):
    """A Response from an assembled head ("reason\\0" then name\\0value\\0
    pairs) and body."""
    cdef Response r = Response.__new__(Response)
    cdef const char* p = <const char*>(st.head.buf + st.head.head)
    cdef size_t n = hps_buf_len(&st.head)
    cdef size_t rl
    r.status = st.status
    if n:
        rl = strlen(p) + 1
        r.reason = _latin1(p)
        r._raw = PyBytes_FromStringAndSize(p + rl, n - rl)
    else:
        r.reason = ""
        r._raw = b""
    r._nheaders = st.nheaders
    r._ntrailers = st.ntrailers
    r.version = f"{st.version & 0xFF}.{(st.version >> 8) & 0xFF}"
    r.keep_alive = keep_alive
    r.conn_id = conn_id
    r.request_method = _latin1(method) if method != NULL else None
    r.request_target = _latin1(target) if target != NULL else None
    r.body = body
    return r


# -- requests --------------------------------------------------------------------

cdef bytes _httpc_method(object method):
    cdef bytes m
    if isinstance(method, str):
        try:
            m = (<str>method).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"invalid method {method!r}") from None
    elif isinstance(method, bytes):
        m = method
    else:
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    if not hps_http_token(<const unsigned char*>PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m)):
        raise ValueError(f"invalid method {method!r}")
    return m


cdef bytes _httpc_target(object target, str what):
    """A request target or URL: printable ASCII without spaces."""
    cdef bytes t
    cdef const unsigned char* p
    cdef Py_ssize_t i
    if isinstance(target, str):
        try:
            t = (<str>target).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{what} must be ASCII (percent-encode the rest): {target!r}") from None
    elif isinstance(target, bytes):
        t = target
    else:
        raise TypeError(f"{what} must be a str, not {type(target).__name__}")
    if PyBytes_GET_SIZE(t) == 0:
        raise ValueError(f"{what} must not be empty")
    p = <const unsigned char*>PyBytes_AS_STRING(t)
    for i in range(PyBytes_GET_SIZE(t)):
        if p[i] <= 32 or p[i] >= 127:
            raise ValueError(f"{what} contains a space, a control character or non-ASCII: {target!r}")
    return t


cdef object _httpc_body(object body):
    """The body as an object with the buffer interface (str: UTF-8)."""
    if body is None:
        return b""
    if isinstance(body, str):
        return (<str>body).encode("utf-8")
    if not PyObject_CheckBuffer(body):
        raise TypeError(f"body must be bytes-like or str, not {type(body).__name__}")
    return body


# What _httpc_fields found among the caller's header fields.
ctypedef struct _ReqInfo:
    bint has_host
    long long declared       # Content-Length the caller gave, or -1


cdef list _httpc_fields(object headers, long long body_len, _ReqInfo* info, list keep):
    """The caller's header fields, checked: a list of (name pointer, name
    length, value pointer, value length) without Content-Length (written
    once, by the caller).  Raises TypeError/ValueError."""
    cdef const char* n
    cdef const char* v
    cdef Py_ssize_t nl, vl, i
    cdef long long cl
    cdef list out = []
    info.has_host = False
    info.declared = -1
    if headers is None:
        return out
    if isinstance(headers, dict):
        headers = headers.items()
    elif isinstance(headers, (str, bytes)):
        raise TypeError("headers must be (name, value) pairs or a dict")
    for item in headers:
        if not isinstance(item, tuple) or len(<tuple>item) != 2:
            raise TypeError(f"headers must be (name, value) pairs, not {item!r}")
        keep.append(item)    # its str objects hold the bytes pointed to
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
            if cl != body_len:
                raise ValueError(f"Content-Length {cl} does not match the body's {body_len} bytes")
            info.declared = cl
            continue
        if _is(n, nl, "transfer-encoding", 17):
            raise ValueError("Transfer-Encoding is not supported in requests: the body is sent with a Content-Length")
        if _is(n, nl, "host", 4):
            if info.has_host:
                raise ValueError("more than one Host header")
            info.has_host = True
        out.append((<Py_ssize_t>n, nl, <Py_ssize_t>v, vl))
    return out


cdef bint _needs_length(bytes method, long long body_len, long long declared):
    """Whether the request carries a Content-Length: with a body, when the
    caller gave one, and for POST, PUT and PATCH even when empty."""
    return body_len > 0 or declared >= 0 or method in (b"POST", b"PUT", b"PATCH")


cdef bytes _host_header(Component self, HP_CONNID conn_id):
    """The Host value for a connection: the host it was opened with, and
    the port unless 80; None if the connection is unknown."""
    cdef char buf[256]
    cdef int n = sizeof(buf)
    cdef USHORT port = 0
    cdef BOOL ok = 0
    cdef int gate = hps_gate_enter(self._ctx)
    if gate and self._ops.role == ROLE_AGENT:
        ok = HP_Agent_GetRemoteHost(self._handle, conn_id, buf, &n, &port)
    elif gate:
        ok = HP_Client_GetRemoteHost(self._handle, buf, &n, &port)
    hps_gate_leave(self._ctx, gate)
    if not ok:
        return None
    buf[sizeof(buf) - 1] = 0
    host = buf[:strlen(buf)]
    if b":" in host:
        host = b"[" + host + b"]"
    if port != 80:
        host += b":%d" % port
    return host


cdef object _httpc_request(Component self, HP_CONNID conn_id, object method, object path,
                           object headers, object body):
    """Send a request on a connection of an HttpAgent/HttpClient: True, or
    False if the connection is unknown or closed."""
    cdef hps_ctx* ctx = self._ctx
    cdef hps_httpc_cfg* cfg = <hps_httpc_cfg*>ctx.family
    cdef bytes m = _httpc_method(method)
    cdef bytes t = _httpc_target(path, "path")
    cdef bytes host
    cdef Py_buffer view
    cdef _ReqInfo info
    cdef list keep = []
    cdef list fields
    cdef hps_buf head
    cdef WSABUF bufs[2]
    cdef int count = 1
    cdef HP_THeader* hdrs = NULL
    cdef int nh = 0
    cdef hps_httpc_req* req
    cdef const char* cm = m
    cdef const char* ct = t
    cdef size_t ml = PyBytes_GET_SIZE(m), tl = PyBytes_GET_SIZE(t)
    cdef BOOL ok = 0
    cdef int gate
    cdef bint length
    cdef char num[32]
    cdef bytes cl_value
    cdef void* handle = self._handle
    cdef int role = self._ops.role
    body = _httpc_body(body)
    memset(&head, 0, sizeof(head))
    _get_buffer(body, &view, PyBUF_SIMPLE)
    try:
        if view.len > INT_MAX:
            raise ValueError("a request body over 2 GiB cannot be sent")
        fields = _httpc_fields(headers, view.len, &info, keep)
        length = _needs_length(m, view.len, info.declared)
        host = None
        if not info.has_host:
            host = _host_header(self, conn_id)
            if host is None:
                return False
        if cfg.use_cookies:
            # The library's SendRequest, which adds the cookies: it leaves a
            # Host and a Content-Length spelled exactly so alone.
            hdrs = <HP_THeader*>PyMem_Malloc((len(fields) + 2) * sizeof(HP_THeader))
            if hdrs == NULL:
                raise MemoryError()
            if host is not None:
                hdrs[nh].name = "Host"
                hdrs[nh].value = host
                nh += 1
            for f in fields:
                name = PyBytes_FromStringAndSize(<const char*><Py_ssize_t>f[0], f[1])
                value = PyBytes_FromStringAndSize(<const char*><Py_ssize_t>f[2], f[3])
                if name.lower() == b"host":
                    name = b"Host"
                keep.append(name)
                keep.append(value)
                hdrs[nh].name = name
                hdrs[nh].value = value
                nh += 1
            if length:
                cl_value = b"%d" % view.len
                keep.append(cl_value)
                hdrs[nh].name = "Content-Length"
                hdrs[nh].value = cl_value
                nh += 1
            with nogil:
                gate = hps_gate_enter(ctx)
                if gate:
                    hps_httpc_lock_sends(ctx)
                    req = hps_httpc_push(ctx, conn_id, cm, ml, ct, tl)
                    if req != NULL:
                        if role == ROLE_AGENT:
                            ok = HP_HttpAgent_SendRequest(handle, conn_id, cm, ct, hdrs, nh,
                                                          <const BYTE*>view.buf, <int>view.len)
                        else:
                            ok = HP_HttpClient_SendRequest(handle, cm, ct, hdrs, nh,
                                                           <const BYTE*>view.buf, <int>view.len)
                        if not ok:
                            hps_httpc_unpush(ctx, conn_id, req)
                    hps_httpc_unlock_sends(ctx)
                hps_gate_leave(ctx, gate)
            return bool(ok)
        _append(&head, cm, ml)
        _append(&head, " ", 1)
        _append(&head, ct, tl)
        _append(&head, " HTTP/1.1\r\n", 11)
        if host is not None:
            _append(&head, "Host: ", 6)
            _append(&head, PyBytes_AS_STRING(host), PyBytes_GET_SIZE(host))
            _append(&head, "\r\n", 2)
        for f in fields:
            _append(&head, <const char*><Py_ssize_t>f[0], f[1])
            _append(&head, ": ", 2)
            _append(&head, <const char*><Py_ssize_t>f[2], f[3])
            _append(&head, "\r\n", 2)
        if length:
            _append(&head, num, snprintf(num, sizeof(num), "Content-Length: %lld\r\n", <long long>view.len))
        _append(&head, "\r\n", 2)
        bufs[0].buf = head.buf + head.head
        bufs[0].len = <unsigned int>hps_buf_len(&head)
        if view.len:
            bufs[1].buf = <unsigned char*>view.buf
            bufs[1].len = <unsigned int>view.len
            count = 2
        with nogil:
            gate = hps_gate_enter(ctx)
            if gate:
                hps_httpc_lock_sends(ctx)
                req = hps_httpc_push(ctx, conn_id, cm, ml, ct, tl)
                if req != NULL:
                    ok = hps_send(ctx, handle, conn_id, bufs, count)
                    if not ok:
                        hps_httpc_unpush(ctx, conn_id, req)
                hps_httpc_unlock_sends(ctx)
            hps_gate_leave(ctx, gate)
        return bool(ok)
    finally:
        PyBuffer_Release(&view)
        hps_buf_free(&head)
        PyMem_Free(hdrs)


# -- dispatchers (with the GIL) ----------------------------------------------------

cdef En_HP_HandleResult _ev_response(Component self, HP_CONNID conn_id, hps_httpc_conn* st,
                                     hps_httpc_req* req, bint keep_alive) noexcept:
    cdef const char* method = NULL
    cdef const char* target = NULL
    try:
        if req != NULL:
            method = req.text
            target = req.text + strlen(req.text) + 1
        body = PyBytes_FromStringAndSize(<const char*>(st.body.buf + st.body.head), hps_buf_len(&st.body)) \
            if hps_buf_len(&st.body) else b""
        return _result(_fn(self, EVI_RESPONSE)(
            self, conn_id, _make_response(conn_id, st, method, target, keep_alive, body)))
    except BaseException as exc:
        return self._failed(EVI_RESPONSE, conn_id, exc)


cdef En_HP_HandleResult _ev_parse_error(Component self, HP_CONNID conn_id, int code, const char* desc) noexcept:
    try:
        return _result(_fn(self, EVI_PARSE_ERROR)(self, conn_id, code, _cstr(desc)))
    except BaseException as exc:
        return self._failed(EVI_PARSE_ERROR, conn_id, exc)


# -- trampolines (without the GIL) -------------------------------------------------

cdef inline hps_httpc_conn* _httpc_conn(void* sender, HP_CONNID conn_id, hps_ctx** pctx) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    pctx[0] = ctx
    if ctx == NULL or ctx.family == NULL:
        return NULL
    return hps_httpc_state(ctx, conn_id)


cdef En_HP_HttpParseResult _httpc_on_message_begin(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    if st == NULL:
        return HPR_ERROR if ctx != NULL else HPR_OK
    hps_httpc_begin(st)
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_status_line(void* sender, HP_CONNID conn_id, USHORT status, LPCTSTR desc) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    if st != NULL and hps_httpc_status_line(st, status, desc) < 0:
        return HPR_ERROR
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_header(void* sender, HP_CONNID conn_id, LPCTSTR name, LPCTSTR value) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    if st != NULL and hps_httpc_header(st, name, value) < 0:
        return HPR_ERROR
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_headers_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    cdef unsigned int version
    cdef ULONGLONG length
    cdef int rc
    if st == NULL:
        return HPR_OK
    if ctx.role == ROLE_AGENT:
        version = HP_HttpAgent_GetVersion(sender, conn_id)
        length = HP_HttpAgent_GetContentLength(sender, conn_id)
    else:
        version = HP_HttpClient_GetVersion(sender)
        length = HP_HttpClient_GetContentLength(sender)
    rc = hps_httpc_headers_done(ctx, st, <hps_httpc_cfg*>ctx.family, version, length)
    if rc < 0:
        return HPR_ERROR
    return HPR_SKIP_BODY if rc > 0 else HPR_OK


cdef En_HP_HttpParseResult _httpc_on_body(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    if st != NULL and hps_httpc_body(st, <hps_httpc_cfg*>ctx.family, data, length) < 0:
        return HPR_ERROR
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_chunk_header(void* sender, HP_CONNID conn_id, int length) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st
    if length == 0:
        st = _httpc_conn(sender, conn_id, &ctx)
        if st != NULL:
            st.in_trailers = 1   # the fields that follow are trailers
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_chunk_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_message_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    cdef hps_httpc_req* req
    cdef hps_owner saved
    cdef bint keep_alive
    cdef En_HP_HandleResult rc = HR_OK
    if st == NULL:
        return HPR_OK
    if st.ws_pending:
        # The answer to a WebSocket handshake: checked, then a 101 makes the
        # connection a WebSocket (the library reads frames after OnUpgrade).
        free(hps_httpc_pop(ctx, st))
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            rc = _wsc_handshake_done(<Component><object>ctx.owner, conn_id, st)
        hps_conn_call_end(saved)
        hps_httpc_reset(st)
        if rc != HR_OK:
            st.failed = 1        # closed by hpsocket: not a parse error
            return HPR_ERROR
        return HPR_OK
    if 100 <= st.status < 200 and st.status != 101:
        # An interim response (100 Continue, 103): the final one follows.
        hps_httpc_reset(st)
        return HPR_OK
    req = hps_httpc_pop(ctx, st)
    if ctx.role == ROLE_AGENT:
        keep_alive = HP_HttpAgent_IsKeepAlive(sender, conn_id)
    else:
        keep_alive = HP_HttpClient_IsKeepAlive(sender)
    if _handled(sender, EV_RESPONSE) != NULL:
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            rc = _ev_response(<Component><object>ctx.owner, conn_id, st, req, keep_alive)
        hps_conn_call_end(saved)
    free(req)
    hps_httpc_reset(st)
    if rc == HR_ERROR:
        st.failed = 1        # the library closes it, through OnParseError
        return HPR_ERROR
    return HPR_OK


cdef En_HP_HttpParseResult _httpc_on_upgrade(void* sender, HP_CONNID conn_id, En_HP_HttpUpgradeType kind) noexcept nogil:
    # Registered so that the library does not switch the connection to raw
    # bytes: the 101 (or CONNECT) response was delivered; the connection
    # closes.  Unless it is a WebSocket whose handshake hpsocket accepted.
    cdef hps_ctx* ctx
    if kind == HUT_WEB_SOCKET and _ws_state(sender, conn_id, &ctx) != NULL:
        return HPR_OK
    return HPR_ERROR


cdef En_HP_HttpParseResult _httpc_on_parse_error(void* sender, HP_CONNID conn_id, int code, LPCTSTR desc) noexcept nogil:
    cdef void* saved_component
    cdef hps_ctx* ctx
    cdef hps_httpc_conn* st = _httpc_conn(sender, conn_id, &ctx)
    if st == NULL or st.failed or st.error:
        return HPR_OK        # hpsocket's own doing (a handler, a limit)
    st.error = EBADMSG
    ctx = _handled(sender, EV_PARSE_ERROR)
    if ctx != NULL:
        saved_component = hps_call_begin(sender)
        with gil:
            _ev_parse_error(<Component><object>ctx.owner, conn_id, code, desc)
        hps_call_end(saved_component)
    return HPR_OK


cdef En_HP_HandleResult _httpc_on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    """OnClose: the shared one, with the errno of why an HTTP connection
    ended badly (see hps_httpc_close_error)."""
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef int why
    _ws_closed(sender, conn_id)
    if ctx != NULL and ctx.family != NULL:
        why = hps_httpc_close_error(ctx, conn_id)
        if why != 0 and (error == 0 or error == ECANCELED):
            error = why
    return _on_close(sender, conn_id, op, error)


cdef void _httpc_register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    if role == ROLE_AGENT:
        HP_Set_FN_HttpAgent_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_HttpAgent_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_HttpAgent_OnHandShake(listener, _on_handshake)
        HP_Set_FN_HttpAgent_OnClose(listener, _httpc_on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_HttpAgent_OnShutdown(listener, _on_shutdown)
        # Every parser event, OnUpgrade included: unregistered, the library
        # accepts every upgrade and leaves HTTP for good.
        HP_Set_FN_HttpAgent_OnMessageBegin(listener, _httpc_on_message_begin)
        HP_Set_FN_HttpAgent_OnStatusLine(listener, _httpc_on_status_line)
        HP_Set_FN_HttpAgent_OnHeader(listener, _httpc_on_header)
        HP_Set_FN_HttpAgent_OnHeadersComplete(listener, _httpc_on_headers_complete)
        HP_Set_FN_HttpAgent_OnBody(listener, _httpc_on_body)
        HP_Set_FN_HttpAgent_OnChunkHeader(listener, _httpc_on_chunk_header)
        HP_Set_FN_HttpAgent_OnChunkComplete(listener, _httpc_on_chunk_complete)
        HP_Set_FN_HttpAgent_OnMessageComplete(listener, _httpc_on_message_complete)
        HP_Set_FN_HttpAgent_OnUpgrade(listener, _httpc_on_upgrade)
        HP_Set_FN_HttpAgent_OnParseError(listener, _httpc_on_parse_error)
        HP_Set_FN_HttpAgent_OnWSMessageHeader(listener, _ws_on_header)
        HP_Set_FN_HttpAgent_OnWSMessageBody(listener, _ws_on_body)
        HP_Set_FN_HttpAgent_OnWSMessageComplete(listener, _ws_on_complete)
    else:
        if (mask & EV_PREPARE) or no_delay:
            HP_Set_FN_HttpClient_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_HttpClient_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_HttpClient_OnHandShake(listener, _on_handshake)
        HP_Set_FN_HttpClient_OnClose(listener, _httpc_on_close)
        HP_Set_FN_HttpClient_OnMessageBegin(listener, _httpc_on_message_begin)
        HP_Set_FN_HttpClient_OnStatusLine(listener, _httpc_on_status_line)
        HP_Set_FN_HttpClient_OnHeader(listener, _httpc_on_header)
        HP_Set_FN_HttpClient_OnHeadersComplete(listener, _httpc_on_headers_complete)
        HP_Set_FN_HttpClient_OnBody(listener, _httpc_on_body)
        HP_Set_FN_HttpClient_OnChunkHeader(listener, _httpc_on_chunk_header)
        HP_Set_FN_HttpClient_OnChunkComplete(listener, _httpc_on_chunk_complete)
        HP_Set_FN_HttpClient_OnMessageComplete(listener, _httpc_on_message_complete)
        HP_Set_FN_HttpClient_OnUpgrade(listener, _httpc_on_upgrade)
        HP_Set_FN_HttpClient_OnParseError(listener, _httpc_on_parse_error)
        HP_Set_FN_HttpClient_OnWSMessageHeader(listener, _ws_on_header)
        HP_Set_FN_HttpClient_OnWSMessageBody(listener, _ws_on_body)
        HP_Set_FN_HttpClient_OnWSMessageComplete(listener, _ws_on_complete)


# -- function tables -----------------------------------------------------------------

cdef Ops OPS_HTTP_AGENT, OPS_HTTP_CLIENT


cdef void _init_httpc_ops() noexcept:
    global OPS_HTTP_AGENT, OPS_HTTP_CLIENT
    _fill_agent(&OPS_HTTP_AGENT)
    OPS_HTTP_AGENT.name = b"HttpAgent"
    OPS_HTTP_AGENT.model = MODEL_PUSH
    # Requests are queued with the library (their order is kept under the
    # send lock): no direct writes.
    OPS_HTTP_AGENT.native.caps = HPS_CAP_SOCKET_FD
    OPS_HTTP_AGENT.events = <PyObject*>_HTTPC_EVENTS
    OPS_HTTP_AGENT.register = _httpc_register
    OPS_HTTP_AGENT.family_stop = hps_httpc_family_stop
    OPS_HTTP_AGENT.native.family_free = hps_httpc_conn_free
    OPS_HTTP_AGENT.native.ctx_family_free = hps_httpc_cfg_free
    OPS_HTTP_AGENT.create_listener = Create_HP_HttpAgentListener
    OPS_HTTP_AGENT.create = Create_HP_HttpAgent
    OPS_HTTP_AGENT.destroy = Destroy_HP_HttpAgent
    OPS_HTTP_AGENT.destroy_listener = Destroy_HP_HttpAgentListener

    _fill_client(&OPS_HTTP_CLIENT)
    OPS_HTTP_CLIENT.name = b"HttpClient"
    OPS_HTTP_CLIENT.model = MODEL_PUSH
    OPS_HTTP_CLIENT.native.caps = HPS_CAP_SOCKET_FD
    OPS_HTTP_CLIENT.events = <PyObject*>_HTTPC_EVENTS
    OPS_HTTP_CLIENT.register = _httpc_register
    OPS_HTTP_CLIENT.family_stop = hps_httpc_family_stop
    OPS_HTTP_CLIENT.native.family_free = hps_httpc_conn_free
    OPS_HTTP_CLIENT.native.ctx_family_free = hps_httpc_cfg_free
    OPS_HTTP_CLIENT.create_listener = Create_HP_HttpClientListener
    OPS_HTTP_CLIENT.create = Create_HP_HttpClient
    OPS_HTTP_CLIENT.destroy = Destroy_HP_HttpClient
    OPS_HTTP_CLIENT.destroy_listener = Destroy_HP_HttpClientListener


_init_httpc_ops()


# -- shared by HttpAgent and HttpClient -------------------------------------------

_DEFAULT_MAX_RESPONSE_BODY = 64 << 20


cdef int _httpc_setup(Component self) except -1:
    """After _setup: the family's settings; cookies off (the library's
    default is on, with a process-wide cookie store)."""
    cdef hps_httpc_cfg* cfg = hps_httpc_cfg_new()
    if cfg == NULL:
        raise MemoryError()
    cfg.max_body = _DEFAULT_MAX_RESPONSE_BODY
    cfg.ws_max_message = 1 << 20
    cfg.use_cookies = 0
    self._ctx.family = cfg
    if self._ops.role == ROLE_AGENT:
        HP_HttpAgent_SetUseCookie(self._handle, 0)
        # One worker when responses reach Python (see _default_workers).
        if self._ctx.mask & EV_RESPONSE:
            self._ops.tunables[T_WORKER_THREADS].set(self._handle, 1)
    else:
        HP_HttpClient_SetUseCookie(self._handle, 0)
    return 0


cdef object _use_cookies_get(Component self):
    return bool((<hps_httpc_cfg*>self._ctx.family).use_cookies)


cdef int _use_cookies_set(Component self, object value) except -1:
    cdef bint v = bool(value)
    self._require_stopped("use_cookies")
    (<hps_httpc_cfg*>self._ctx.family).use_cookies = v
    if self._ops.role == ROLE_AGENT:
        HP_HttpAgent_SetUseCookie(self._handle, v)
    else:
        HP_HttpClient_SetUseCookie(self._handle, v)
    return 0


cdef int _max_body_set(Component self, object value) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_body_size must be an int, not {type(value).__name__}")
    if not 0 <= value <= INT_MAX:
        raise ValueError(f"max_body_size must be 0 to {INT_MAX}, not {value}")
    (<hps_httpc_cfg*>self._ctx.family).max_body = value
    return 0


cdef class HttpAgent(Agent):
    """An HTTP/1.1 client over many connections: ``connect(host, port)``
    each, then ``request(conn_id, method, path, headers, body)``; every
    whole response arrives through ``on_response(conn_id, response)`` (a
    Response), in request order.  Several requests may be in flight on one
    connection (pipelining).

    The request head is built by hpsocket: Host (from connect()'s host)
    unless given, the caller's fields in order, one Content-Length (for a
    body, and for POST, PUT and PATCH).  Responses to HEAD, and 1xx
    (skipped: the final response follows), 204 and 304 have no body.

    Other events: ``on_parse_error(conn_id, code, description)`` when the
    server sends what is not HTTP (the connection then closes, on_close
    with errno EBADMSG); on_close reports errno ECONNRESET when the server
    closed the connection with a response cut short or requests not
    answered.  A 101 (upgrade) response is delivered, then the connection
    closes."""

    _OPTIONS = Agent._OPTIONS | frozenset({"use_cookies", "max_body_size"})

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_HTTP_AGENT)
        _httpc_setup(self)

    def start(self, bind_address=None, async_connect=True):
        """Start the worker threads; see Agent.start."""
        (<hps_httpc_cfg*>self._ctx.family).stopping = 0
        Agent.start(self, bind_address, async_connect)

    def request(self, conn_id, method, path, headers=(), body=b""):
        """Send a request on a connection (any thread): ``method`` a token
        (e.g. "GET"), ``path`` the request target (e.g. "/a?b=1"),
        ``headers`` (name, value) pairs or a dict, ``body`` bytes-like or
        str (UTF-8).  True if queued, False if the connection is unknown,
        not established yet (send from on_connect, or start with
        async_connect=False) or closed.  TypeError/ValueError for invalid
        arguments, before anything is sent."""
        return _httpc_request(self, _conn_arg(conn_id), method, path, headers, body)

    def disconnect(self, conn_id, force=True):
        """Close the connection; requests not answered are then dropped
        without on_close reporting a reset."""
        cdef HP_CONNID c = _conn_arg(conn_id)
        hps_httpc_mark_closing(self._ctx, c)
        return _Connections.disconnect(self, c, force)

    property use_cookies:
        """Send the cookies of HP-Socket's cookie store and keep the ones
        responses set (default False).  The store is process-wide: every
        component with cookies on shares it.  Requests then go through the
        library's SendRequest, which judges whether a response has a body
        by the last request sent: do not pipeline HEAD with other requests.
        Set while stopped."""
        def __get__(self):
            return _use_cookies_get(self)

        def __set__(self, value):
            _use_cookies_set(self, value)

    property max_body_size:
        """Largest response body, bytes (default 64 MiB); a larger one
        closes the connection, and on_close reports errno EMSGSIZE."""
        def __get__(self):
            return (<hps_httpc_cfg*>self._ctx.family).max_body

        def __set__(self, value):
            _max_body_set(self, value)


cdef class HttpClient(Client):
    """An HTTP/1.1 client over one connection: ``start(host, port)``, then
    ``request(method, path, headers, body)``; every whole response arrives
    through ``on_response(conn_id, response)``, in request order (see
    HttpAgent, whose behaviour it shares)."""

    _OPTIONS = Client._OPTIONS | frozenset({"use_cookies", "max_body_size"})

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_HTTP_CLIENT)
        _httpc_setup(self)

    def start(self, host, port, async_connect=False, bind_address=None):
        """Connect to (host, port); see Client.start.  The Host header of
        requests is this host (and the port, unless 80)."""
        (<hps_httpc_cfg*>self._ctx.family).stopping = 0
        Client.start(self, host, port, async_connect, bind_address)

    def request(self, method, path, headers=(), body=b""):
        """Send a request (any thread); see HttpAgent.request.  True if
        queued, False if not connected."""
        return _httpc_request(self, 0, method, path, headers, body)

    property use_cookies:
        """Send the cookies of HP-Socket's cookie store and keep the ones
        responses set (default False).  The store is process-wide: every
        component with cookies on shares it.  Requests then go through the
        library's SendRequest, which judges whether a response has a body
        by the last request sent: do not pipeline HEAD with other requests.
        Set while stopped."""
        def __get__(self):
            return _use_cookies_get(self)

        def __set__(self, value):
            _use_cookies_set(self, value)

    property max_body_size:
        """Largest response body, bytes (default 64 MiB); a larger one
        closes the connection, and on_close reports errno EMSGSIZE."""
        def __get__(self):
            return (<hps_httpc_cfg*>self._ctx.family).max_body

        def __set__(self, value):
            _max_body_set(self, value)


# -- HttpSyncClient ---------------------------------------------------------------------
# Its listener's events run on the library's worker thread while request()
# waits in OpenUrl without the GIL; they never enter Python.

cdef hps_ops _SYNC_OPS


cdef inline hps_httpc_sync* _sync_state(void* sender) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    return NULL if ctx == NULL else <hps_httpc_sync*>ctx.family


cdef En_HP_HttpParseResult _sync_on_message_begin(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_lock(s)
        hps_httpc_begin(&s.resp)
        s.complete = 0
        hps_httpc_sync_unlock(s)
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_status_line(void* sender, HP_CONNID conn_id, USHORT status, LPCTSTR desc) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_lock(s)
        hps_httpc_status_line(&s.resp, status, desc)
        hps_httpc_sync_unlock(s)
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_header(void* sender, HP_CONNID conn_id, LPCTSTR name, LPCTSTR value) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_lock(s)
        hps_httpc_header(&s.resp, name, value)
        hps_httpc_sync_unlock(s)
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_headers_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_lock(s)
        s.resp.version = HP_HttpClient_GetVersion(sender)
        hps_httpc_sync_unlock(s)
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_chunk_header(void* sender, HP_CONNID conn_id, int length) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL and length == 0:
        hps_httpc_sync_lock(s)
        s.resp.in_trailers = 1
        hps_httpc_sync_unlock(s)
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_message_complete(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_complete(s, HP_HttpClient_IsKeepAlive(sender))
    return HPR_OK


cdef En_HP_HttpParseResult _sync_on_upgrade(void* sender, HP_CONNID conn_id, En_HP_HttpUpgradeType kind) noexcept nogil:
    return HPR_ERROR    # never leave HTTP (see _httpc_on_upgrade)


cdef En_HP_HttpParseResult _sync_on_parse_error(void* sender, HP_CONNID conn_id, int code, LPCTSTR desc) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_parse_error(s, code, desc)
    return HPR_OK


cdef En_HP_HandleResult _sync_on_connect(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_connected(s)
    return HR_IGNORE


cdef En_HP_HandleResult _sync_on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    cdef hps_httpc_sync* s = _sync_state(sender)
    if s != NULL:
        hps_httpc_sync_closed(s, error)
    return HR_IGNORE


cdef DWORD _timeout_ms(object seconds, str name, bint allow_none) except? 0xFFFFFFFF:
    """Seconds (int or float, > 0) as milliseconds; None: no limit (0)."""
    if seconds is None and allow_none:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds{' or None' if allow_none else ''}, "
                        f"not {type(seconds).__name__}")
    if not 0 < seconds <= 2000000:
        raise ValueError(f"{name} must be more than 0 and at most 2000000 seconds, not {seconds}")
    return max(1, <DWORD>(seconds * 1000))


cdef object _sync_error(void* handle, hps_httpc_sync* s, str host, int port, DWORD ms,
                        unsigned long long elapsed, unsigned long long t0):
    """The exception of a failed HttpSyncClient request (s locked)."""
    cdef En_HP_SocketError code = HP_Client_GetLastError(handle)
    cdef str desc = _cstr(HP_Client_GetLastErrorDesc(handle))
    cdef DWORD cms = HP_HttpSyncClient_GetConnectTimeout(handle)
    where = f"{host}:{port}"
    if s.parse_error:
        return HPSocketError(SE_DATA_PROC, f"the response from {where} is not valid HTTP: "
                                           f"{_cstr(s.parse_desc)}", EBADMSG)
    if code == SE_CONNECT_SERVER:
        if s.close_error == ETIMEDOUT or (s.close_error == 0 and elapsed + 50 >= cms):
            return HttpTimeoutError(code, f"connecting to {where} timed out after {cms / 1000:g} s",
                                    ETIMEDOUT)
        reason = os.strerror(s.close_error) if s.close_error else desc
        return HPSocketError(code, f"connecting to {where} failed: {reason}", s.close_error or None)
    if s.closed and (ms == 0 or s.close_ms + 50 < t0 + ms):
        return HPSocketError(code, f"{where} closed the connection before the response was complete",
                             s.close_error or ECONNRESET)
    if ms != 0 and elapsed + 50 >= ms:
        return HttpTimeoutError(code, f"no complete response from {where} within {ms / 1000:g} s",
                                ETIMEDOUT)
    return HPSocketError(code, f"request to {where} failed: {desc}", s.close_error or None)


cdef class HttpSyncClient:
    """A blocking HTTP/1.1 client on HP-Socket's HttpSyncClient:
    ``request(method, url, headers, body)`` returns a Response.  The
    connection is kept between requests to the same host and port.
    One request at a time (others wait); the GIL is released meanwhile.

    Errors: ValueError for an https:// (HP-Socket 5.2.2 as bundled has no
    TLS) or otherwise unusable URL and TypeError/ValueError for other bad
    arguments, before anything is sent; HttpTimeoutError (an HPSocketError
    and a TimeoutError) when connecting or the response takes too long;
    HPSocketError with the errno otherwise (ECONNREFUSED, ECONNRESET when
    the server closed the connection before the response was complete,
    EBADMSG when it is not HTTP).  A request is bounded by the timeouts,
    not by Ctrl-C.  A context manager: close() at the end."""

    def __cinit__(self, *args, **kwargs):
        cdef void* listener
        cdef void* handle
        cdef hps_ctx* ctx
        self._listener = NULL
        self._handle = NULL
        self._ctx = NULL
        self._lock = threading.Lock()
        self._request_ms = 10000
        listener = Create_HP_HttpClientListener()
        if listener == NULL:
            raise MemoryError("could not create the native HttpSyncClient")
        HP_Set_FN_HttpClient_OnMessageBegin(listener, _sync_on_message_begin)
        HP_Set_FN_HttpClient_OnStatusLine(listener, _sync_on_status_line)
        HP_Set_FN_HttpClient_OnHeader(listener, _sync_on_header)
        HP_Set_FN_HttpClient_OnHeadersComplete(listener, _sync_on_headers_complete)
        HP_Set_FN_HttpClient_OnChunkHeader(listener, _sync_on_chunk_header)
        HP_Set_FN_HttpClient_OnMessageComplete(listener, _sync_on_message_complete)
        HP_Set_FN_HttpClient_OnUpgrade(listener, _sync_on_upgrade)
        HP_Set_FN_HttpClient_OnParseError(listener, _sync_on_parse_error)
        HP_Set_FN_HttpClient_OnConnect(listener, _sync_on_connect)
        HP_Set_FN_HttpClient_OnClose(listener, _sync_on_close)
        self._listener = listener
        handle = Create_HP_HttpSyncClient(listener)
        if handle == NULL:
            raise MemoryError("could not create the native HttpSyncClient")
        self._handle = handle
        hps_count(&hps_counter_live_native, 1)
        ctx = hps_ctx_new(&_SYNC_OPS)
        if ctx == NULL:
            raise MemoryError()
        self._ctx = ctx
        ctx.role = ROLE_CLIENT
        ctx.sender = handle
        ctx.family = hps_httpc_sync_new()
        if ctx.family == NULL:
            raise MemoryError()
        if hps_register(handle, ctx) != 0:
            raise RuntimeError("too many hpsocket components alive at once")
        HP_HttpClient_SetUseCookie(handle, 0)
        HP_HttpSyncClient_SetConnectTimeout(handle, 5000)
        HP_HttpSyncClient_SetRequestTimeout(handle, 10000)

    def __init__(self, connect_timeout=5.0, request_timeout=10.0, use_cookies=False):
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.use_cookies = use_cookies

    def __dealloc__(self):
        cdef void* handle = self._handle
        cdef void* listener = self._listener
        if handle != NULL:
            with nogil:
                if HP_Client_GetState(handle) != SS_STOPPED:
                    HP_Client_Stop(handle)
                hps_unregister(handle)
                Destroy_HP_HttpSyncClient(handle)
            hps_count(&hps_counter_live_native, -1)
            self._handle = NULL
        if listener != NULL:
            Destroy_HP_HttpClientListener(listener)
            self._listener = NULL
        if self._ctx != NULL:
            hps_ctx_free(self._ctx)
            self._ctx = NULL

    def __repr__(self):
        return f"<HttpSyncClient {ServiceState(HP_Client_GetState(self._handle)).name.lower()}>"

    def request(self, method, url, headers=None, body=None, timeout=None):
        """Send a request to ``url`` ("http://host[:port]/path?query") and
        wait for the whole response: a Response.  ``headers`` (name, value)
        pairs or a dict; ``body`` bytes-like or str (UTF-8); ``timeout``
        seconds for this request's response (default: request_timeout)."""
        cdef bytes m = _httpc_method(method)
        cdef bytes u = _httpc_target(url, "url")
        cdef _ReqInfo info
        cdef list keep = []
        cdef list fields
        cdef Py_buffer view
        cdef HP_THeader* hdrs = NULL
        cdef int nh = 0
        cdef DWORD ms = self._request_ms if timeout is None else _timeout_ms(timeout, "timeout", True)
        cdef void* handle = self._handle
        cdef const char* cm = m
        cdef const char* cu = u
        cdef BOOL ok
        cdef unsigned long long t0, t1
        cdef hps_httpc_sync* s = <hps_httpc_sync*>self._ctx.family
        cdef LPCBYTE data = NULL
        cdef int length = 0
        cdef bytes cl_value
        parts = _urlsplit(u.decode("ascii"))
        scheme = parts.scheme.lower()
        if scheme == "https":
            raise ValueError("https:// URLs are not supported: HP-Socket 5.2.2 as bundled has no TLS")
        if scheme != "http":
            raise ValueError(f"url must be an http:// URL, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"url has no host: {url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"url has an invalid port: {url!r}") from None
        body = _httpc_body(body)
        _get_buffer(body, &view, PyBUF_SIMPLE)
        try:
            if view.len > INT_MAX:
                raise ValueError("a request body over 2 GiB cannot be sent")
            fields = _httpc_fields(headers, view.len, &info, keep)
            hdrs = <HP_THeader*>PyMem_Malloc((len(fields) + 1) * sizeof(HP_THeader))
            if hdrs == NULL:
                raise MemoryError()
            # The library adds Host and Content-Length unless spelled so.
            for f in fields:
                name = PyBytes_FromStringAndSize(<const char*><Py_ssize_t>f[0], f[1])
                value = PyBytes_FromStringAndSize(<const char*><Py_ssize_t>f[2], f[3])
                if name.lower() == b"host":
                    name = b"Host"
                keep.append(name)
                keep.append(value)
                hdrs[nh].name = name
                hdrs[nh].value = value
                nh += 1
            if _needs_length(m, view.len, info.declared):
                cl_value = b"%d" % view.len
                keep.append(cl_value)
                hdrs[nh].name = "Content-Length"
                hdrs[nh].value = cl_value
                nh += 1
            with self._lock:
                hps_httpc_sync_clear(s)
                with nogil:
                    HP_HttpSyncClient_SetRequestTimeout(handle, ms)
                    t0 = hps_httpc_now_ms()
                    ok = HP_HttpSyncClient_OpenUrl(handle, cm, cu, hdrs, nh, <const BYTE*>view.buf,
                                                   <int>view.len, 0)
                    t1 = hps_httpc_now_ms()
                    if ok and not hps_httpc_sync_wait_final(s, 0 if ms == 0 else (ms - (t1 - t0) if t1 - t0 < ms else 1)):
                        ok = 0      # the connection is in the middle of a response: drop it
                        HP_Client_Stop(handle)
                    t1 = hps_httpc_now_ms()
                    HP_HttpSyncClient_SetRequestTimeout(handle, self._request_ms)
                if HP_Client_GetState(handle) != SS_STOPPED:
                    _live.add(self)
                else:
                    _live.discard(self)
                hps_httpc_sync_lock(s)
                try:
                    if s.complete and (ok or s.resp.status == 101):
                        # A 101 arrives whole; the connection then closes.
                        if not ok or not HP_HttpSyncClient_GetResponseBody(handle, &data, &length) or data == NULL:
                            length = 0
                        body_bytes = PyBytes_FromStringAndSize(<const char*>data, length) if length > 0 else b""
                        return _make_response(HP_Client_GetConnectionID(handle), &s.resp, cm, cu,
                                              s.keep_alive, body_bytes)
                    raise _sync_error(handle, s, parts.hostname, port, ms, t1 - t0, t0)
                finally:
                    hps_httpc_sync_unlock(s)
        finally:
            PyBuffer_Release(&view)
            PyMem_Free(hdrs)

    def close(self):
        """Close the connection (a later request opens a new one)."""
        cdef void* handle = self._handle
        with self._lock:
            with nogil:
                if HP_Client_GetState(handle) != SS_STOPPED:
                    HP_Client_Stop(handle)
            _live.discard(self)

    def stop(self):
        """Same as close()."""
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    property connect_timeout:
        """Seconds to connect (default 5)."""
        def __get__(self):
            return HP_HttpSyncClient_GetConnectTimeout(self._handle) / 1000.0

        def __set__(self, value):
            HP_HttpSyncClient_SetConnectTimeout(self._handle, _timeout_ms(value, "connect_timeout", False))

    property request_timeout:
        """Seconds for the whole response (default 10; None: no limit)."""
        def __get__(self):
            return self._request_ms / 1000.0 if self._request_ms else None

        def __set__(self, value):
            cdef DWORD ms = _timeout_ms(value, "request_timeout", True)
            self._request_ms = ms
            HP_HttpSyncClient_SetRequestTimeout(self._handle, ms)

    property use_cookies:
        """Send and keep cookies with HP-Socket's process-wide cookie store
        (default False)."""
        def __get__(self):
            return bool(HP_HttpClient_IsUseCookie(self._handle))

        def __set__(self, value):
            HP_HttpClient_SetUseCookie(self._handle, bool(value))


memset(&_SYNC_OPS, 0, sizeof(hps_ops))
_SYNC_OPS.ctx_family_free = hps_httpc_sync_free
