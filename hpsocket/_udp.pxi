# The UDP family: UdpServer, UdpClient and UdpCast, on the library's UDP
# components through the shared Server and Client functions, with safe
# defaults for plain UDP peers (facts: ../shared/asyncio-udp-facts.md, B1-B3):
#
# - The library's "detection" is off by default: in 5.2.2 only zero-length
#   datagrams count as signs of life, so a plain peer's "connection" would be
#   dropped and renumbered every 90-120 s (server), or the client closed with
#   ECONNRESET; and a failed heartbeat send ends the process (exit 70).  A
#   server instead forgets peers silent for idle_timeout (a sweeper thread).
# - Every receive is one whole datagram (MODEL_DATAGRAM); a send is one
#   datagram, checked against max_datagram_size (the library would drop a
#   larger one silently) and refused when empty (the library's heartbeat).
# - OnAccept passes the peer's sockaddr, not a socket: the family has no
#   HPS_CAP_SOCKET_FD, so nothing treats it as one, and on_accept gets the
#   peer's (host, port).

_UDP_MAX_PAYLOAD = 65507

# (event index, method name per role: server, agent, client).
_UDP_EVENTS = (
    (EVI_PREPARE, ("on_prepare_listen", None, "on_prepare_connect")),
    (EVI_ACCEPT, ("on_accept", None, None)),
    (EVI_CONNECT, (None, None, "on_connect")),
    (EVI_HANDSHAKE, ("on_handshake", None, "on_handshake")),
    (EVI_SEND, ("on_send", None, "on_send")),
    (EVI_RECEIVE, ("on_receive", None, "on_receive")),
    (EVI_CLOSE, ("on_close", None, "on_close")),
    (EVI_SHUTDOWN, ("on_shutdown", None, None)),
    (EVI_REFUSED, ("on_refused", None, None)),
)


cdef int _datagram_check(Component self, Py_ssize_t n) except -1:
    cdef DWORD most
    if n == 0:
        raise ValueError("an empty datagram cannot be sent (HP-Socket takes it for a heartbeat)")
    most = self._ops.tunables[T_MAX_DATAGRAM].get(self._handle)
    if n > most:
        raise ValueError(f"a {n}-byte datagram is over max_datagram_size ({most})")
    return 0


cdef void _udp_register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    if role == ROLE_SERVER:
        # Not _on_prepare_listen: the UDP socket is no listener to quiesce.
        if mask & EV_PREPARE:
            HP_Set_FN_Server_OnPrepareListen(listener, _udp_on_prepare_listen)
        HP_Set_FN_Server_OnAccept(listener, _on_accept)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Server_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Server_OnSend(listener, _on_send)
        if mask & EV_RECEIVE:
            HP_Set_FN_Server_OnReceive(listener, _on_receive)
        HP_Set_FN_Server_OnClose(listener, _on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_Server_OnShutdown(listener, _on_shutdown)
    else:
        if mask & EV_PREPARE:
            HP_Set_FN_Client_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_Client_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Client_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Client_OnSend(listener, _on_send)
        if mask & EV_RECEIVE:
            HP_Set_FN_Client_OnReceive(listener, _on_receive)
        HP_Set_FN_Client_OnClose(listener, _on_close)


cdef En_HP_HandleResult _udp_on_prepare_listen(void* sender, UINT_PTR fd) noexcept nogil:
    cdef void* saved_component
    cdef En_HP_HandleResult rc
    cdef hps_ctx* ctx = _handled(sender, EV_PREPARE)
    if ctx == NULL:
        return HR_IGNORE
    saved_component = hps_call_begin(sender)
    with gil:
        rc = _ev_prepare(<Component><object>ctx.owner, 0, fd)
    hps_call_end(saved_component)
    return rc


# -- native function tables --------------------------------------------------

cdef DWORD _cast_get_mode(void* h) noexcept nogil:
    return <DWORD>HP_UdpCast_GetCastMode(h)


cdef void _cast_set_mode(void* h, DWORD v) noexcept nogil:
    HP_UdpCast_SetCastMode(h, <En_HP_CastMode>v)


cdef DWORD _cast_get_ttl(void* h) noexcept nogil:
    return <DWORD>HP_UdpCast_GetMultiCastTtl(h)


cdef void _cast_set_ttl(void* h, DWORD v) noexcept nogil:
    HP_UdpCast_SetMultiCastTtl(h, <int>v)


cdef DWORD _cast_get_loop(void* h) noexcept nogil:
    return HP_UdpCast_IsMultiCastLoop(h)


cdef void _cast_set_loop(void* h, DWORD v) noexcept nogil:
    HP_UdpCast_SetMultiCastLoop(h, v != 0)


cdef DWORD _cast_get_reuse(void* h) noexcept nogil:
    return HP_UdpCast_IsReuseAddress(h)


cdef void _cast_set_reuse(void* h, DWORD v) noexcept nogil:
    HP_UdpCast_SetReuseAddress(h, v != 0)


cdef BOOL _cast_get_remote(void* h, HP_CONNID c, TCHAR* buf, int* n, USHORT* port) noexcept nogil:
    # The sender of the datagram being handled (the library keeps the last).
    return HP_UdpCast_GetRemoteAddress(h, buf, n, port)


cdef Ops OPS_UDP_SERVER, OPS_UDP_CLIENT, OPS_UDP_CAST


cdef void _udp_ops(Ops* o, bytes name) noexcept:
    o.native.caps = 0           # no socket per connection, no direct writes
    o.events = <PyObject*>_UDP_EVENTS
    o.register = _udp_register
    o.model = MODEL_DATAGRAM
    o.name = name
    # TCP-only tunables are refused (AttributeError) for UDP.
    o.send_small_file = NULL
    o.tunables[T_SOCKET_BUFFER_SIZE].get = NULL
    o.tunables[T_SOCKET_BUFFER_SIZE].set = NULL
    o.tunables[T_KEEP_ALIVE_TIME].get = NULL
    o.tunables[T_KEEP_ALIVE_TIME].set = NULL
    o.tunables[T_KEEP_ALIVE_INTERVAL].get = NULL
    o.tunables[T_KEEP_ALIVE_INTERVAL].set = NULL
    o.tunables[T_ACCEPT_SOCKET_COUNT].get = NULL
    o.tunables[T_ACCEPT_SOCKET_COUNT].set = NULL
    o.tunables[T_LISTEN_QUEUE].get = NULL
    o.tunables[T_LISTEN_QUEUE].set = NULL


cdef void _init_udp_ops() noexcept:
    global OPS_UDP_SERVER, OPS_UDP_CLIENT, OPS_UDP_CAST
    _fill_server(&OPS_UDP_SERVER)
    _udp_ops(&OPS_UDP_SERVER, b"UdpServer")
    OPS_UDP_SERVER.pause_receive = NULL      # unsupported by the library's UDP server
    OPS_UDP_SERVER.create_listener = Create_HP_UdpServerListener
    OPS_UDP_SERVER.create = Create_HP_UdpServer
    OPS_UDP_SERVER.destroy = Destroy_HP_UdpServer
    OPS_UDP_SERVER.destroy_listener = Destroy_HP_UdpServerListener
    OPS_UDP_SERVER.tunables[T_MAX_DATAGRAM].get = HP_UdpServer_GetMaxDatagramSize
    OPS_UDP_SERVER.tunables[T_MAX_DATAGRAM].set = HP_UdpServer_SetMaxDatagramSize
    OPS_UDP_SERVER.tunables[T_DETECT_ATTEMPTS].get = HP_UdpServer_GetDetectAttempts
    OPS_UDP_SERVER.tunables[T_DETECT_ATTEMPTS].set = HP_UdpServer_SetDetectAttempts
    OPS_UDP_SERVER.tunables[T_DETECT_INTERVAL].get = HP_UdpServer_GetDetectInterval
    OPS_UDP_SERVER.tunables[T_DETECT_INTERVAL].set = HP_UdpServer_SetDetectInterval
    OPS_UDP_SERVER.tunables[T_POST_RECEIVE].get = HP_UdpServer_GetPostReceiveCount
    OPS_UDP_SERVER.tunables[T_POST_RECEIVE].set = HP_UdpServer_SetPostReceiveCount

    _fill_client(&OPS_UDP_CLIENT)
    _udp_ops(&OPS_UDP_CLIENT, b"UdpClient")
    OPS_UDP_CLIENT.create_listener = Create_HP_UdpClientListener
    OPS_UDP_CLIENT.create = Create_HP_UdpClient
    OPS_UDP_CLIENT.destroy = Destroy_HP_UdpClient
    OPS_UDP_CLIENT.destroy_listener = Destroy_HP_UdpClientListener
    OPS_UDP_CLIENT.tunables[T_MAX_DATAGRAM].get = HP_UdpClient_GetMaxDatagramSize
    OPS_UDP_CLIENT.tunables[T_MAX_DATAGRAM].set = HP_UdpClient_SetMaxDatagramSize
    OPS_UDP_CLIENT.tunables[T_DETECT_ATTEMPTS].get = HP_UdpClient_GetDetectAttempts
    OPS_UDP_CLIENT.tunables[T_DETECT_ATTEMPTS].set = HP_UdpClient_SetDetectAttempts
    OPS_UDP_CLIENT.tunables[T_DETECT_INTERVAL].get = HP_UdpClient_GetDetectInterval
    OPS_UDP_CLIENT.tunables[T_DETECT_INTERVAL].set = HP_UdpClient_SetDetectInterval

    _fill_client(&OPS_UDP_CAST)
    _udp_ops(&OPS_UDP_CAST, b"UdpCast")
    OPS_UDP_CAST.get_remote_address = _cast_get_remote
    OPS_UDP_CAST.create_listener = Create_HP_UdpCastListener
    OPS_UDP_CAST.create = Create_HP_UdpCast
    OPS_UDP_CAST.destroy = Destroy_HP_UdpCast
    OPS_UDP_CAST.destroy_listener = Destroy_HP_UdpCastListener
    OPS_UDP_CAST.tunables[T_MAX_DATAGRAM].get = HP_UdpCast_GetMaxDatagramSize
    OPS_UDP_CAST.tunables[T_MAX_DATAGRAM].set = HP_UdpCast_SetMaxDatagramSize
    OPS_UDP_CAST.tunables[T_CAST_MODE].get = _cast_get_mode
    OPS_UDP_CAST.tunables[T_CAST_MODE].set = _cast_set_mode
    OPS_UDP_CAST.tunables[T_MULTICAST_TTL].get = _cast_get_ttl
    OPS_UDP_CAST.tunables[T_MULTICAST_TTL].set = _cast_set_ttl
    OPS_UDP_CAST.tunables[T_MULTICAST_LOOP].get = _cast_get_loop
    OPS_UDP_CAST.tunables[T_MULTICAST_LOOP].set = _cast_set_loop
    OPS_UDP_CAST.tunables[T_REUSE_ADDRESS].get = _cast_get_reuse
    OPS_UDP_CAST.tunables[T_REUSE_ADDRESS].set = _cast_set_reuse


_init_udp_ops()


# -- classes -------------------------------------------------------------------

_UDP_COMMON = _tunable_names(T_MAX_DATAGRAM)


cdef class UdpServer(Server):
    """A UDP server: every peer address is a "connection" with an id.
    ``on_accept(conn_id, address)`` at a new peer's first datagram,
    ``on_receive(conn_id, data)`` per datagram, ``on_close`` when it is
    forgotten: after ``idle_timeout`` seconds of silence (default 60; None:
    never), by ``disconnect``, or at stop.  ``send(conn_id, data)`` sends
    one datagram (1 to max_datagram_size bytes, else ValueError).  The
    library's heartbeat detection is off by default (``detect_attempts``
    0): plain UDP peers never send its zero-length heartbeats.  One worker
    thread by default: with more, the library may report one new peer twice."""

    _OPTIONS = Component._OPTIONS | _UDP_COMMON | _tunable_names(
        T_WORKER_THREADS, T_MAX_CONNECTIONS, T_FREE_SOCKET_POOL, T_FREE_SOCKET_HOLD,
        T_FREE_SOCKET_LOCK_TIME, T_FREE_BUFFER_POOL, T_FREE_BUFFER_HOLD, T_MARK_SILENCE,
        T_DETECT_ATTEMPTS, T_DETECT_INTERVAL, T_POST_RECEIVE) | frozenset({"idle_timeout"})

    cdef object _idle_timeout
    cdef object _sweeper
    cdef object _sweeping

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_UDP_SERVER)
        self._ctx.no_delay = 0
        self._ops.tunables[T_DETECT_ATTEMPTS].set(self._handle, 0)
        self._ops.tunables[T_WORKER_THREADS].set(self._handle, 1)
        self._idle_timeout = 60.0
        self._sweeper = None
        self._sweeping = threading.Event()

    property idle_timeout:
        """Seconds of silence after which a peer is forgotten (on_close);
        None: never (then max_connections peers fill the table for good)."""
        def __get__(self):
            return self._idle_timeout

        def __set__(self, value):
            if value is not None:
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise TypeError(f"idle_timeout must be a number or None, not {type(value).__name__}")
                if not 0.01 <= value <= 86400 * 365:
                    raise ValueError(f"idle_timeout must be 0.01 s to a year, not {value}")
                value = float(value)
            self._require_stopped("idle_timeout")
            self._idle_timeout = value

    def start(self, host="0.0.0.0", port=0):
        """Bind the UDP socket (port 0: the OS picks; see listen_address)."""
        Server.start(self, host, port)
        if self._idle_timeout is not None:
            self._sweeping.clear()
            self._sweeper = threading.Thread(target=_udp_sweep, args=(self, self._idle_timeout, self._sweeping),
                                             name="hpsocket-udp-sweeper", daemon=True)
            self._sweeper.start()

    def stop(self):
        sweeper, self._sweeper = self._sweeper, None
        self._sweeping.set()
        if sweeper is not None and sweeper is not threading.current_thread():
            sweeper.join(10)
        Component.stop(self)

    def pause_receive(self, conn_id, paused=True):
        raise NotImplementedError("HP-Socket's UDP server cannot pause one peer")

    def send_file(self, conn_id, path, head=None, tail=None):
        raise NotImplementedError("send_file is for TCP")

    max_datagram_size = _tunable_property(T_MAX_DATAGRAM, "Largest datagram sent or received, bytes (default 1472); larger arrivals are dropped by the library.")
    detect_attempts = _tunable_property(T_DETECT_ATTEMPTS, "The library's heartbeat detection: missed intervals before a peer is dropped (default 0: off).")
    detect_interval = _tunable_property(T_DETECT_INTERVAL, "The library's heartbeat interval, seconds (5.2.2's unit; default 30).")
    post_receive_count = _tunable_property(T_POST_RECEIVE, "Events per epoll_wait of the library's workers (default 64).")


def _udp_sweep(UdpServer server, double idle, stop):
    """Forget peers silent for `idle` seconds, checking every idle/4."""
    cdef DWORD period = <DWORD>max(1, idle * 1000)
    while not stop.wait(max(0.005, idle / 4)):
        try:
            server.disconnect_silence_connections(period, True)
        except HPSocketError:
            pass            # stopping


cdef class UdpClient(Client):
    """A UDP client: ``start(host, port)`` connects a UDP socket to the
    server (nothing is sent: "connected" means nothing until the peer
    answers); ``send(data)`` is one datagram, ``on_receive(conn_id, data)``
    one per datagram.  Heartbeat detection is off by default
    (``detect_attempts`` 0): on with a plain UDP server, the library would
    close the client with ECONNRESET unless the server echoes its
    zero-length probes, and a failed probe send would end the process."""

    _OPTIONS = Component._OPTIONS | _UDP_COMMON | _tunable_names(
        T_FREE_BUFFER_POOL, T_FREE_BUFFER_HOLD, T_DETECT_ATTEMPTS, T_DETECT_INTERVAL)

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_UDP_CLIENT)
        self._ctx.no_delay = 0
        self._ops.tunables[T_DETECT_ATTEMPTS].set(self._handle, 0)

    def send_file(self, path, head=None, tail=None):
        raise NotImplementedError("send_file is for TCP")

    max_datagram_size = _tunable_property(T_MAX_DATAGRAM, "Largest datagram sent or received, bytes (default 1472).")
    detect_attempts = _tunable_property(T_DETECT_ATTEMPTS, "The library's heartbeat detection: missed probes before the client closes (default 0: off).")
    detect_interval = _tunable_property(T_DETECT_INTERVAL, "Seconds between the library's zero-length probes (default 30).")


cdef class UdpCast(Client):
    """Multicast or broadcast: ``start(group_or_broadcast_address, port,
    bind_address=None)`` joins the group (multicast) or enables broadcast
    and binds the port; ``send(data)`` sends one datagram to the group;
    ``on_receive(conn_id, data)`` gets every datagram, empty ones included,
    and ``remote_address()`` inside it is that datagram's sender."""

    _OPTIONS = Component._OPTIONS | _UDP_COMMON | _tunable_names(
        T_FREE_BUFFER_POOL, T_FREE_BUFFER_HOLD, T_CAST_MODE, T_MULTICAST_TTL, T_MULTICAST_LOOP,
        T_REUSE_ADDRESS)

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_UDP_CAST)
        self._ctx.no_delay = 0

    def send_file(self, path, head=None, tail=None):
        raise NotImplementedError("send_file is for TCP")

    def pause_receive(self, paused=True):
        raise NotImplementedError("UdpCast cannot pause receiving")

    property cast_mode:
        """CastMode.MULTICAST (default) or CastMode.BROADCAST."""
        def __get__(self):
            return CastMode(self._tunable_get(T_CAST_MODE))

        def __set__(self, value):
            self._tunable_set(T_CAST_MODE, int(CastMode(value)))

    max_datagram_size = _tunable_property(T_MAX_DATAGRAM, "Largest datagram sent or received, bytes (default 1472).")
    multicast_ttl = _tunable_property(T_MULTICAST_TTL, "IP_MULTICAST_TTL, 0 to 255 (default 1).")
    multicast_loop = _tunable_property(T_MULTICAST_LOOP, "Receive our own multicast datagrams (default False).")
    reuse_address = _tunable_property(T_REUSE_ADDRESS, "SO_REUSEADDR, for several receivers of one group and port on a host (default False).")
