# Component: the handle every class of every family is.  It owns the native
# component and its context (_ctx.h), finds which events the class handles,
# runs the lifecycle (start's bookkeeping, stop, wait), reports the errors of
# event handlers and holds the tunables.  Connection operations are in
# _conn.pxi, receive models in _framing.pxi, roles in _roles.pxi, and each
# family's classes, function tables, events and registration in its own
# file (_tcp.pxi).
#
# Rules for a family (a new _<family>.pxi beside _tcp.pxi, and its header):
#  1. Every C callback starts with hps_lookup(sender) and, through _handled,
#     returns HR_IGNORE without the GIL when the class does not handle the
#     event, the component is gone or the interpreter is exiting.
#  2. Python is entered only between the brackets of _callback.h
#     (hps_conn_call_begin/end for a connection's I/O events, which write
#     what the handler sent; hps_call_begin/end for the others), around one
#     "with gil" block that calls one dispatcher.
#  3. Every dispatcher catches BaseException and returns self._failed(...):
#     on_error, then HR_ERROR, which closes that one connection.
#  4. Per-connection state of the family hangs from hps_conn.family and is
#     freed by its hps_ops.family_free when the record goes (after on_close).
#  5. Bytes leave through hps_send (_send.h).  The family's hps_ops.caps say
#     what applies: HPS_CAP_SOCKET_FD if OnAccept/OnPrepareConnect pass a
#     socket, HPS_CAP_DIRECT_WRITE if replies may be written to it directly.
#  6. Its Ops tables point at its event table ((index, names per role), ...)
#     and its register function; tunable slots it lacks stay NULL.

# Override info of the extension types themselves (immortal).  A Python
# subclass keeps its own in its __dict__, so it lives and dies with the class.
cdef dict _builtin_class_info = {}

# Events whose default method is a family class's own no-op (HttpServer's
# parser events), not Component's: overridden only where a Python subclass
# defines them.  A family adds its names here.
cdef set _quiet_defaults = set()


cdef type _extension_base(type cls):
    """The first extension type (not a Python class) of cls's MRO."""
    for k in cls.__mro__:
        if not ((<type>k).__flags__ & Py_TPFLAGS_HEAPTYPE):
            return k
    return Component


cdef tuple _class_info(type cls, const Ops* ops):
    """(mask, functions) of the events a class overrides, computed once per
    class: functions[EVI_x] is the class's on_x, or None where the method is
    Component's own default, which never takes the GIL (the event is not
    even registered with the library)."""
    info = cls.__dict__.get("_hpsocket_events")
    if info is None:
        info = _builtin_class_info.get(cls)
    if info is not None:
        return info
    cdef unsigned int mask = 0
    cdef type ext = _extension_base(cls)
    fns = [None] * EV_COUNT
    for index, names in <object>ops.events:
        name = names[ops.role]
        if name is None:
            continue
        fn = getattr(cls, name, None)
        default = getattr(ext if name in _quiet_defaults else Component, name, None)
        if fn is not None and fn is not default:
            mask |= 1u << index
            fns[index] = fn
    info = (mask, tuple(fns))
    if cls.__flags__ & Py_TPFLAGS_HEAPTYPE:
        type.__setattr__(cls, "_hpsocket_events", info)
    else:
        _builtin_class_info[cls] = info
    return info


cdef str _event_name(const Ops* ops, int index):
    """The on_* method of event index for this class's family and role."""
    for i, names in <object>ops.events:
        if i == index:
            return names[ops.role] or "on_error"
    return "on_error"


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
    if mask & (EV_RECEIVE | EV_SEND | EV_REQUEST):
        return 1
    return <DWORD>_cpus.usable_cpus()


cdef void _write_unraisable(object exc, object where) noexcept:
    """Report exc through sys.unraisablehook, as "Exception ignored in: where"."""
    cdef object tp = type(exc)
    cdef object tb = getattr(exc, "__traceback__", None)
    Py_INCREF(tp)
    Py_INCREF(exc)
    Py_XINCREF(<PyObject*>tb if tb is not None else NULL)
    PyErr_Restore(<PyObject*>tp, <PyObject*>exc, <PyObject*>tb if tb is not None else NULL)
    PyErr_WriteUnraisable(where)


cdef inline int _workers(Component self) noexcept nogil:
    """The component's worker threads (1 for a client, which has one)."""
    if self._ops.tunables[T_WORKER_THREADS].get == NULL:
        return 1
    return <int>self._ops.tunables[T_WORKER_THREADS].get(self._handle)


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
        mask, self._fns = _class_info(type(self), ops)

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
                if ops.family_stop != NULL and self._ctx != NULL:
                    ops.family_stop(self._ctx)
                if ops.get_state(handle) != SS_STOPPED:
                    if self._ctx != NULL and self._ctx.listen_fd >= 0:
                        hps_quiesce_listener(self._ctx, self._ctx.listen_fd, _workers(self), 1)
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

    # -- errors of event handlers --------------------------------------------

    cdef En_HP_HandleResult _failed(self, int event, object conn_id, object exc) noexcept:
        """An event handler raised: on_error (never raising), then HR_ERROR."""
        try:
            self.on_error(_event_name(self._ops, event), conn_id, exc)
        except BaseException as err:
            _write_unraisable(err, self)
        return HR_ERROR

    # -- lifecycle -------------------------------------------------------------

    cdef int _register_callbacks(self) except -1:
        """Before the native Start: validate, register the callbacks the class
        needs, and keep this object alive while the library may call it."""
        if self._ops.get_state(self._handle) != SS_STOPPED or self._holding_self:
            if self._ops.get_state(self._handle) == SS_STOPPED:
                self._release_running()   # a client that stopped by itself
            else:
                raise HPSocketError(SE_ILLEGAL_STATE, f"{type(self).__name__} is already started")
        with nogil:
            hps_gate_close(self._ctx)   # a client that stopped by itself left it open
        self._ctx.stop_requested = 0
        self._ctx.client_closed = 0
        self._ctx.live_conns = 0
        self._ops.register(self._listener, self._ops.role, self._ops.model, self._ctx.mask, self._ctx.no_delay)
        Py_INCREF(self)
        self._holding_self = True
        self._stopped.clear()
        return 0

    cdef int _after_start(self, BOOL ok) except -1:
        cdef int err = errno
        if ok:
            hps_gate_open(self._ctx)
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
            with nogil:
                hps_gate_close(self._ctx)   # see _ctx.h
                if ops.get_state(handle) != SS_STOPPED:
                    if ops.family_stop != NULL:
                        ops.family_stop(self._ctx)
                    if self._ctx.listen_fd >= 0:
                        hps_quiesce_listener(self._ctx, self._ctx.listen_fd, _workers(self), 1)
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
        if index == T_MARK_SILENCE or index == T_REUSE_ADDRESS or index == T_MULTICAST_LOOP:
            return v != 0
        return v

    cdef int _tunable_set(self, int index, object value) except -1:
        name = TUNABLE_NAMES[index]
        if self._ops.tunables[index].set == NULL:
            raise AttributeError(f"{type(self).__name__} has no {name}")
        if index == T_MARK_SILENCE or index == T_REUSE_ADDRESS or index == T_MULTICAST_LOOP:
            value = 1 if value else 0
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        elif not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"{name} must be in 0..4294967295, not {value}")
        elif value == 0 and index in (T_WORKER_THREADS, T_MAX_CONNECTIONS, T_SOCKET_BUFFER_SIZE,
                                      T_ACCEPT_SOCKET_COUNT, T_LISTEN_QUEUE, T_MAX_DATAGRAM,
                                      T_POST_RECEIVE):
            raise ValueError(f"{name} must be at least 1")
        elif index == T_MAX_DATAGRAM and value > _UDP_MAX_PAYLOAD:
            raise ValueError(f"{name} must be at most {_UDP_MAX_PAYLOAD} (a UDP datagram's payload)")
        elif index == T_MULTICAST_TTL and value > 255:
            raise ValueError(f"{name} must be 0 to 255, not {value}")
        elif index == T_CAST_MODE and value > 1:
            raise ValueError(f"{name} must be CastMode.MULTICAST (0) or CastMode.BROADCAST (1), not {value}")
        self._require_stopped(name)
        self._ops.tunables[index].set(self._handle, <DWORD>value)
        return 0
