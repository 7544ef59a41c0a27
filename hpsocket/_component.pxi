# Component: what all nine classes share.  Role classes (Server, Agent,
# Client) add their start() and role-specific getters; model classes pick the
# native function table and add fetch/peek (pull) or pack settings.

# Override info of the extension types themselves (immortal).  A Python
# subclass keeps its own in its __dict__, so it lives and dies with the class.
cdef dict _builtin_class_info = {}


cdef tuple _class_info(type cls, int role):
    """(mask, {bit: function}) of the events a class overrides, computed once
    per class: an event whose method is Component's own default never takes
    the GIL (it is not even registered with the library)."""
    info = cls.__dict__.get("_hpsocket_events")
    if info is None:
        info = _builtin_class_info.get(cls)
    if info is not None:
        return info
    cdef unsigned int mask = 0
    fns = {}
    for bit, names in _EVENTS:
        name = names[role]
        if name is None:
            continue
        fn = getattr(cls, name, None)
        if fn is not None and fn is not getattr(Component, name):
            mask |= bit
            fns[bit] = fn
    info = (mask, fns)
    if cls.__flags__ & Py_TPFLAGS_HEAPTYPE:
        type.__setattr__(cls, "_hpsocket_events", info)
    else:
        _builtin_class_info[cls] = info
    return info


# Default worker threads of servers and agents (tests/test_workers.py).
#
# A class that runs Python on every received (or sent) piece of data gets one
# worker: its handlers are serialised by the GIL anyway, and a second worker
# only adds GIL hand-offs.  CPython hands the GIL over to a waiting thread
# only after the switch interval (5 ms), while the holder releases it after
# each callback and takes it again for the next one before the waiter has
# woken up; measured on 2 CPUs (python -m hpsocket bench --no-pin, servers
# hpsocket-push:1 and :2), two workers had a p99.9 latency of 4.1 ms against
# 0.3 ms for one, and less throughput.
#
# A class whose data never reaches Python (events not overridden: the native
# side does the work) gets one worker per CPU this process may use: its
# affinity mask and cgroup CPU quota (_cpus.usable_cpus), not os.cpu_count().
# HP-Socket's own default, 2 x CPUs + 2, is never used.
cdef DWORD _default_workers(unsigned int mask) except 0:
    if mask & (EV_RECEIVE | EV_SEND):
        return 1
    return <DWORD>_cpus.usable_cpus()


# Sends release the GIL around the native call: HP-Socket's Send takes the
# connection's send lock, and a worker can hold that lock while it calls back
# into Python (a failed write closes the connection and fires OnClose from
# inside HandleSend), so holding the GIL here deadlocks (tests/stress: send
# from a thread while the peer resets).  hps_send (_send.h) writes
# replies from the connection's own callbacks straight to the socket.
#
# bufs[0] is left empty for the pack model's header (_frame.h): the rest,
# bufs[1:count], is what to send, at most total bytes together.
cdef inline BOOL _native_send(Component self, HP_CONNID conn_id, WSABUF* bufs, int count,
                              size_t total) noexcept:
    cdef BOOL ok
    cdef hps_ctx* ctx = self._ctx
    cdef void* handle = self._handle
    cdef uint32_t header
    if ctx.model == MODEL_PACK:
        header = hps_pack_header(ctx.pack_flag, <uint32_t>total)
        bufs[0].buf = <unsigned char*>&header
        bufs[0].len = 4
    else:
        bufs += 1
        count -= 1
    with nogil:
        ok = hps_send(ctx, handle, conn_id, bufs, count)
    return ok


cdef inline En_HP_HandleResult _result(object r) except *:
    if r is None:
        return HR_OK
    if isinstance(r, int) and 0 <= r <= 2:
        return <En_HP_HandleResult><int>r
    raise TypeError(
        f"event handlers must return None or a hpsocket.HandleResult, not {r!r}")


cdef void _write_unraisable(object exc, object where) noexcept:
    """Report exc through sys.unraisablehook, as "Exception ignored in: where"."""
    cdef object tp = type(exc)
    cdef object tb = getattr(exc, "__traceback__", None)
    Py_INCREF(tp)
    Py_INCREF(exc)
    Py_XINCREF(<PyObject*>tb if tb is not None else NULL)
    PyErr_Restore(<PyObject*>tp, <PyObject*>exc, <PyObject*>tb if tb is not None else NULL)
    PyErr_WriteUnraisable(where)


cdef bytes _host_arg(object host, str what):
    if not isinstance(host, str):
        raise TypeError(f"{what} must be a str, not {type(host).__name__}")
    cdef bytes b = (<str>host).encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"{what} must not contain NUL characters")
    if len(b) == 0:
        raise ValueError(f"{what} must not be empty")
    return b


cdef USHORT _port_arg(object port) except? 0:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port}")
    return <USHORT>port


cdef HP_CONNID _conn_arg(object conn_id) except? 0:
    if not isinstance(conn_id, int) or isinstance(conn_id, bool):
        raise TypeError(f"conn_id must be an int, not {type(conn_id).__name__}")
    if conn_id < 0 or conn_id > <object>ULONG_MAX:
        raise ValueError(f"conn_id out of range: {conn_id}")
    return <HP_CONNID>conn_id


cdef int _get_buffer(object obj, Py_buffer* view, int flags) except -1:
    """The buffer of a contiguous (and, with PyBUF_WRITABLE, writable)
    bytes-like object; TypeError for anything else, as socket.send does."""
    try:
        PyObject_GetBuffer(obj, view, flags)
    except BufferError as exc:
        raise TypeError(f"a contiguous{' writable' if flags & PyBUF_WRITABLE else ''} "
                        f"bytes-like object is required, not {type(obj).__name__} ({exc})") from None
    return 0


cdef str _cstr(const char* s):
    return s.decode("utf-8", "replace") if s != NULL else ""


cdef object _not_connected(object conn_id):
    return HPSocketError(SE_INVALID_PARAM, f"no such connection: {conn_id}", ENOTCONN)


cdef inline bint _direct_writes_possible(const Ops* ops, unsigned int mask) noexcept:
    """Direct writes (_send.h) where the family can make them and the library
    reports nothing about what is sent."""
    return (ops.native.caps & HPS_CAP_DIRECT_WRITE) != 0 and not (mask & EV_SEND)


def _stop_in_thread(Component component):
    """Thread target of a stop() asked for inside an event handler."""
    component._stop_now()


cdef class Component:
    """Base of every hpsocket component.  Not instantiated directly: use one of
    the nine ``Tcp*`` classes (or subclass one)."""

    # Names accepted as constructor keywords; each role class extends this.
    _OPTIONS = frozenset({"no_delay", "direct_writes"})

    def __cinit__(self, *args, **kwargs):
        self._ctx = NULL
        self._listener = NULL
        self._handle = NULL
        self._ops = NULL
        self._holding_self = False
        self._stopped = threading.Event()
        self._stopped.set()
        self._lifecycle = threading.Lock()

    def __init__(self, **options):
        if self._ops == NULL:
            raise TypeError(f"{type(self).__name__} cannot be instantiated; use one of the Tcp* classes")
        allowed = type(self)._OPTIONS
        for name, value in options.items():
            if name not in allowed:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            setattr(self, name, value)

    cdef int _setup(self, const Ops* ops) except -1:
        cdef hps_ctx* ctx
        cdef void* listener
        cdef void* handle
        mask, fns = _class_info(type(self), ops.role)
        self._fn_prepare = fns.get(EV_PREPARE)
        self._fn_accept = fns.get(EV_ACCEPT)
        self._fn_connect = fns.get(EV_CONNECT)
        self._fn_handshake = fns.get(EV_HANDSHAKE)
        self._fn_send = fns.get(EV_SEND)
        self._fn_receive = fns.get(EV_RECEIVE)
        self._fn_close = fns.get(EV_CLOSE)
        self._fn_shutdown = fns.get(EV_SHUTDOWN)
        self._fn_refused = fns.get(EV_REFUSED)

        ctx = hps_ctx_new(&ops.native)
        if ctx == NULL:
            raise MemoryError()
        ctx.role = ops.role
        ctx.model = ops.model
        ctx.pack_max = HPS_PACK_DEFAULT_SIZE
        ctx.mask = mask
        ctx.no_delay = 1
        ctx.direct_ok = _direct_writes_possible(ops, mask)
        self._ctx = ctx
        self._ops = ops
        with nogil:
            listener = ops.create_listener()
            handle = ops.create(listener) if listener != NULL else NULL
        if handle == NULL:
            if listener != NULL:
                ops.destroy_listener(listener)
            raise MemoryError(f"could not create the native {ops.name.decode()}")
        self._listener = listener
        self._handle = handle
        ctx.sender = handle
        if hps_register(handle, ctx) != 0:
            raise RuntimeError("too many hpsocket components alive at once")
        hps_count(&hps_counter_live_native, 1)
        # Borrowed: the running state holds a strong reference, and
        # __dealloc__ clears this before anything else.
        ctx.owner = <PyObject*>self
        if ops.role != ROLE_CLIENT:
            ops.tunables[T_WORKER_THREADS].set(handle, _default_workers(mask))
        if ops.role == ROLE_SERVER:
            ctx.max_conns = ops.tunables[T_MAX_CONNECTIONS].get(handle)
            ops.tunables[T_MAX_CONNECTIONS].set(handle, <DWORD>(ctx.max_conns + _MAX_CONN_HEADROOM))
        return 0

    def __dealloc__(self):
        cdef void* handle = self._handle
        cdef void* listener = self._listener
        cdef const Ops* ops = self._ops
        if self._ctx != NULL:
            self._ctx.owner = NULL
        if handle != NULL:
            with nogil:
                if ops.get_state(handle) != SS_STOPPED:
                    if self._ctx != NULL and self._ctx.listen_fd >= 0:
                        hps_quiesce_listener(self._ctx.listen_fd)
                    ops.stop(handle)
                hps_unregister(handle)
                ops.destroy(handle)
                ops.destroy_listener(listener)
            hps_count(&hps_counter_live_native, -1)
            self._handle = NULL
            self._listener = NULL
        if self._ctx != NULL:
            if self._ctx.client_conn != NULL:
                Py_XDECREF(self._ctx.client_conn.extra)
                hps_conn_free(self._ctx, self._ctx.client_conn)
            hps_ctx_free(self._ctx)
            self._ctx = NULL

    def __repr__(self):
        return f"<{type(self).__name__} {self.state.name.lower()}>"

    # -- events (override these) -------------------------------------------

    def on_prepare_listen(self, listen_fd):
        """Server: the listening socket exists but is not bound yet
        (thread that calls start).  HandleResult.ERROR makes start fail."""

    def on_prepare_connect(self, conn_id, fd):
        """Agent/Client: a socket is about to connect."""

    def on_accept(self, conn_id, client_fd):
        """Server: a connection arrived (worker thread).
        HandleResult.ERROR drops it, and no on_close follows."""

    def on_connect(self, conn_id):
        """Agent/Client: the connection is established."""

    def on_handshake(self, conn_id):
        """The connection is ready for data."""

    def on_send(self, conn_id, data):
        """Data (bytes) left for the peer."""

    def on_receive(self, conn_id, data):
        """Data arrived: bytes (push, pack) or, in the pull model, the number of
        bytes buffered for the connection, to be fetched with fetch()."""

    def on_close(self, conn_id, operation, error_code):
        """The connection closed during ``operation`` (a SocketOperation) with
        the OS error ``error_code`` (0 for a normal close)."""

    def on_shutdown(self):
        """Server/Agent: the component stopped (thread that calls stop)."""

    def on_refused(self, conn_id):
        """Server: a connection arrived while max_connections were open; it
        is closed at once (worker thread).  See refused_connections."""

    def on_error(self, event, conn_id, exc):
        """An event handler raised ``exc``.  The default reports it through
        sys.unraisablehook; the event then returns HandleResult.ERROR, which
        closes the connection concerned."""
        _write_unraisable(exc, getattr(self, event, self))

    # -- dispatchers (with the GIL, from the trampolines) --------------------

    cdef En_HP_HandleResult _failed(self, int event, object conn_id, object exc) noexcept:
        cdef str name = "on_error"
        try:
            for bit, names in _EVENTS:
                if bit == event:
                    name = names[self._ops.role]
            self.on_error(name, conn_id, exc)
        except BaseException as err:
            _write_unraisable(err, self)
        return HR_ERROR

    cdef En_HP_HandleResult _ev_prepare(self, HP_CONNID conn_id, UINT_PTR fd) noexcept:
        try:
            if self._ops.role == ROLE_SERVER:
                return _result(self._fn_prepare(self, fd))
            return _result(self._fn_prepare(self, conn_id, fd))
        except BaseException as exc:
            return self._failed(EV_PREPARE, conn_id if self._ops.role != ROLE_SERVER else None, exc)

    cdef En_HP_HandleResult _ev_accept(self, HP_CONNID conn_id, UINT_PTR fd) noexcept:
        try:
            return _result(self._fn_accept(self, conn_id, fd))
        except BaseException as exc:
            return self._failed(EV_ACCEPT, conn_id, exc)

    cdef En_HP_HandleResult _ev_connect(self, HP_CONNID conn_id) noexcept:
        try:
            return _result(self._fn_connect(self, conn_id))
        except BaseException as exc:
            return self._failed(EV_CONNECT, conn_id, exc)

    cdef En_HP_HandleResult _ev_handshake(self, HP_CONNID conn_id) noexcept:
        try:
            return _result(self._fn_handshake(self, conn_id))
        except BaseException as exc:
            return self._failed(EV_HANDSHAKE, conn_id, exc)

    cdef En_HP_HandleResult _ev_send(self, HP_CONNID conn_id, const BYTE* data, int length) noexcept:
        try:
            return _result(self._fn_send(self, conn_id, PyBytes_FromStringAndSize(<const char*>data, length)))
        except BaseException as exc:
            return self._failed(EV_SEND, conn_id, exc)

    cdef En_HP_HandleResult _ev_receive(self, HP_CONNID conn_id, const BYTE* data, int length) noexcept:
        cdef object r
        try:
            r = self._fn_receive(self, conn_id, PyBytes_FromStringAndSize(<const char*>data, length))
            if r is None:
                return HR_OK
            return _result(r)
        except BaseException as exc:
            return self._failed(EV_RECEIVE, conn_id, exc)

    cdef En_HP_HandleResult _ev_pack_receive(self, HP_CONNID conn_id, const unsigned char* data,
                                             size_t n, size_t* pos, int* err) noexcept:
        """Every whole packet of data[*pos:n] to on_receive, moving *pos past
        each; *err gets hps_pack_next's result where it stops (a negative
        errno for a bad header)."""
        cdef const unsigned char* body
        cdef uint32_t length
        cdef En_HP_HandleResult rc = HR_OK
        cdef object r
        while True:
            err[0] = hps_pack_next(data, n, pos, self._ctx.pack_flag, self._ctx.pack_max, &body, &length)
            if err[0] <= 0:
                return rc
            try:
                r = self._fn_receive(self, conn_id, PyBytes_FromStringAndSize(<const char*>body, length))
                rc = HR_OK if r is None else _result(r)
            except BaseException as exc:
                rc = self._failed(EV_RECEIVE, conn_id, exc)
            if rc == HR_ERROR:
                return rc

    cdef En_HP_HandleResult _ev_pull_receive(self, HP_CONNID conn_id, int length) noexcept:
        cdef object r
        try:
            r = self._fn_receive(self, conn_id, length)
            if r is None:
                return HR_OK
            return _result(r)
        except BaseException as exc:
            return self._failed(EV_RECEIVE, conn_id, exc)

    cdef En_HP_HandleResult _ev_close(self, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept:
        try:
            return _result(self._fn_close(self, conn_id, _operation(op), error))
        except BaseException as exc:
            return self._failed(EV_CLOSE, conn_id, exc)

    cdef En_HP_HandleResult _ev_refused(self, HP_CONNID conn_id) noexcept:
        try:
            self._fn_refused(self, conn_id)
        except BaseException as exc:
            self._failed(EV_REFUSED, conn_id, exc)
        return HR_ERROR

    cdef En_HP_HandleResult _ev_shutdown(self) noexcept:
        try:
            return _result(self._fn_shutdown(self))
        except BaseException as exc:
            return self._failed(EV_SHUTDOWN, None, exc)

    # -- lifecycle -------------------------------------------------------------

    cdef int _register_callbacks(self) except -1:
        """Before the native Start: validate, register the callbacks the class
        needs, and keep this object alive while the library may call it."""
        if self._ops.get_state(self._handle) != SS_STOPPED or self._holding_self:
            if self._ops.get_state(self._handle) == SS_STOPPED:
                self._release_running()   # a client that stopped by itself
            else:
                raise HPSocketError(SE_ILLEGAL_STATE, f"{type(self).__name__} is already started")
        self._ctx.stop_requested = 0
        self._ctx.client_closed = 0
        self._ctx.live_conns = 0
        _register(self._listener, self._ops.role, self._ops.model, self._ctx.mask, self._ctx.no_delay)
        Py_INCREF(self)
        self._holding_self = True
        self._stopped.clear()
        return 0

    cdef int _after_start(self, BOOL ok) except -1:
        cdef int err = errno
        if ok:
            _live.add(self)
            return 0
        self._release_running()
        raise HPSocketError(self._ops.get_last_error(self._handle),
                            f"{type(self).__name__}.start failed: {_cstr(self._ops.get_last_error_desc(self._handle))}",
                            err or None)

    cdef int _release_running(self) except -1:
        """After the native component stopped: drop the self-reference."""
        _live.discard(self)
        self._stopped.set()
        if self._holding_self:
            self._holding_self = False
            Py_DECREF(self)
        return 0

    def stop(self):
        """Stop the component: close every connection, wait for the worker
        threads, then return.  Does nothing on a stopped component.

        Called from an event handler (a worker thread, or inside start/stop)
        it cannot wait for the workers, one of which is the caller: it then
        starts the stop on a helper thread and returns at once; wait() from
        another thread joins it."""
        if hps_in_callback():
            if not self._ctx.stop_requested:
                self._ctx.stop_requested = 1
                threading.Thread(target=_stop_in_thread, args=(self,), name="hpsocket-stop").start()
            return
        self._stop_now()

    cdef int _stop_now(self) except -1:
        cdef void* handle = self._handle
        cdef const Ops* ops = self._ops
        with self._lifecycle:
            if ops.get_state(handle) != SS_STOPPED:
                with nogil:
                    if self._ctx.listen_fd >= 0:
                        hps_quiesce_listener(self._ctx.listen_fd)
                        self._ctx.listen_fd = -1
                    ops.stop(handle)
                    # A component that is still starting or stopping in another
                    # thread is waited for.
                    while ops.get_state(handle) != SS_STOPPED:
                        usleep(1000)
            self._release_running()
        return 0

    def wait(self, timeout=None):
        """Block until the component is stopped; True if it is, False on
        timeout.  Ctrl-C interrupts it (KeyboardInterrupt)."""
        if hps_in_callback():
            raise RuntimeError("wait() from an event handler would wait for itself")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._ops.get_state(self._handle) == SS_STOPPED and not self._holding_self:
                return True
            if self._ops.get_state(self._handle) == SS_STOPPED:
                # Stopped by itself (a client whose connection closed).
                self._stop_now()
                return True
            if deadline is None:
                step = 0.1
            else:
                step = min(0.1, deadline - time.monotonic())
                if step <= 0:
                    return False
            self._stopped.wait(step)

    def serve_forever(self):
        """Wait until the component stops; Ctrl-C stops it and returns."""
        try:
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def state(self):
        """The ServiceState."""
        return ServiceState(self._ops.get_state(self._handle))

    @property
    def last_error(self):
        """HP-Socket's last error code (SocketError) for this component."""
        return SocketError(self._ops.get_last_error(self._handle))

    @property
    def last_error_description(self):
        return _cstr(self._ops.get_last_error_desc(self._handle))

    property no_delay:
        """Set TCP_NODELAY on every accepted or connected socket (default
        True).  HP-Socket 5.2 never sets it; without it, replies the library
        writes in two parts wait for the peer's delayed ACK (~40 ms)."""
        def __get__(self):
            return bool(self._ctx.no_delay)

        def __set__(self, value):
            self._require_stopped("no_delay")
            self._ctx.no_delay = 1 if value else 0

    property direct_writes:
        """Whether what a connection's own event handler sends is written
        straight to its socket when the handler returns (default True),
        instead of going through HP-Socket's send queue, which costs an
        eventfd wake-up and epoll re-arming per reply.  Always False for a
        class that handles on_send, which reports what the library wrote."""
        def __get__(self):
            return bool(self._ctx.direct_ok)

        def __set__(self, value):
            self._require_stopped("direct_writes")
            self._ctx.direct_ok = (1 if value else 0) and _direct_writes_possible(self._ops, self._ctx.mask)

    # -- shared implementation of the connection methods ----------------------

    cdef int _require_stopped(self, str what) except -1:
        if self._ops.get_state(self._handle) != SS_STOPPED:
            raise HPSocketError(SE_ILLEGAL_STATE, f"{what} can only be changed while stopped")
        return 0

    cdef object _tunable_get(self, int index):
        cdef DWORD v
        if self._ops.tunables[index].get == NULL:   # a family without it
            raise AttributeError(f"{type(self).__name__} has no {TUNABLE_NAMES[index]}")
        v = self._ops.tunables[index].get(self._handle)
        if index == T_MARK_SILENCE or index == T_REUSE_ADDRESS:
            return v != 0
        return v

    cdef int _tunable_set(self, int index, object value) except -1:
        name = TUNABLE_NAMES[index]
        if self._ops.tunables[index].set == NULL:
            raise AttributeError(f"{type(self).__name__} has no {name}")
        if index == T_MARK_SILENCE or index == T_REUSE_ADDRESS:
            value = 1 if value else 0
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        elif not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"{name} must be in 0..4294967295, not {value}")
        elif value == 0 and index in (T_WORKER_THREADS, T_MAX_CONNECTIONS, T_SOCKET_BUFFER_SIZE,
                                      T_ACCEPT_SOCKET_COUNT, T_LISTEN_QUEUE):
            raise ValueError(f"{name} must be at least 1")
        self._require_stopped(name)
        self._ops.tunables[index].set(self._handle, <DWORD>value)
        return 0

    cdef int _pack_check(self, Py_ssize_t length) except -1:
        if length <= 0:
            raise ValueError("a pack must have a body of at least one byte")
        if length > self._ctx.pack_max:
            raise ValueError(f"a pack body of {length} bytes exceeds max_pack_size ({self._ctx.pack_max})")
        return 0

    cdef int _send_size_ok(self, Py_ssize_t n) except -1:
        """1 if n bytes may go out in one send, 0 if there is nothing to send
        (an empty push/pull send); raises for an empty or oversize pack body
        and for over 2 GiB."""
        if self._ops.model == MODEL_PACK:
            self._pack_check(n)
        elif n == 0:
            return 0
        if n > INT_MAX:
            raise ValueError("data too large for one send (over 2 GiB)")
        return 1

    cdef int _send(self, HP_CONNID conn_id, object data) except -1:
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef BOOL ok
        cdef WSABUF bufs[2]
        if type(data) is bytes:    # the common case, without the buffer protocol
            n = PyBytes_GET_SIZE(data)
            if not self._send_size_ok(n):
                return 1
            bufs[1].buf = <unsigned char*>PyBytes_AS_STRING(data)
            bufs[1].len = <unsigned int>n
            return _native_send(self, conn_id, bufs, 2, n)
        _get_buffer(data, &view, PyBUF_SIMPLE)
        try:
            if not self._send_size_ok(view.len):
                return 1
            bufs[1].buf = <unsigned char*>view.buf
            bufs[1].len = <unsigned int>view.len
            ok = _native_send(self, conn_id, bufs, 2, view.len)
        finally:
            PyBuffer_Release(&view)
        return ok

    cdef int _send_packets(self, HP_CONNID conn_id, object buffers) except -1:
        cdef list items = list(buffers)
        cdef Py_ssize_t count = len(items), i, got = 0, total = 0
        cdef Py_buffer* views
        cdef WSABUF* bufs
        cdef BOOL ok = 0
        if count == 0:
            raise ValueError("send_packets needs at least one buffer")
        if count >= INT_MAX:
            raise ValueError("too many buffers")
        views = <Py_buffer*>PyMem_Malloc(count * sizeof(Py_buffer))
        bufs = <WSABUF*>PyMem_Malloc((count + 1) * sizeof(WSABUF))   # see _native_send
        try:
            if views == NULL or bufs == NULL:
                raise MemoryError()
            for i in range(count):
                _get_buffer(items[i], &views[i], PyBUF_SIMPLE)
                got += 1
                if views[i].len > 0xFFFFFFFF:
                    raise ValueError("buffer too large")
                bufs[i + 1].len = <unsigned int>views[i].len
                bufs[i + 1].buf = <unsigned char*>views[i].buf
                total += views[i].len
            if not self._send_size_ok(total):
                return 1
            ok = _native_send(self, conn_id, bufs, <int>count + 1, total)
        finally:
            for i in range(got):
                PyBuffer_Release(&views[i])
            PyMem_Free(views)
            PyMem_Free(bufs)
        return ok

    cdef int _send_file(self, HP_CONNID conn_id, object path, object head, object tail) except -1:
        cdef bytes fname = os.fsencode(path)
        cdef Py_buffer hv, tv
        cdef WSABUF hb, tb
        cdef WSABUF* hp = NULL
        cdef WSABUF* tp = NULL
        cdef bint have_h = False, have_t = False
        cdef BOOL ok
        cdef const char* c_fname
        cdef Py_ssize_t total
        if b"\0" in fname:
            raise ValueError("path must not contain NUL characters")
        st = os.stat(fname)    # FileNotFoundError and friends, clearly
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        if st.st_size == 0:
            raise ValueError(f"{path!r} is empty")
        try:
            if head is not None:
                _get_buffer(head, &hv, PyBUF_SIMPLE)
                have_h = True
            if tail is not None:
                _get_buffer(tail, &tv, PyBUF_SIMPLE)
                have_t = True
            if self._ops.model == MODEL_PACK:
                # One packet: its header goes in front of the head.
                total = st.st_size + (hv.len if have_h else 0) + (tv.len if have_t else 0)
                self._pack_check(total)
                head = (hps_pack_header(self._ctx.pack_flag, <uint32_t>total).to_bytes(4, sys.byteorder)
                        + ((<char*>hv.buf)[:hv.len] if have_h else b""))
                if have_h:
                    PyBuffer_Release(&hv)
                _get_buffer(head, &hv, PyBUF_SIMPLE)
                have_h = True
            if have_h:
                hb.len = <unsigned int>hv.len
                hb.buf = <unsigned char*>hv.buf
                hp = &hb
            if have_t:
                tb.len = <unsigned int>tv.len
                tb.buf = <unsigned char*>tv.buf
                tp = &tb
            c_fname = fname
            with nogil:
                if not hps_is_owner(self._handle, self._ctx.role, conn_id):
                    hps_direct_forbid(self._ctx, conn_id)   # see _send.h
                hps_out_flush_for(self._ctx, self._handle, conn_id)
                ok = self._ops.send_small_file(self._handle, conn_id, c_fname, hp, tp)
        finally:
            if have_h:
                PyBuffer_Release(&hv)
            if have_t:
                PyBuffer_Release(&tv)
        return ok

    cdef object _address(self, HP_CONNID conn_id, bint remote):
        cdef char buf[80]
        cdef int n = sizeof(buf)
        cdef USHORT port = 0
        cdef BOOL ok
        if remote:
            ok = self._ops.get_remote_address(self._handle, conn_id, buf, &n, &port)
        else:
            ok = self._ops.get_local_address(self._handle, conn_id, buf, &n, &port)
        if not ok:
            raise _not_connected(conn_id)
        buf[sizeof(buf) - 1] = 0
        return (buf[:strlen(buf)].decode("utf-8", "replace"), port)

    cdef object _pending(self, HP_CONNID conn_id):
        cdef int n = 0
        if not self._ops.native.get_pending(self._handle, conn_id, &n):
            raise _not_connected(conn_id)
        return n

    cdef int _pause(self, HP_CONNID conn_id, bint paused) except -1:
        cdef BOOL ok
        with nogil:
            ok = self._ops.pause_receive(self._handle, conn_id, paused)
        return ok

    cdef int _set_extra(self, HP_CONNID conn_id, object obj) except -1:
        cdef hps_conn* rec
        cdef PyObject* old = NULL
        cdef PyObject* new = NULL if obj is None else <PyObject*>obj
        cdef int known = 0
        cdef En_HP_ServiceState state = self._ops.get_state(self._handle)
        # STARTING too: connections accepted while start() runs are live.
        if state != SS_STARTED and state != SS_STARTING:
            raise _not_connected(conn_id)
        Py_XINCREF(new)
        hps_lock(self._ctx)
        rec = hps_conn_get(self._ctx, conn_id, new != NULL, &known)
        if rec != NULL:
            old = rec.extra
            rec.extra = new
        hps_unlock(self._ctx)
        Py_XDECREF(old)
        if rec == NULL and new != NULL:
            Py_XDECREF(new)
            if not known:
                raise _not_connected(conn_id)
            raise MemoryError()
        if not known:
            raise _not_connected(conn_id)
        return 0

    cdef object _get_extra(self, HP_CONNID conn_id, object default):
        cdef hps_conn* rec
        cdef object result = default
        cdef int known = 0
        hps_lock(self._ctx)
        rec = hps_conn_get(self._ctx, conn_id, 0, &known)
        if rec != NULL and rec.extra != NULL:
            result = <object>rec.extra
        hps_unlock(self._ctx)
        return result

    cdef object _fetch(self, HP_CONNID conn_id, Py_ssize_t n, bint peek):
        cdef bytes out
        cdef En_HP_FetchResult rc
        if n < 0:
            raise ValueError(f"length must be >= 0, not {n}")
        if n > INT_MAX:
            raise ValueError(f"length too large: {n}")
        if n == 0:
            return b""
        out = PyBytes_FromStringAndSize(NULL, n)
        rc = self._fetch_raw(conn_id, <BYTE*>PyBytes_AS_STRING(out), <int>n, peek)
        if rc == FR_OK:
            return out
        if rc == FR_LENGTH_TOO_LONG:
            return None
        raise _not_connected(conn_id)

    cdef int _fetch_into(self, HP_CONNID conn_id, object buffer, bint peek) except -1:
        cdef Py_buffer view
        cdef En_HP_FetchResult rc
        _get_buffer(buffer, &view, PyBUF_WRITABLE)
        try:
            if view.len > INT_MAX:
                raise ValueError("buffer too large")
            if view.len == 0:
                return 1
            rc = self._fetch_raw(conn_id, <BYTE*>view.buf, <int>view.len, peek)
        finally:
            PyBuffer_Release(&view)
        if rc == FR_OK:
            return 1
        if rc == FR_LENGTH_TOO_LONG:
            return 0
        raise _not_connected(conn_id)

    cdef En_HP_FetchResult _fetch_raw(self, HP_CONNID conn_id, BYTE* buf, int n, bint peek) noexcept:
        """Fetch or peek from the connection's receive buffer (hpsocket's
        own: see hps_buf_append), under the context's lock, which no holder
        keeps while waiting for the GIL, so the GIL stays held."""
        cdef hps_conn* rec
        cdef int known = 0
        cdef En_HP_FetchResult rc = FR_DATA_NOT_FOUND
        hps_lock(self._ctx)
        rec = hps_conn_get(self._ctx, conn_id, 0, &known)
        if known and (self._ops.role != ROLE_CLIENT or self._ops.get_state(self._handle) == SS_STARTED):
            if rec != NULL and hps_buf_take(&rec.inbuf, <unsigned char*>buf, n, peek):
                rc = FR_OK
            else:
                rc = FR_LENGTH_TOO_LONG   # fewer than n bytes buffered
        hps_unlock(self._ctx)
        return rc
