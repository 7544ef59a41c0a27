# WebSocket clients: WebSocketAgent (many connections) and WebSocketClient
# (one), on HttpAgent and HttpClient.  The opening handshake is an HTTP
# request (_httpc_request) whose answer _http_client.pxi hands to
# _wsc_handshake_done instead of on_response; a checked 101 makes the
# connection a WebSocket, and from then on frames go through the shared
# trampolines of _ws.pxi.  Frames sent are masked with fresh random keys, on
# a copy (hps_wsc_send).

import os as _os


cdef tuple _ws_url(object url):
    """(host, port, target, Host header) of a ws:// URL."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    parts = _urlsplit(url)
    if parts.scheme == "wss":
        raise ValueError("wss:// needs TLS, which the bundled HP-Socket does not have")
    if parts.scheme != "ws":
        raise ValueError(f"a WebSocket URL starts with ws://, not {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    name = f"[{host}]" if ":" in host else host
    return host, port, target, name if port == 80 else f"{name}:{port}"


cdef tuple _ws_protocols(object subprotocols):
    if subprotocols is None:
        return ()
    if isinstance(subprotocols, (str, bytes)):
        raise TypeError("subprotocols must be a list of str")
    out = tuple(subprotocols)
    for p in out:
        if not isinstance(p, str):
            raise TypeError(f"a subprotocol must be a str, not {type(p).__name__}")
        b = p.encode("latin-1", "replace")
        if not p or not hps_http_token(<const unsigned char*>PyBytes_AS_STRING(b), len(b)):
            raise ValueError(f"a subprotocol must be an HTTP token, not {p!r}")
    return out


cdef class _WsHandshake:
    """What a client waits for: the 101 it must get, and the outcome."""
    cdef str accept
    cdef tuple protocols
    cdef object done          # threading.Event
    cdef object error         # None, or why the handshake failed (str)
    cdef object protocol      # the subprotocol the server chose, or None


cdef object _wsc_handshake(Component self, dict pending, HP_CONNID conn_id, str host_header,
                           str target, tuple protocols, object headers):
    """Send the opening handshake on a connection; returns its _WsHandshake."""
    cdef _WsHandshake hs = _WsHandshake.__new__(_WsHandshake)
    key = _base64.b64encode(_os.urandom(16)).decode("ascii")
    fields = [("Host", host_header), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    if protocols:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    extra = list(headers.items() if isinstance(headers, dict) else headers)
    for item in extra:
        name = item[0] if isinstance(item, tuple) and len(item) == 2 else None
        if isinstance(name, str) and name.lower() in ("host", "upgrade", "connection", "sec-websocket-key",
                                                       "sec-websocket-version", "sec-websocket-protocol"):
            raise ValueError(f"the {name} header is hpsocket's to send")
    hs.accept = _ws_accept_key(key)
    hs.protocols = protocols
    hs.done = threading.Event()
    pending[conn_id] = hs
    if hps_wsc_expect(self._ctx, conn_id) < 0 or not _httpc_request(self, 0 if self._ops.role == ROLE_CLIENT else conn_id,
                                                                     "GET", target, fields + extra, b""):
        pending.pop(conn_id, None)
        raise HPSocketError(SE_ILLEGAL_STATE, "the connection closed before the handshake was sent")
    return hs


cdef En_HP_HandleResult _wsc_handshake_done(Component self, HP_CONNID conn_id, hps_httpc_conn* st) noexcept:
    """The answer to our handshake (worker thread, GIL held): HR_OK if the
    connection is now a WebSocket, else HR_ERROR (it closes)."""
    cdef _WsHandshake hs = None
    cdef Response resp
    try:
        hs = (<dict>getattr(self, "_ws_pending")).pop(conn_id, None)
        if hs is None:
            return HR_ERROR
        resp = _make_response(conn_id, st, b"GET", b"", False, b"")
        h = resp.headers
        error = None
        chosen = h.get("Sec-WebSocket-Protocol")
        if resp.status != 101:
            error = f"the server answered {resp.status} {resp.reason}"
        elif not any(t.strip().lower() == "websocket" for t in h.get("Upgrade", "").split(",")):
            error = "the 101 has no Upgrade: websocket"
        elif not any(t.strip().lower() == "upgrade" for t in h.get("Connection", "").split(",")):
            error = "the 101 has no Connection: upgrade"
        elif h.get_all("Sec-WebSocket-Accept") != [hs.accept]:
            error = "the 101's Sec-WebSocket-Accept does not match the key"
        elif h.get("Sec-WebSocket-Extensions"):
            error = "the server chose an extension that was not offered"
        elif chosen is not None and chosen not in hs.protocols:
            error = f"the server chose the subprotocol {chosen!r}, which was not offered"
        elif hps_wsc_attach(self._ctx, st, (<hps_httpc_cfg*>self._ctx.family).ws_max_message) < 0:
            error = "out of memory"
        hs.error = error
        hs.protocol = chosen
        hs.done.set()
        if error is not None:
            if _fn(self, EVI_WS_CLOSE) is not None:
                _fn(self, EVI_WS_CLOSE)(self, conn_id, HPS_WS_ABNORMAL, "handshake failed: " + error)
            return HR_ERROR
        if _fn(self, EVI_WS_OPEN) is not None:
            try:
                _fn(self, EVI_WS_OPEN)(self, conn_id)
            except BaseException as exc:
                self._failed(EVI_WS_OPEN, conn_id, exc)
                hps_wsc_send_close(self._ctx, self._handle, conn_id, HPS_WS_INTERNAL_ERROR, NULL, 0)
        return HR_OK
    except BaseException as exc:
        if hs is not None and not hs.done.is_set():
            hs.error = repr(exc)
            hs.done.set()
        return self._failed(EVI_WS_OPEN, conn_id, exc)


cdef object _wsc_wait(_WsHandshake hs, object timeout):
    """Wait for the handshake's outcome: the subprotocol, or raise."""
    if not hs.done.wait(timeout):
        raise HttpTimeoutError(SE_CONNECT_SERVER, f"no answer to the WebSocket handshake within {timeout} s")
    if hs.error is not None:
        raise HPSocketError(SE_CONNECT_SERVER, "WebSocket handshake failed: " + hs.error)
    return hs.protocol


cdef object _wsc_send(Component self, HP_CONNID conn_id, object message):
    cdef Py_buffer view
    cdef int opcode, rc = 0, gate
    keep = _ws_payload(message, &opcode, &view)
    try:
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                rc = hps_wsc_send(self._ctx, self._handle, conn_id, opcode, <const unsigned char*>view.buf,
                                  <size_t>view.len)
            hps_gate_leave(self._ctx, gate)
    finally:
        PyBuffer_Release(&view)
    return rc != 0


cdef object _wsc_ping(Component self, HP_CONNID conn_id, object data):
    cdef Py_buffer view
    cdef int rc = 0, gate
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if view.len > 125:
            raise ValueError("a ping carries at most 125 bytes")
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                rc = hps_wsc_send(self._ctx, self._handle, conn_id, HPS_WS_PING, <const unsigned char*>view.buf,
                                  <size_t>view.len)
            hps_gate_leave(self._ctx, gate)
    finally:
        PyBuffer_Release(&view)
    return rc != 0


cdef object _wsc_close(Component self, HP_CONNID conn_id, object code, object reason):
    cdef int c_code = _ws_close_code(code)
    cdef bytes r = _ws_close_reason(reason)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(r)
    cdef size_t n = PyBytes_GET_SIZE(r)
    cdef int rc = 0, gate
    with nogil:
        gate = hps_gate_enter(self._ctx)
        if gate:
            rc = hps_wsc_send_close(self._ctx, self._handle, conn_id, c_code, p, n)
        hps_gate_leave(self._ctx, gate)
    return rc != 0


cdef int _wsc_max_set(Component self, object value) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ws_max_message_size must be an int, not {type(value).__name__}")
    if not 1 <= value <= 0x7FFFFFFF:
        raise ValueError(f"ws_max_message_size must be 1 to 2147483647, not {value}")
    (<hps_httpc_cfg*>self._ctx.family).ws_max_message = value
    return 0


_quiet_defaults.update(("on_ws_open", "on_ws_message", "on_ws_close"))


cdef class WebSocketAgent(HttpAgent):
    """WebSocket connections to servers: ``start()``, then
    ``connect(url, subprotocols=None, headers=())`` per connection (it
    returns the conn_id at once; ``on_ws_open`` follows the server's 101,
    or ``wait_open(conn_id)``).  Messages arrive whole in
    ``on_ws_message(conn_id, message)`` (str for text, bytes for binary) on
    the worker thread; ``ws_send``, ``ws_ping`` and ``ws_close`` work from
    any thread.  Frames are checked like the server's (the server's must
    not be masked), pings answered; ``on_ws_close(conn_id, code, reason)``
    comes once per connection (1006 if the handshake failed or the
    connection ended without a Close).  ws:// only (no TLS)."""

    cdef public dict _ws_pending     # conn_id -> _WsHandshake, until the answer
    cdef dict _ws_handshakes          # conn_id -> _WsHandshake, for wait_open

    _OPTIONS = HttpAgent._OPTIONS | frozenset({"ws_max_message_size"})

    def __cinit__(self, *args, **kwargs):
        self._ws_pending = {}
        self._ws_handshakes = {}

    def start(self, bind_address=None):
        """Start the worker threads (connect() then connects synchronously)."""
        HttpAgent.start(self, bind_address, False)

    def connect(self, url, subprotocols=None, headers=()):
        """Connect to a ws:// URL and send the opening handshake (offering
        ``subprotocols``, with extra ``headers``); returns the conn_id.
        HPSocketError if the connection cannot be made."""
        host, port, target, host_header = _ws_url(url)
        protocols = _ws_protocols(subprotocols)
        conn_id = Agent.connect(self, host, port)
        self._ws_handshakes[conn_id] = _wsc_handshake(self, self._ws_pending, conn_id, host_header,
                                                      target, protocols, headers)
        return conn_id

    def wait_open(self, conn_id, timeout=10.0):
        """Wait until the connection's handshake is answered: the
        subprotocol the server chose (or None); HPSocketError if it
        refused, HttpTimeoutError if it did not answer in time."""
        hs = self._ws_handshakes.get(conn_id)
        if hs is None:
            raise HPSocketError(SE_ILLEGAL_STATE, f"no WebSocket handshake on connection {conn_id}")
        try:
            return _wsc_wait(hs, timeout)
        finally:
            if (<_WsHandshake>hs).done.is_set():
                self._ws_handshakes.pop(conn_id, None)

    def ws_send(self, conn_id, message):
        """Send one message (str: text, bytes-like: binary), masked; True
        if queued, False if the connection is not an open WebSocket."""
        return _wsc_send(self, _conn_arg(conn_id), message)

    def ws_ping(self, conn_id, data=b""):
        return _wsc_ping(self, _conn_arg(conn_id), data)

    def ws_close(self, conn_id, code=1000, reason=""):
        """Send our Close; the server answers and closes the connection."""
        return _wsc_close(self, _conn_arg(conn_id), code, reason)

    def on_ws_open(self, conn_id):
        """The server accepted the handshake (worker thread)."""

    def on_ws_message(self, conn_id, message):
        """One whole message: str (text) or bytes (binary)."""

    def on_ws_close(self, conn_id, code, reason):
        """The WebSocket ended (once per connection)."""

    property ws_max_message_size:
        """Largest message received, bytes (default 1 MiB); larger closes
        the connection with 1009."""
        def __get__(self):
            return (<hps_httpc_cfg*>self._ctx.family).ws_max_message

        def __set__(self, value):
            _wsc_max_set(self, value)


cdef class WebSocketClient(HttpClient):
    """One WebSocket connection: ``start(url, subprotocols=None,
    headers=(), timeout=10.0)`` connects and waits for the server's 101
    (HPSocketError if it refuses); then ``ws_send``, ``ws_ping``,
    ``ws_close`` (any thread) and the events of WebSocketAgent, with
    conn_id the connection's."""

    cdef public dict _ws_pending
    cdef readonly object subprotocol

    _OPTIONS = HttpClient._OPTIONS | frozenset({"ws_max_message_size"})

    def __cinit__(self, *args, **kwargs):
        self._ws_pending = {}

    def start(self, url, subprotocols=None, headers=(), timeout=10.0, bind_address=None):
        """Connect to a ws:// URL, send the handshake and wait (up to
        timeout seconds, unless called from a handler) for its answer."""
        host, port, target, host_header = _ws_url(url)
        protocols = _ws_protocols(subprotocols)
        self.subprotocol = None
        HttpClient.start(self, host, port, False, bind_address)
        hs = _wsc_handshake(self, self._ws_pending, self.connection_id, host_header, target,
                            protocols, headers)
        if hps_in_callback():
            return
        try:
            self.subprotocol = _wsc_wait(hs, timeout)
        except BaseException:
            self.stop()
            raise

    def ws_send(self, message):
        """Send one message (str: text, bytes-like: binary), masked."""
        return _wsc_send(self, self.connection_id, message)

    def ws_ping(self, data=b""):
        return _wsc_ping(self, self.connection_id, data)

    def ws_close(self, code=1000, reason=""):
        return _wsc_close(self, self.connection_id, code, reason)

    def on_ws_open(self, conn_id):
        """The server accepted the handshake (worker thread)."""

    def on_ws_message(self, conn_id, message):
        """One whole message: str (text) or bytes (binary)."""

    def on_ws_close(self, conn_id, code, reason):
        """The WebSocket ended (once); the connection then closes."""

    property ws_max_message_size:
        """Largest message received, bytes (default 1 MiB)."""
        def __get__(self):
            return (<hps_httpc_cfg*>self._ctx.family).ws_max_message

        def __set__(self, value):
            _wsc_max_set(self, value)
