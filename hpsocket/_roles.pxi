# The three roles: a Server accepts connections, an Agent makes many
# outgoing ones, a Client makes one.  Connection-addressed methods of Server
# and Agent take a conn_id; the Client's take none.  Tunables are indices
# into Ops.tunables; a family leaves the slots it lacks NULL, and those are
# refused (Component._tunable_get).

# Indices into Ops.tunables.
cdef enum:
    T_WORKER_THREADS = 0
    T_MAX_CONNECTIONS = 1
    T_SOCKET_BUFFER_SIZE = 2
    T_KEEP_ALIVE_TIME = 3
    T_KEEP_ALIVE_INTERVAL = 4
    T_ACCEPT_SOCKET_COUNT = 5
    T_LISTEN_QUEUE = 6
    T_FREE_SOCKET_POOL = 7
    T_FREE_SOCKET_HOLD = 8
    T_FREE_SOCKET_LOCK_TIME = 9
    T_FREE_BUFFER_POOL = 10
    T_FREE_BUFFER_HOLD = 11
    T_MARK_SILENCE = 12
    T_REUSE_ADDRESS = 13
    T_MAX_DATAGRAM = 14
    T_DETECT_ATTEMPTS = 15
    T_DETECT_INTERVAL = 16
    T_POST_RECEIVE = 17
    T_CAST_MODE = 18
    T_MULTICAST_TTL = 19
    T_MULTICAST_LOOP = 20
    T_COUNT = 21

# Python names of the tunables, in index order.
TUNABLE_NAMES = (
    "worker_threads", "max_connections", "socket_buffer_size", "keep_alive_time",
    "keep_alive_interval", "accept_socket_count", "listen_queue", "free_socket_pool",
    "free_socket_hold", "free_socket_lock_time", "free_buffer_pool", "free_buffer_hold",
    "mark_silence", "reuse_address", "max_datagram_size", "detect_attempts", "detect_interval",
    "post_receive_count", "cast_mode", "multicast_ttl", "multicast_loop",
)

# The library's own MaxConnectionCount is kept this far above the user's
# max_connections, so that hpsocket (which tells) refuses before it (which
# drops silently) would.
cdef long _MAX_CONN_HEADROOM = 256

def _tunable_names(*indices):
    return frozenset([TUNABLE_NAMES[i] for i in indices])


def _tunable_property(int index, str doc):
    def fget(Component self):
        return self._tunable_get(index)

    def fset(Component self, value):
        self._tunable_set(index, value)

    return property(fget, fset, None, doc)


cdef class _Connections(Component):
    """Methods shared by Server and Agent, which address connections by id."""

    def send(self, conn_id, data):
        """Queue ``data`` (any contiguous bytes-like object; copied before
        returning) for the connection.  False if the connection is unknown
        or closed.  In the pack model it is one packet: an empty or larger
        than max_pack_size body raises ValueError."""
        return bool(_conn_send(self, _conn_arg(conn_id), data))

    def send_packets(self, conn_id, buffers):
        """Send several buffers in one call (scatter-gather); one packet in
        the pack model."""
        return bool(_conn_send_packets(self, _conn_arg(conn_id), buffers))

    def send_file(self, conn_id, path, head=None, tail=None):
        """Send a small file's contents (HP-Socket's SendSmallFile),
        optionally between ``head`` and ``tail`` bytes."""
        return bool(_conn_send_file(self, _conn_arg(conn_id), path, head, tail))

    def disconnect(self, conn_id, force=True):
        """Close the connection (on_close follows on a worker thread).
        False if it is unknown.  force=False only half-closes (shuts down
        this side's sending), as HP-Socket 5.2 does."""
        cdef HP_CONNID c = _conn_arg(conn_id)
        cdef BOOL f = bool(force)
        cdef BOOL ok = 0
        cdef int rc, gate
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                hps_out_flush_for(self._ctx, self._handle, c)   # replies first
                rc = hps_disconnect(self._ctx, c, f)
                if rc < 0:
                    ok = self._ops.disconnect(self._handle, c, f)
                else:
                    ok = rc
            hps_gate_leave(self._ctx, gate)
        return bool(ok)

    def remote_address(self, conn_id):
        """The peer's (host, port)."""
        return _conn_address(self, _conn_arg(conn_id), True)

    def local_address(self, conn_id):
        """This end's (host, port) of the connection."""
        return _conn_address(self, _conn_arg(conn_id), False)

    def pending_data_length(self, conn_id):
        """Bytes queued for sending and not yet sent."""
        return _conn_pending(self, _conn_arg(conn_id))

    def pause_receive(self, conn_id, paused=True):
        """Stop (or resume) reading from the connection.  False if unknown."""
        return bool(_conn_pause(self, _conn_arg(conn_id), bool(paused)))

    def is_receive_paused(self, conn_id):
        cdef BOOL paused = 0
        cdef HP_CONNID c = _conn_arg(conn_id)
        cdef BOOL ok = 0
        cdef int gate = hps_gate_enter(self._ctx)
        if gate:
            ok = self._ops.is_paused(self._handle, c, &paused)
        hps_gate_leave(self._ctx, gate)
        if not ok:
            raise _not_connected(conn_id)
        return bool(paused)

    def connect_period(self, conn_id):
        """Milliseconds since the connection was established."""
        cdef DWORD period = 0
        cdef HP_CONNID c = _conn_arg(conn_id)
        cdef BOOL ok = 0
        cdef int gate = hps_gate_enter(self._ctx)
        if gate:
            ok = self._ops.get_connect_period(self._handle, c, &period)
        hps_gate_leave(self._ctx, gate)
        if not ok:
            raise _not_connected(conn_id)
        return period

    def silence_period(self, conn_id):
        """Milliseconds since the connection last received data (needs
        mark_silence=True)."""
        cdef DWORD period = 0
        cdef HP_CONNID c = _conn_arg(conn_id)
        cdef BOOL ok = 0
        cdef int gate
        if not self._tunable_get(T_MARK_SILENCE):
            raise HPSocketError(SE_ILLEGAL_STATE, "silence_period needs mark_silence=True")
        gate = hps_gate_enter(self._ctx)
        if gate:
            ok = self._ops.get_silence_period(self._handle, c, &period)
        hps_gate_leave(self._ctx, gate)
        if not ok:
            raise _not_connected(conn_id)
        return period

    def disconnect_long_connections(self, period_ms, force=True):
        """Disconnect every connection older than period_ms milliseconds."""
        cdef DWORD p = _period_arg(period_ms)
        cdef BOOL f = bool(force)
        cdef BOOL ok = 0
        cdef int gate
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                ok = self._ops.disconnect_long(self._handle, p, f)
            hps_gate_leave(self._ctx, gate)
        return bool(ok)

    def disconnect_silence_connections(self, period_ms, force=True):
        """Disconnect every connection silent for period_ms milliseconds
        (needs mark_silence=True)."""
        cdef DWORD p = _period_arg(period_ms)
        cdef BOOL f = bool(force)
        cdef BOOL ok = 0
        cdef int gate
        if not self._tunable_get(T_MARK_SILENCE):
            raise HPSocketError(SE_ILLEGAL_STATE, "disconnect_silence_connections needs mark_silence=True")
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                ok = self._ops.disconnect_silence(self._handle, p, f)
            hps_gate_leave(self._ctx, gate)
        return bool(ok)

    def set_extra(self, conn_id, obj):
        """Attach a Python object to the connection; it is released when
        the connection closes (after on_close).  None removes it."""
        _conn_set_extra(self, _conn_arg(conn_id), obj)

    def get_extra(self, conn_id, default=None):
        """The object attached with set_extra, or ``default``."""
        return _conn_get_extra(self, _conn_arg(conn_id), default)


cdef class Server(_Connections):
    """A TCP server: ``start(host, port)`` listens; each accepted connection
    is reported through the on_* events on HP-Socket's worker threads."""

    _OPTIONS = Component._OPTIONS | _tunable_names(*range(T_MARK_SILENCE + 1))

    def start(self, host="0.0.0.0", port=0):
        """Bind and listen (port 0: the OS picks; see listen_address).
        Raises HPSocketError (e.g. errno EADDRINUSE) on failure."""
        cdef bytes h = _host_arg(host, "host")
        cdef USHORT p = _port_arg(port)
        cdef const char* ch = h
        cdef BOOL ok
        with self._lifecycle:
            self._register_callbacks()
            with nogil:
                ok = HP_Server_Start(self._handle, ch, p)
            self._after_start(ok)

    @property
    def listen_address(self):
        """The (host, port) the server listens on."""
        cdef char buf[80]
        cdef int n = sizeof(buf)
        cdef USHORT port = 0
        if not HP_Server_GetListenAddress(self._handle, buf, &n, &port):
            raise HPSocketError(SE_ILLEGAL_STATE, "the server is not listening")
        buf[sizeof(buf) - 1] = 0
        return (buf[:strlen(buf)].decode("utf-8", "replace"), port)

    @property
    def connection_count(self):
        return HP_Server_GetConnectionCount(self._handle)

    property max_connections:
        """Open connections allowed (default 10000).  A connection beyond it
        is closed at once; on_refused tells and refused_connections counts
        it.  (The library itself would drop it silently: its own limit is
        kept a little above this one.)"""
        def __get__(self):
            return self._ctx.max_conns

        def __set__(self, value):
            self._tunable_set(T_MAX_CONNECTIONS, value)
            self._ops.tunables[T_MAX_CONNECTIONS].set(self._handle, <DWORD>min(value + _MAX_CONN_HEADROOM, 0xFFFFFFFF))
            self._ctx.max_conns = value

    @property
    def refused_connections(self):
        """Connections closed at once because max_connections were open,
        since the server was created."""
        return __atomic_load_n(&self._ctx.refused, __ATOMIC_RELAXED)

    @property
    def connection_ids(self):
        """The ids of the live connections."""
        return _all_ids(self, HP_Server_GetAllConnectionIDs)

    worker_threads = _tunable_property(T_WORKER_THREADS, "Worker threads (default: 1 when the class handles on_receive or on_send, else one per usable CPU; see hpsocket.usable_cpus).")
    socket_buffer_size = _tunable_property(T_SOCKET_BUFFER_SIZE, "Receive buffer per read, bytes (default 4096).")
    keep_alive_time = _tunable_property(T_KEEP_ALIVE_TIME, "TCP keep-alive idle time, ms (0 disables).")
    keep_alive_interval = _tunable_property(T_KEEP_ALIVE_INTERVAL, "TCP keep-alive probe interval, ms.")
    accept_socket_count = _tunable_property(T_ACCEPT_SOCKET_COUNT, "Accepts per round.")
    listen_queue = _tunable_property(T_LISTEN_QUEUE, "Backlog of the listening socket.")
    free_socket_pool = _tunable_property(T_FREE_SOCKET_POOL, "Socket objects kept for reuse.")
    free_socket_hold = _tunable_property(T_FREE_SOCKET_HOLD, "Socket objects held before freeing.")
    free_socket_lock_time = _tunable_property(T_FREE_SOCKET_LOCK_TIME, "ms before a closed socket object is reused.")
    free_buffer_pool = _tunable_property(T_FREE_BUFFER_POOL, "Buffers kept for reuse.")
    free_buffer_hold = _tunable_property(T_FREE_BUFFER_HOLD, "Buffers held before freeing.")
    mark_silence = _tunable_property(T_MARK_SILENCE, "Track silent connections.")


cdef class Agent(_Connections):
    """A TCP agent: many outgoing connections, ``connect(host, port)`` each."""

    _OPTIONS = Component._OPTIONS | _tunable_names(
        T_WORKER_THREADS, T_MAX_CONNECTIONS, T_SOCKET_BUFFER_SIZE, T_KEEP_ALIVE_TIME,
        T_KEEP_ALIVE_INTERVAL, T_FREE_SOCKET_POOL, T_FREE_SOCKET_HOLD, T_FREE_SOCKET_LOCK_TIME,
        T_FREE_BUFFER_POOL, T_FREE_BUFFER_HOLD, T_MARK_SILENCE, T_REUSE_ADDRESS)

    def start(self, bind_address=None, async_connect=True):
        """Start the worker threads.  ``bind_address``: local address for
        outgoing connections.  With async_connect=False, connect() blocks
        until the connection is made."""
        cdef bytes b = _host_arg(bind_address, "bind_address") if bind_address is not None else None
        cdef const char* cb = NULL
        cdef BOOL a = bool(async_connect)
        cdef BOOL ok
        if b is not None:
            cb = b
        with self._lifecycle:
            self._register_callbacks()
            with nogil:
                ok = HP_Agent_Start(self._handle, cb, a)
            self._after_start(ok)

    def connect(self, host, port):
        """Open a connection; returns its id.  Raises HPSocketError if it
        cannot even be attempted (or, synchronous, if it fails)."""
        cdef bytes h = _host_arg(host, "host")
        cdef USHORT p = _port_arg(port)
        cdef const char* ch = h
        cdef HP_CONNID conn_id = 0
        cdef BOOL ok
        cdef int err
        if HP_Agent_GetState(self._handle) != SS_STARTED:
            raise HPSocketError(SE_ILLEGAL_STATE, f"connect: the {type(self).__name__} is not started")
        with nogil:
            ok = HP_Agent_Connect(self._handle, ch, p, &conn_id)
            err = errno
        if not ok:
            raise HPSocketError(HP_Agent_GetLastError(self._handle),
                                f"connect to {host}:{port} failed: {_cstr(HP_Agent_GetLastErrorDesc(self._handle))}",
                                err or None)
        return conn_id

    @property
    def connection_count(self):
        return HP_Agent_GetConnectionCount(self._handle)

    @property
    def connection_ids(self):
        return _all_ids(self, HP_Agent_GetAllConnectionIDs)

    worker_threads = _tunable_property(T_WORKER_THREADS, "Worker threads (default: 1 when the class handles on_receive or on_send, else one per usable CPU; see hpsocket.usable_cpus).")
    max_connections = _tunable_property(T_MAX_CONNECTIONS, "Connection limit (default 10000).")
    socket_buffer_size = _tunable_property(T_SOCKET_BUFFER_SIZE, "Receive buffer per read, bytes.")
    keep_alive_time = _tunable_property(T_KEEP_ALIVE_TIME, "TCP keep-alive idle time, ms (0 disables).")
    keep_alive_interval = _tunable_property(T_KEEP_ALIVE_INTERVAL, "TCP keep-alive probe interval, ms.")
    free_socket_pool = _tunable_property(T_FREE_SOCKET_POOL, "Socket objects kept for reuse.")
    free_socket_hold = _tunable_property(T_FREE_SOCKET_HOLD, "Socket objects held before freeing.")
    free_socket_lock_time = _tunable_property(T_FREE_SOCKET_LOCK_TIME, "ms before a closed socket object is reused.")
    free_buffer_pool = _tunable_property(T_FREE_BUFFER_POOL, "Buffers kept for reuse.")
    free_buffer_hold = _tunable_property(T_FREE_BUFFER_HOLD, "Buffers held before freeing.")
    mark_silence = _tunable_property(T_MARK_SILENCE, "Track silent connections.")
    reuse_address = _tunable_property(T_REUSE_ADDRESS, "SO_REUSEADDR on outgoing sockets.")


ctypedef BOOL (*_get_ids_fn)(void* handle, HP_CONNID* ids, DWORD* count) noexcept nogil


cdef list _all_ids(Component self, _get_ids_fn fn):
    cdef int gate = hps_gate_enter(self._ctx)
    if not gate:
        return []
    try:
        return _all_ids_inside(self._handle, fn)
    finally:
        hps_gate_leave(self._ctx, gate)


cdef list _all_ids_inside(void* handle, _get_ids_fn fn):
    cdef DWORD count = 0
    cdef HP_CONNID* ids = NULL
    cdef list result = []
    cdef DWORD i
    for _ in range(100):
        fn(handle, NULL, &count)
        if count == 0:
            return []
        count += 16   # room for connections that arrive meanwhile
        ids = <HP_CONNID*>PyMem_Realloc(ids, count * sizeof(HP_CONNID))
        if ids == NULL:
            raise MemoryError()
        if fn(handle, ids, &count):
            result = [ids[i] for i in range(count)]
            PyMem_Free(ids)
            return result
    PyMem_Free(ids)
    raise HPSocketError(SE_ILLEGAL_STATE, "the connection list kept changing")


cdef class Client(Component):
    """A TCP client: one connection, made by ``start(host, port)``.  Methods
    that would name a connection take none.  When the connection closes the
    client is stopped; start() may be called again."""

    _OPTIONS = Component._OPTIONS | _tunable_names(
        T_SOCKET_BUFFER_SIZE, T_KEEP_ALIVE_TIME, T_KEEP_ALIVE_INTERVAL, T_FREE_BUFFER_POOL,
        T_FREE_BUFFER_HOLD)

    def start(self, host, port, async_connect=False, bind_address=None):
        """Connect to (host, port).  Synchronous by default: a failed
        connection raises HPSocketError.  With async_connect=True it returns
        at once and on_connect / on_close tell the outcome."""
        cdef bytes h = _host_arg(host, "host")
        cdef USHORT p = _port_arg(port)
        cdef bytes b = _host_arg(bind_address, "bind_address") if bind_address is not None else None
        cdef const char* ch = h
        cdef const char* cb = NULL
        cdef BOOL a = bool(async_connect)
        cdef BOOL ok
        if b is not None:
            cb = b
        with self._lifecycle:
            self._register_callbacks()
            with nogil:
                if cb == NULL:
                    ok = HP_Client_Start(self._handle, ch, p, a)
                else:
                    ok = HP_Client_StartWithBindAddress(self._handle, ch, p, a, cb)
            self._after_start(ok)

    @property
    def connection_id(self):
        return HP_Client_GetConnectionID(self._handle)

    def send(self, data):
        """Queue ``data`` (any contiguous bytes-like object) for the server.
        False if not connected."""
        return bool(_conn_send(self, 0, data))

    def send_packets(self, buffers):
        return bool(_conn_send_packets(self, 0, buffers))

    def send_file(self, path, head=None, tail=None):
        return bool(_conn_send_file(self, 0, path, head, tail))

    def remote_address(self):
        """The (host, port) the client connected to."""
        return _conn_address(self, 0, True)

    def local_address(self):
        return _conn_address(self, 0, False)

    def pending_data_length(self):
        return _conn_pending(self, 0)

    def pause_receive(self, paused=True):
        return bool(_conn_pause(self, 0, bool(paused)))

    def is_receive_paused(self):
        cdef BOOL paused = 0
        cdef BOOL ok = 0
        cdef int gate = hps_gate_enter(self._ctx)
        if gate:
            ok = self._ops.is_paused(self._handle, 0, &paused)
        hps_gate_leave(self._ctx, gate)
        if not ok:
            raise _not_connected(self.connection_id)
        return bool(paused)

    def set_extra(self, obj):
        """Attach a Python object to the connection (released when it closes)."""
        _conn_set_extra(self, 0, obj)

    def get_extra(self, default=None):
        return _conn_get_extra(self, 0, default)

    socket_buffer_size = _tunable_property(T_SOCKET_BUFFER_SIZE, "Receive buffer per read, bytes.")
    keep_alive_time = _tunable_property(T_KEEP_ALIVE_TIME, "TCP keep-alive idle time, ms (0 disables).")
    keep_alive_interval = _tunable_property(T_KEEP_ALIVE_INTERVAL, "TCP keep-alive probe interval, ms.")
    free_buffer_pool = _tunable_property(T_FREE_BUFFER_POOL, "Buffers kept for reuse.")
    free_buffer_hold = _tunable_property(T_FREE_BUFFER_HOLD, "Buffers held before freeing.")
