# The asyncio bridge (hpsocket.aio): TCP components whose events go to an
# event loop's inbox (_aio.h) instead of to Python handlers on the workers,
# the inbox's drain on the loop, and the transport that asyncio protocols
# talk to.  The workers never take the GIL on this path.  The sugar
# (create_server, create_connection, streams, the server object) is in
# aio.py.

import asyncio as _asyncio


# -- worker side (no GIL) ---------------------------------------------------------

cdef void _aio_register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    if role == ROLE_SERVER:
        HP_Set_FN_Server_OnPrepareListen(listener, _on_prepare_listen)
        HP_Set_FN_Server_OnAccept(listener, _aio_on_accept)
        HP_Set_FN_Server_OnSend(listener, _aio_on_send)
        HP_Set_FN_Server_OnReceive(listener, _aio_on_receive)
        HP_Set_FN_Server_OnClose(listener, _aio_on_close)
    else:
        HP_Set_FN_Agent_OnPrepareConnect(listener, _on_prepare_connect)
        HP_Set_FN_Agent_OnConnect(listener, _aio_on_connect)
        HP_Set_FN_Agent_OnSend(listener, _aio_on_send)
        HP_Set_FN_Agent_OnReceive(listener, _aio_on_receive)
        HP_Set_FN_Agent_OnClose(listener, _aio_on_close)


cdef inline hps_aio_fam* _aio_fam(hps_ctx* ctx) noexcept nogil:
    return <hps_aio_fam*>ctx.family if ctx != NULL else NULL


cdef int _aio_opened(hps_ctx* ctx, HP_CONNID conn_id) noexcept nogil:
    """The connection's state, then OPEN: 0, or -1 (out of memory)."""
    cdef hps_aio_fam* fam = _aio_fam(ctx)
    cdef hps_aio_conn* c
    hps_lock(ctx)
    c = hps_aio_conn_locked(ctx, conn_id, 1)
    hps_unlock(ctx)
    if c == NULL:
        return -1
    return hps_aio_push(fam.inbox, HPS_AIO_OPEN, fam.token, conn_id, NULL, 0, 0, 0)


cdef En_HP_HandleResult _aio_on_accept(void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc = HR_OK
    if ctx == NULL or ctx.family == NULL:
        return HR_IGNORE
    hps_accept_begin(ctx)   # see hps_quiesce_listener
    if __atomic_add_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED) > ctx.max_conns:
        __atomic_add_fetch(&ctx.refused, 1, __ATOMIC_RELAXED)
        rc = HR_ERROR
    else:
        if ctx.no_delay:
            hps_set_nodelay(fd)
        hps_conn_set_fd(ctx, conn_id, fd)
        if _aio_opened(ctx, conn_id) < 0:
            rc = HR_ERROR
            _release_conn(ctx, conn_id)
    if rc == HR_ERROR:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
    hps_accept_end(ctx)
    return rc


cdef En_HP_HandleResult _aio_on_connect(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx == NULL or ctx.family == NULL:
        return HR_IGNORE
    return HR_ERROR if _aio_opened(ctx, conn_id) < 0 else HR_OK


cdef En_HP_HandleResult _aio_on_receive(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx == NULL or ctx.family == NULL:
        return HR_IGNORE
    if ctx.model == MODEL_PACK:
        if hps_aio_received_pack(ctx, sender, conn_id, <const unsigned char*>data, length) < 0:
            return HR_ERROR      # close_error says why (see _aio_on_close)
    elif hps_aio_received(ctx, sender, conn_id, <const unsigned char*>data, length) < 0:
        return HR_ERROR
    return HR_OK


cdef En_HP_HandleResult _aio_on_send(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx != NULL and ctx.family != NULL:
        hps_aio_sent(ctx, sender, conn_id)
    return HR_OK


cdef En_HP_HandleResult _aio_on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef hps_aio_fam* fam
    if ctx == NULL or ctx.family == NULL:
        return HR_IGNORE
    fam = _aio_fam(ctx)
    if ctx.model == MODEL_PACK and op == SO_RECEIVE:
        error = _pack_close_error(ctx, conn_id, error)
    hps_aio_push(fam.inbox, HPS_AIO_CLOSE, fam.token, conn_id, NULL, 0, <int>op, error)
    _release_conn(ctx, conn_id)
    if ctx.role == ROLE_SERVER:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
    return HR_OK


cdef Ops OPS_AIO_SERVER, OPS_AIO_AGENT, OPS_AIO_PACK_SERVER, OPS_AIO_PACK_AGENT


cdef void _aio_ops(Ops* o) noexcept:
    # Sends come from the loop thread, through the library's queue.
    o.native.caps = HPS_CAP_SOCKET_FD
    o.native.family_free = hps_aio_conn_free
    o.native.ctx_family_free = hps_aio_fam_free
    o.events = <PyObject*>_AIO_EVENTS
    o.register = _aio_register


_AIO_EVENTS = ()


cdef void _init_aio_ops() noexcept:
    global OPS_AIO_PACK_SERVER, OPS_AIO_PACK_AGENT
    _fill_server(&OPS_AIO_SERVER)
    OPS_AIO_SERVER.name = b"AioServer"
    OPS_AIO_SERVER.model = MODEL_PUSH
    OPS_AIO_SERVER.create_listener = Create_HP_TcpServerListener
    OPS_AIO_SERVER.create = Create_HP_TcpServer
    OPS_AIO_SERVER.destroy = Destroy_HP_TcpServer
    OPS_AIO_SERVER.destroy_listener = Destroy_HP_TcpServerListener
    _aio_ops(&OPS_AIO_SERVER)
    _fill_agent(&OPS_AIO_AGENT)
    OPS_AIO_AGENT.name = b"AioAgent"
    OPS_AIO_AGENT.model = MODEL_PUSH
    OPS_AIO_AGENT.create_listener = Create_HP_TcpAgentListener
    OPS_AIO_AGENT.create = Create_HP_TcpAgent
    OPS_AIO_AGENT.destroy = Destroy_HP_TcpAgent
    OPS_AIO_AGENT.destroy_listener = Destroy_HP_TcpAgentListener
    _aio_ops(&OPS_AIO_AGENT)
    OPS_AIO_PACK_SERVER = OPS_AIO_SERVER
    OPS_AIO_PACK_SERVER.name = b"AioPackServer"
    OPS_AIO_PACK_SERVER.model = MODEL_PACK
    OPS_AIO_PACK_AGENT = OPS_AIO_AGENT
    OPS_AIO_PACK_AGENT.name = b"AioPackAgent"
    OPS_AIO_PACK_AGENT.model = MODEL_PACK

_init_aio_ops()


# -- loop side --------------------------------------------------------------------

# Takes of one drain before the loop's other callbacks get a turn.
cdef int _DRAIN_ROUNDS = 16


cdef class _Inbox:
    """One event loop's inbox: the eventfd the loop watches, and the
    components whose events it carries (their _AioState by token)."""
    cdef hps_aio_inbox* _in
    cdef readonly object loop
    cdef dict _owners
    cdef unsigned long long _next_token
    cdef readonly unsigned long long wakeups, events
    cdef public object _sink       # benchmarks: gets (conn_id, bytes) of unknown components
    cdef object __weakref__

    def __cinit__(self, loop):
        self._in = hps_aio_inbox_new()
        if self._in == NULL:
            raise OSError(errno, "could not create the inbox's eventfd")
        self.loop = loop
        self._owners = {}
        self._next_token = 1
        loop.add_reader(self._in.efd, self._drain)

    def fileno(self):
        return self._in.efd

    def __dealloc__(self):
        hps_aio_inbox_unref(self._in)

    def close(self):
        """Stop watching the eventfd (the loop is closing)."""
        try:
            self.loop.remove_reader(self._in.efd)
        except Exception:
            pass

    def _drain(self):
        """The eventfd is readable: handle what is queued, again until the
        inbox is empty (or, after _DRAIN_ROUNDS takes, later, so that other
        callbacks of the loop get their turn)."""
        cdef int rounds = 0
        hps_aio_ack(self._in)
        self.wakeups += 1
        while True:
            self._dispatch(hps_aio_take(self._in))
            if hps_aio_idle(self._in):
                return
            rounds += 1
            if rounds >= _DRAIN_ROUNDS:
                self.loop.call_soon(self._drain)   # still armed: no eventfd write meanwhile
                return

    cdef void _dispatch(self, hps_aio_queue* q):
        cdef hps_aio_event* e
        cdef size_t i
        cdef _AioState st
        cdef object owner
        self.events += q.n
        for i in range(q.n):
            e = &q.ev[i]
            owner = self._owners.get(e.token)
            if owner is None:
                if self._sink is not None and e.kind == HPS_AIO_DATA:
                    self._sink(e.id, PyBytes_FromStringAndSize(<const char*>hps_aio_bytes(q, e), e.len))
                continue
            st = <_AioState>owner
            if e.kind == HPS_AIO_DATA:
                st._data(e.id, hps_aio_bytes(q, e), e.len)
            elif e.kind == HPS_AIO_OPEN:
                st._opened(e.id)
            elif e.kind == HPS_AIO_CLOSE:
                st._closed(e.id, e.op, e.error)
            elif e.kind == HPS_AIO_DRAINED:
                st._drained(e.id)

    @property
    def components(self):
        return len(self._owners)


cdef object _report(object loop, str message, object exc, object transport, object protocol):
    """A protocol callback raised: to the loop's exception handler, as
    asyncio's own transports do."""
    ctx = {"message": message, "exception": exc}
    if transport is not None:
        ctx["transport"] = transport
    if protocol is not None:
        ctx["protocol"] = protocol
    loop.call_exception_handler(ctx)


cdef class _AioState:
    """A component's side of the bridge, on the loop: its inbox, the
    transports of its connections, what opens them."""
    cdef Component comp
    cdef _Inbox inbox
    cdef unsigned long long token
    cdef dict transports
    cdef object protocol_factory   # server: one protocol per accepted connection
    cdef object on_empty           # called when the last connection went
    cdef dict pending              # agent: conn_id -> (future, protocol factory)

    cdef void _data(self, HP_CONNID conn_id, const unsigned char* data, size_t n):
        cdef AioTransport t = self.transports.get(conn_id)
        if t is not None:
            t._received(data, n)
        hps_aio_consumed(self.comp._ctx, conn_id, <long>n)

    cdef void _opened(self, HP_CONNID conn_id):
        cdef AioTransport t
        loop = self.inbox.loop
        if self.pending is None:
            try:
                protocol = self.protocol_factory()
            except BaseException as exc:
                _report(loop, "protocol factory failed", exc, None, None)
                _aio_disconnect(self.comp, conn_id)
                return
            t = self._transport(conn_id, protocol)
            t._made()
            return
        entry = self.pending.pop(conn_id, None)
        if entry is None:
            return
        future, factory = entry
        if future.cancelled():
            _aio_disconnect(self.comp, conn_id)
            return
        try:
            protocol = factory()
        except BaseException as exc:
            _aio_disconnect(self.comp, conn_id)
            future.set_exception(exc)
            return
        t = self._transport(conn_id, protocol)
        t._made()
        if not future.done():
            future.set_result((t, protocol))

    cdef void _closed(self, HP_CONNID conn_id, int op, int error):
        cdef AioTransport t = self.transports.pop(conn_id, None)
        if t is not None:
            t._gone(op, error)
        elif self.pending is not None:
            entry = self.pending.pop(conn_id, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(_os_error(error or ECONNREFUSED, "connect failed"))
        if not self.transports and not self.pending and self.on_empty is not None:
            try:
                self.on_empty()
            except Exception as exc:
                _report(self.inbox.loop, "hpsocket.aio: on_empty failed", exc, None, None)

    cdef void _drained(self, HP_CONNID conn_id):
        cdef AioTransport t = self.transports.get(conn_id)
        if t is not None:
            t._drained()

    cdef AioTransport _transport(self, HP_CONNID conn_id, object protocol):
        cdef AioTransport t = AioTransport.__new__(AioTransport)
        t._comp = self.comp
        t._conn_id = conn_id
        t._loop = self.inbox.loop
        t._protocol = protocol
        t._buffered = isinstance(protocol, _asyncio.BufferedProtocol)
        t._high = 64 << 10
        t._low = 16 << 10
        t._extra = {"peername": _peer(self.comp, conn_id, True), "sockname": _peer(self.comp, conn_id, False),
                    "socket": None, "sslcontext": None, "hpsocket.conn_id": conn_id}
        self.transports[conn_id] = t
        return t


cdef int _aio_bind(Component comp, _Inbox inbox, object read_limit, BOOL (*pause)(void*, HP_CONNID, BOOL) noexcept nogil) except -1:
    """Make comp report to inbox (before it starts)."""
    cdef hps_aio_fam* fam
    cdef _AioState st = _AioState.__new__(_AioState)
    cdef long limit = 256 << 10 if read_limit is None else read_limit
    if limit < 1:
        raise ValueError(f"read_limit must be at least 1 byte, not {limit}")
    st.comp = comp
    st.inbox = inbox
    st.transports = {}
    st.token = inbox._next_token
    inbox._next_token += 1
    fam = hps_aio_fam_new(inbox._in, st.token, pause)
    if fam == NULL:
        raise MemoryError()
    fam.read_high = limit
    fam.read_low = limit // 4
    comp._ctx.family = fam
    comp._ctx.direct_ok = 0
    inbox._owners[st.token] = st
    return 0


cdef _AioState _aio_state(Component comp):
    cdef hps_aio_fam* fam = <hps_aio_fam*>comp._ctx.family
    cdef _Inbox inbox
    if fam == NULL:
        raise RuntimeError("not attached to an event loop")
    for inbox_ref in _inboxes:
        inbox = inbox_ref
        if inbox._in == fam.inbox:
            return inbox._owners.get(fam.token)
    return None


cdef void _aio_disconnect(Component comp, HP_CONNID conn_id):
    cdef int gate
    cdef hps_ctx* ctx = comp._ctx
    with nogil:
        gate = hps_gate_enter(ctx)
        if gate:
            comp._ops.disconnect(comp._handle, conn_id, 1)
        hps_gate_leave(ctx, gate)


cdef object _peer(Component comp, HP_CONNID conn_id, bint remote):
    try:
        return _conn_address(comp, conn_id, remote)
    except HPSocketError:
        return None


# Every live inbox, to find a component's state from its context.
_inboxes = weakref.WeakSet()


def _aio_inbox(loop):
    """A new inbox on loop."""
    inbox = _Inbox(loop)
    _inboxes.add(inbox)
    return inbox


def _aio_forget(Component comp):
    """comp stopped and its last event was handled: the inbox lets it go."""
    cdef hps_aio_fam* fam = <hps_aio_fam*>comp._ctx.family
    cdef _Inbox inbox
    if fam == NULL:
        return
    for inbox_ref in list(_inboxes):
        inbox = inbox_ref
        if inbox._in == fam.inbox:
            inbox._owners.pop(fam.token, None)


def _aio_transports(Component comp):
    st = _aio_state(comp)
    return [] if st is None else list((<_AioState>st).transports.values())


def _aio_busy(Component comp):
    """Connections open or being opened."""
    st = _aio_state(comp)
    if st is None:
        return 0
    return len((<_AioState>st).transports) + len((<_AioState>st).pending or ())


def _aio_on_empty(Component comp, hook):
    (<_AioState>_aio_state(comp)).on_empty = hook


def _aio_components(_Inbox inbox):
    """The components reporting to inbox."""
    return [(<_AioState>st).comp for st in inbox._owners.values()]


def _aio_drain(_Inbox inbox):
    """Handle what the inbox holds now (after a stop, before forgetting)."""
    inbox._drain()


cdef class _AioServer(Server):
    """The native server behind hpsocket.aio.create_server: TcpServer's
    options, events to an event loop."""

    _AIO_PACK = False

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_AIO_PACK_SERVER if type(self)._AIO_PACK else &OPS_AIO_SERVER)

    def _attach(self, _Inbox inbox, protocol_factory, read_limit=None):
        _aio_bind(self, inbox, read_limit, HP_Server_PauseReceive)
        st = _aio_state(self)
        (<_AioState>st).protocol_factory = protocol_factory

    def stop_listening(self):
        """Accept no more connections; the open ones go on."""
        with nogil:
            if self._ctx.listen_fd >= 0:
                hps_quiesce_listener(self._ctx, self._ctx.listen_fd, _workers(self), 0)
                self._ctx.listen_fd = -1


cdef class _AioPackServer(_AioServer):
    """_AioServer in the pack model: one data_received per whole message."""

    _AIO_PACK = True
    _OPTIONS = Server._OPTIONS | _PACK_OPTIONS
    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)


cdef class _AioAgent(Agent):
    """The native agent behind hpsocket.aio.create_connection."""

    _AIO_PACK = False

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_AIO_PACK_AGENT if type(self)._AIO_PACK else &OPS_AIO_AGENT)

    def _attach(self, _Inbox inbox, read_limit=None):
        _aio_bind(self, inbox, read_limit, HP_Agent_PauseReceive)
        (<_AioState>_aio_state(self)).pending = {}

    def _connect(self, host, port, protocol_factory, future):
        """Start connecting; future gets (transport, protocol) or the error."""
        conn_id = self.connect(host, port)
        (<_AioState>_aio_state(self)).pending[conn_id] = (future, protocol_factory)
        return conn_id


cdef object _os_error(int error, str what):
    # OSError picks the subclass: ConnectionRefusedError, ConnectionResetError...
    return OSError(error, f"{what}: {os.strerror(error)}")


# -- the transport ------------------------------------------------------------------

# asyncio logs a warning after this many writes to a lost connection.
cdef int _LOST_WRITES_WARNING = 5


cdef class AioTransport:
    """An asyncio transport over one HP-Socket connection (hpsocket.aio).
    Like asyncio's own, it is used from its event loop's thread only."""
    cdef Component _comp
    cdef HP_CONNID _conn_id
    cdef object _loop
    cdef object _protocol
    cdef dict _extra
    cdef bint _buffered
    cdef bint _closing       # close() or abort() was called, or the connection is lost
    cdef bint _aborting      # abort(): disconnect now, whatever waits to be sent
    cdef bint _lost
    cdef bint _paused        # the protocol paused reading
    cdef bint _write_paused  # pause_writing() was called and resume_writing() not yet
    cdef bint _draining      # a DRAINED event was asked for
    cdef list _held          # bytes that arrived while reading was paused
    cdef int _high, _low
    cdef int _lost_writes

    def __repr__(self):
        state = "closed" if self._lost else ("closing" if self._closing else "open")
        return f"<hpsocket.aio transport conn_id={self._conn_id} {state}>"

    # -- events, from the inbox's drain ------------------------------------------

    cdef void _made(self):
        try:
            self._protocol.connection_made(self)
        except BaseException as exc:
            self._fatal(exc, "protocol.connection_made() call failed")

    cdef void _received(self, const unsigned char* data, size_t n):
        if self._closing:
            return
        if self._paused or self._held:
            if self._held is None:
                self._held = []
            self._held.append(PyBytes_FromStringAndSize(<const char*>data, n))
            return
        if self._buffered:
            self._feed_buffered(data, n)
            return
        try:
            self._protocol.data_received(PyBytes_FromStringAndSize(<const char*>data, n))
        except BaseException as exc:
            self._fatal(exc, "protocol.data_received() call failed")

    cdef void _feed_buffered(self, const unsigned char* data, size_t n):
        cdef Py_buffer view
        cdef size_t k
        try:
            while n > 0:
                buf = self._protocol.get_buffer(<Py_ssize_t>n)
                PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
                try:
                    if view.len <= 0:
                        raise RuntimeError("get_buffer() returned an empty buffer")
                    k = min(n, <size_t>view.len)
                    memcpy(view.buf, data, k)
                finally:
                    PyBuffer_Release(&view)
                self._protocol.buffer_updated(<Py_ssize_t>k)
                data += k
                n -= k
                if self._closing:
                    return
        except BaseException as exc:
            self._fatal(exc, "protocol.buffer_updated() call failed")

    cdef void _deliver_held(self):
        cdef bytes b
        while self._held and not self._paused and not self._closing:
            b = self._held.pop(0)
            if self._buffered:
                self._feed_buffered(<const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
            else:
                try:
                    self._protocol.data_received(b)
                except BaseException as exc:
                    self._fatal(exc, "protocol.data_received() call failed")

    cdef void _lost_now(self, object exc, bint eof):
        self._lost = True
        self._closing = True
        self._held = None
        try:
            if eof:
                self._protocol.eof_received()
        except BaseException as err:
            _report(self._loop, "protocol.eof_received() call failed", err, self, self._protocol)
        try:
            self._protocol.connection_lost(exc)
        except BaseException as err:
            _report(self._loop, "protocol.connection_lost() call failed", err, self, self._protocol)
        self._protocol = None

    cdef void _gone(self, int op, int error):
        if self._lost:
            return
        if self._held and not self._closing and error == 0:
            # What arrived while paused is still the protocol's, before the EOF.
            self._paused = False
            self._deliver_held()
        if self._closing:
            self._lost_now(None, False)      # our own close() or abort()
        elif error == 0:
            self._lost_now(None, True)       # the peer closed: EOF, then lost
        else:
            self._lost_now(_os_error(error, "connection lost"), False)

    cdef void _drained(self):
        self._draining = False
        if self._closing:
            if not self._lost:
                self._disconnect()
            return
        if self._write_paused:
            self._write_paused = False
            try:
                self._protocol.resume_writing()
            except BaseException as exc:
                _report(self._loop, "protocol.resume_writing() failed", exc, self, self._protocol)

    cdef void _fatal(self, object exc, str message):
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            self.abort()
            raise exc
        _report(self._loop, "Fatal error: " + message, exc, self, self._protocol)
        self.abort()

    cdef void _disconnect(self):
        _aio_disconnect(self._comp, self._conn_id)

    # -- flow control of writes --------------------------------------------------

    cdef int _pending(self):
        cdef int n = 0
        cdef hps_ctx* ctx = self._comp._ctx
        cdef int gate = hps_gate_enter(ctx)
        if gate:
            if not ctx.ops.get_pending(ctx.sender, self._conn_id, &n):
                n = 0
        hps_gate_leave(ctx, gate)
        return n

    cdef int _send(self, WSABUF* bufs, int count, size_t total) except -1:
        """bufs[1:count] out (bufs[0] free for the pack header), straight to
        the socket when it can (hps_aio_send); then the write limit."""
        cdef hps_ctx* ctx = self._comp._ctx
        cdef void* handle = self._comp._handle
        cdef HP_CONNID c = self._conn_id
        cdef uint32_t header
        cdef int gate, rc = 0
        if ctx.model == MODEL_PACK:
            _pack_check(self._comp, <Py_ssize_t>total)
            header = hps_pack_header(ctx.pack_flag, <uint32_t>total)
            bufs[0].buf = <unsigned char*>&header
            bufs[0].len = 4
        else:
            bufs += 1
            count -= 1
        with nogil:
            gate = hps_gate_enter(ctx)
            if gate:
                rc = hps_aio_send(ctx, handle, c, bufs, count)
            hps_gate_leave(ctx, gate)
        if rc == 1:
            self._check_write_limit()
        return 0

    cdef void _check_write_limit(self):
        if self._write_paused or self._closing or self._pending() <= self._high:
            return
        self._write_paused = True
        try:
            self._protocol.pause_writing()
        except BaseException as exc:
            _report(self._loop, "protocol.pause_writing() failed", exc, self, self._protocol)
        self._ask_drain(self._low)

    cdef void _ask_drain(self, int at):
        cdef int rc = hps_aio_want_drain(self._comp._ctx, self._conn_id, at)
        if rc == 0:
            self._draining = True
        elif rc == 1:
            self._drained()      # already there

    # -- asyncio.WriteTransport ----------------------------------------------------

    def write(self, data):
        cdef Py_buffer view
        cdef WSABUF bufs[2]
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._closing:
            if self._lost:
                self._lost_writes += 1
                if self._lost_writes >= _LOST_WRITES_WARNING:
                    _asyncio.log.logger.warning("socket.send() raised exception.")
            return
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len == 0:
                return
            if view.len > INT_MAX:
                raise ValueError("data too large for one write (over 2 GiB)")
            bufs[1].buf = <unsigned char*>view.buf
            bufs[1].len = <unsigned int>view.len
            self._send(bufs, 2, view.len)
        finally:
            PyBuffer_Release(&view)

    def writelines(self, list_of_data):
        """Write several buffers at once (in the pack model: one message)."""
        cdef list items = list(list_of_data)
        cdef Py_ssize_t n = len(items), i, got = 0, total = 0
        cdef Py_buffer* views
        cdef WSABUF* bufs
        for d in items:
            if not isinstance(d, (bytes, bytearray, memoryview)):
                raise TypeError(f"data argument must be a bytes-like object, not {type(d).__name__!r}")
        if self._closing or n == 0:
            return
        if n > HPS_DIRECT_MAX_IOV - 1:
            items = [b"".join(items)]     # one buffer: the socket takes it in one call
            n = 1
        views = <Py_buffer*>PyMem_Malloc(n * sizeof(Py_buffer))
        bufs = <WSABUF*>PyMem_Malloc((n + 1) * sizeof(WSABUF))
        try:
            if views == NULL or bufs == NULL:
                raise MemoryError()
            for i in range(n):
                PyObject_GetBuffer(items[i], &views[i], PyBUF_SIMPLE)
                got += 1
                bufs[i + 1].buf = <unsigned char*>views[i].buf
                bufs[i + 1].len = <unsigned int>views[i].len
                total += views[i].len
            if total > INT_MAX:
                raise ValueError("data too large for one write (over 2 GiB)")
            if total:
                self._send(bufs, <int>n + 1, total)
        finally:
            for i in range(got):
                PyBuffer_Release(&views[i])
            PyMem_Free(views)
            PyMem_Free(bufs)

    def write_eof(self):
        raise NotImplementedError("HP-Socket connections cannot half-close (can_write_eof() is False)")

    def can_write_eof(self):
        return False

    def get_write_buffer_size(self):
        return self._pending() if not self._lost else 0

    def get_write_buffer_limits(self):
        return (self._low, self._high)

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        if high > INT_MAX:
            raise ValueError("high must be below 2 GiB")
        self._high = high
        self._low = low
        if self._write_paused:
            self._ask_drain(self._low)
        else:
            self._check_write_limit()

    # -- asyncio.ReadTransport ------------------------------------------------------

    def is_reading(self):
        return not self._paused and not self._closing

    def pause_reading(self):
        if self._closing or self._paused:
            return
        self._paused = True
        hps_aio_set_paused(self._comp._ctx, self._conn_id, 1)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        hps_aio_set_paused(self._comp._ctx, self._conn_id, 0)
        if self._held:
            self._loop.call_soon(self._resume_held)

    def _resume_held(self):
        self._deliver_held()

    # -- asyncio.BaseTransport ------------------------------------------------------

    def is_closing(self):
        return self._closing

    def close(self):
        """Stop reading; close once what was written has been sent; then
        connection_lost(None)."""
        if self._closing:
            return
        self._closing = True
        self._held = None
        hps_aio_set_paused(self._comp._ctx, self._conn_id, 1)
        self._ask_drain(0)

    def abort(self):
        """Close now, dropping what waits to be sent; then connection_lost(None)."""
        if self._lost:
            return
        self._closing = True
        self._held = None
        self._disconnect()

    def get_extra_info(self, name, default=None):
        return self._extra.get(name, default)

    def set_protocol(self, protocol):
        self._protocol = protocol
        self._buffered = isinstance(protocol, _asyncio.BufferedProtocol)

    def get_protocol(self):
        return self._protocol

    @property
    def conn_id(self):
        return self._conn_id


cdef class _AioPackAgent(_AioAgent):
    """_AioAgent in the pack model."""

    _AIO_PACK = True
    _OPTIONS = Agent._OPTIONS | _PACK_OPTIONS
    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)
