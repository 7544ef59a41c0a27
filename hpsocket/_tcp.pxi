# The TCP family: the nine Tcp* classes (a role with a receive model), their
# native function tables, their events and their registration with the
# library.  Server and Agent functions already take a connection id; the
# Client's are adapted to the same shape (the id is ignored) so that one
# implementation of each method serves all roles.

# (event index, method name per role: server, agent, client).
_TCP_EVENTS = (
    (EVI_PREPARE, ("on_prepare_listen", "on_prepare_connect", "on_prepare_connect")),
    (EVI_ACCEPT, ("on_accept", None, None)),
    (EVI_CONNECT, (None, "on_connect", "on_connect")),
    (EVI_HANDSHAKE, ("on_handshake", "on_handshake", "on_handshake")),
    (EVI_SEND, ("on_send", "on_send", "on_send")),
    (EVI_RECEIVE, ("on_receive", "on_receive", "on_receive")),
    (EVI_CLOSE, ("on_close", "on_close", "on_close")),
    (EVI_SHUTDOWN, ("on_shutdown", "on_shutdown", None)),
    (EVI_REFUSED, ("on_refused", None, None)),
)


# -- registration ------------------------------------------------------------
# Only what is needed is registered: an unregistered event costs the library
# nothing at all.  Accept/prepare-connect stay for TCP_NODELAY, receive for the
# pull model's buffer and the pack model's framing, close for releasing connection records, prepare-
# listen to learn the listening socket (see hps_quiesce_listener).


cdef void _tcp_register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    if role == ROLE_SERVER:
        HP_Set_FN_Server_OnPrepareListen(listener, _on_prepare_listen)
        HP_Set_FN_Server_OnAccept(listener, _on_accept)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Server_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Server_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Server_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Server_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Server_OnReceive(listener, _on_receive)
        HP_Set_FN_Server_OnClose(listener, _on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_Server_OnShutdown(listener, _on_shutdown)
    elif role == ROLE_AGENT:
        HP_Set_FN_Agent_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_Agent_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Agent_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Agent_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Agent_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Agent_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Agent_OnReceive(listener, _on_receive)
        HP_Set_FN_Agent_OnClose(listener, _on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_Agent_OnShutdown(listener, _on_shutdown)
    else:
        if (mask & EV_PREPARE) or no_delay:
            HP_Set_FN_Client_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_Client_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Client_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Client_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Client_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Client_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Client_OnReceive(listener, _on_receive)
        HP_Set_FN_Client_OnClose(listener, _on_close)


# -- native function tables --------------------------------------------------

cdef DWORD _server_get_mark_silence(void* h) noexcept nogil:
    return HP_Server_IsMarkSilence(h)


cdef void _server_set_mark_silence(void* h, DWORD v) noexcept nogil:
    HP_Server_SetMarkSilence(h, v != 0)


cdef DWORD _agent_get_mark_silence(void* h) noexcept nogil:
    return HP_Agent_IsMarkSilence(h)


cdef void _agent_set_mark_silence(void* h, DWORD v) noexcept nogil:
    HP_Agent_SetMarkSilence(h, v != 0)


cdef DWORD _agent_get_reuse_address(void* h) noexcept nogil:
    return HP_TcpAgent_IsReuseAddress(h)


cdef void _agent_set_reuse_address(void* h, DWORD v) noexcept nogil:
    HP_TcpAgent_SetReuseAddress(h, v != 0)


cdef BOOL _client_send_packets(void* h, HP_CONNID c, const WSABUF* b, int n) noexcept nogil:
    return HP_Client_SendPackets(h, b, n)


cdef BOOL _client_send_small_file(void* h, HP_CONNID c, LPCTSTR f, LPWSABUF hd, LPWSABUF tl) noexcept nogil:
    return HP_TcpClient_SendSmallFile(h, f, hd, tl)


cdef BOOL _client_get_local(void* h, HP_CONNID c, TCHAR* buf, int* n, USHORT* port) noexcept nogil:
    return HP_Client_GetLocalAddress(h, buf, n, port)


cdef BOOL _client_get_remote(void* h, HP_CONNID c, TCHAR* buf, int* n, USHORT* port) noexcept nogil:
    # This version exports no HP_Client_GetRemoteAddress; the host the client
    # connected to is what it has.
    return HP_Client_GetRemoteHost(h, buf, n, port)


cdef BOOL _client_get_pending(void* h, HP_CONNID c, int* n) noexcept nogil:
    return HP_Client_GetPendingDataLength(h, n)


cdef BOOL _client_pause(void* h, HP_CONNID c, BOOL p) noexcept nogil:
    return HP_Client_PauseReceive(h, p)


cdef BOOL _client_is_paused(void* h, HP_CONNID c, BOOL* p) noexcept nogil:
    return HP_Client_IsPauseReceive(h, p)

# -- tables ------------------------------------------------------------------

cdef Ops OPS_TCP_SERVER, OPS_TCP_PULL_SERVER, OPS_TCP_PACK_SERVER
cdef Ops OPS_TCP_AGENT, OPS_TCP_PULL_AGENT, OPS_TCP_PACK_AGENT
cdef Ops OPS_TCP_CLIENT, OPS_TCP_PULL_CLIENT, OPS_TCP_PACK_CLIENT


cdef void _fill_server(Ops* o) noexcept:
    memset(o, 0, sizeof(Ops))
    o.native.caps = HPS_CAP_SOCKET_FD | HPS_CAP_DIRECT_WRITE
    o.events = <PyObject*>_TCP_EVENTS
    o.register = _tcp_register
    o.role = ROLE_SERVER
    o.stop = HP_Server_Stop
    o.get_state = HP_Server_GetState
    o.get_last_error = HP_Server_GetLastError
    o.get_last_error_desc = HP_Server_GetLastErrorDesc
    o.native.send_packets = HP_Server_SendPackets
    o.send_small_file = HP_TcpServer_SendSmallFile
    o.disconnect = HP_Server_Disconnect
    o.get_local_address = HP_Server_GetLocalAddress
    o.get_remote_address = HP_Server_GetRemoteAddress
    o.native.get_pending = HP_Server_GetPendingDataLength
    o.pause_receive = HP_Server_PauseReceive
    o.is_paused = HP_Server_IsPauseReceive
    o.get_connect_period = HP_Server_GetConnectPeriod
    o.get_silence_period = HP_Server_GetSilencePeriod
    o.disconnect_long = HP_Server_DisconnectLongConnections
    o.disconnect_silence = HP_Server_DisconnectSilenceConnections
    o.native.get_conn_extra = HP_Server_GetConnectionExtra
    o.native.set_conn_extra = HP_Server_SetConnectionExtra
    o.tunables[T_WORKER_THREADS].get = HP_Server_GetWorkerThreadCount
    o.tunables[T_WORKER_THREADS].set = HP_Server_SetWorkerThreadCount
    o.tunables[T_MAX_CONNECTIONS].get = HP_Server_GetMaxConnectionCount
    o.tunables[T_MAX_CONNECTIONS].set = HP_Server_SetMaxConnectionCount
    o.tunables[T_SOCKET_BUFFER_SIZE].get = HP_TcpServer_GetSocketBufferSize
    o.tunables[T_SOCKET_BUFFER_SIZE].set = HP_TcpServer_SetSocketBufferSize
    o.tunables[T_KEEP_ALIVE_TIME].get = HP_TcpServer_GetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_TIME].set = HP_TcpServer_SetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_INTERVAL].get = HP_TcpServer_GetKeepAliveInterval
    o.tunables[T_KEEP_ALIVE_INTERVAL].set = HP_TcpServer_SetKeepAliveInterval
    o.tunables[T_ACCEPT_SOCKET_COUNT].get = HP_TcpServer_GetAcceptSocketCount
    o.tunables[T_ACCEPT_SOCKET_COUNT].set = HP_TcpServer_SetAcceptSocketCount
    o.tunables[T_LISTEN_QUEUE].get = HP_TcpServer_GetSocketListenQueue
    o.tunables[T_LISTEN_QUEUE].set = HP_TcpServer_SetSocketListenQueue
    o.tunables[T_FREE_SOCKET_POOL].get = HP_Server_GetFreeSocketObjPool
    o.tunables[T_FREE_SOCKET_POOL].set = HP_Server_SetFreeSocketObjPool
    o.tunables[T_FREE_SOCKET_HOLD].get = HP_Server_GetFreeSocketObjHold
    o.tunables[T_FREE_SOCKET_HOLD].set = HP_Server_SetFreeSocketObjHold
    o.tunables[T_FREE_SOCKET_LOCK_TIME].get = HP_Server_GetFreeSocketObjLockTime
    o.tunables[T_FREE_SOCKET_LOCK_TIME].set = HP_Server_SetFreeSocketObjLockTime
    o.tunables[T_FREE_BUFFER_POOL].get = HP_Server_GetFreeBufferObjPool
    o.tunables[T_FREE_BUFFER_POOL].set = HP_Server_SetFreeBufferObjPool
    o.tunables[T_FREE_BUFFER_HOLD].get = HP_Server_GetFreeBufferObjHold
    o.tunables[T_FREE_BUFFER_HOLD].set = HP_Server_SetFreeBufferObjHold
    o.tunables[T_MARK_SILENCE].get = _server_get_mark_silence
    o.tunables[T_MARK_SILENCE].set = _server_set_mark_silence


cdef void _fill_agent(Ops* o) noexcept:
    memset(o, 0, sizeof(Ops))
    o.native.caps = HPS_CAP_SOCKET_FD | HPS_CAP_DIRECT_WRITE
    o.events = <PyObject*>_TCP_EVENTS
    o.register = _tcp_register
    o.role = ROLE_AGENT
    o.stop = HP_Agent_Stop
    o.get_state = HP_Agent_GetState
    o.get_last_error = HP_Agent_GetLastError
    o.get_last_error_desc = HP_Agent_GetLastErrorDesc
    o.native.send_packets = HP_Agent_SendPackets
    o.send_small_file = HP_TcpAgent_SendSmallFile
    o.disconnect = HP_Agent_Disconnect
    o.get_local_address = HP_Agent_GetLocalAddress
    o.get_remote_address = HP_Agent_GetRemoteAddress
    o.native.get_pending = HP_Agent_GetPendingDataLength
    o.pause_receive = HP_Agent_PauseReceive
    o.is_paused = HP_Agent_IsPauseReceive
    o.get_connect_period = HP_Agent_GetConnectPeriod
    o.get_silence_period = HP_Agent_GetSilencePeriod
    o.disconnect_long = HP_Agent_DisconnectLongConnections
    o.disconnect_silence = HP_Agent_DisconnectSilenceConnections
    o.native.get_conn_extra = HP_Agent_GetConnectionExtra
    o.native.set_conn_extra = HP_Agent_SetConnectionExtra
    o.tunables[T_WORKER_THREADS].get = HP_Agent_GetWorkerThreadCount
    o.tunables[T_WORKER_THREADS].set = HP_Agent_SetWorkerThreadCount
    o.tunables[T_MAX_CONNECTIONS].get = HP_Agent_GetMaxConnectionCount
    o.tunables[T_MAX_CONNECTIONS].set = HP_Agent_SetMaxConnectionCount
    o.tunables[T_SOCKET_BUFFER_SIZE].get = HP_TcpAgent_GetSocketBufferSize
    o.tunables[T_SOCKET_BUFFER_SIZE].set = HP_TcpAgent_SetSocketBufferSize
    o.tunables[T_KEEP_ALIVE_TIME].get = HP_TcpAgent_GetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_TIME].set = HP_TcpAgent_SetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_INTERVAL].get = HP_TcpAgent_GetKeepAliveInterval
    o.tunables[T_KEEP_ALIVE_INTERVAL].set = HP_TcpAgent_SetKeepAliveInterval
    o.tunables[T_FREE_SOCKET_POOL].get = HP_Agent_GetFreeSocketObjPool
    o.tunables[T_FREE_SOCKET_POOL].set = HP_Agent_SetFreeSocketObjPool
    o.tunables[T_FREE_SOCKET_HOLD].get = HP_Agent_GetFreeSocketObjHold
    o.tunables[T_FREE_SOCKET_HOLD].set = HP_Agent_SetFreeSocketObjHold
    o.tunables[T_FREE_SOCKET_LOCK_TIME].get = HP_Agent_GetFreeSocketObjLockTime
    o.tunables[T_FREE_SOCKET_LOCK_TIME].set = HP_Agent_SetFreeSocketObjLockTime
    o.tunables[T_FREE_BUFFER_POOL].get = HP_Agent_GetFreeBufferObjPool
    o.tunables[T_FREE_BUFFER_POOL].set = HP_Agent_SetFreeBufferObjPool
    o.tunables[T_FREE_BUFFER_HOLD].get = HP_Agent_GetFreeBufferObjHold
    o.tunables[T_FREE_BUFFER_HOLD].set = HP_Agent_SetFreeBufferObjHold
    o.tunables[T_MARK_SILENCE].get = _agent_get_mark_silence
    o.tunables[T_MARK_SILENCE].set = _agent_set_mark_silence
    o.tunables[T_REUSE_ADDRESS].get = _agent_get_reuse_address
    o.tunables[T_REUSE_ADDRESS].set = _agent_set_reuse_address


cdef void _fill_client(Ops* o) noexcept:
    memset(o, 0, sizeof(Ops))
    o.native.caps = HPS_CAP_SOCKET_FD | HPS_CAP_DIRECT_WRITE
    o.events = <PyObject*>_TCP_EVENTS
    o.register = _tcp_register
    o.role = ROLE_CLIENT
    o.stop = HP_Client_Stop
    o.get_state = HP_Client_GetState
    o.get_last_error = HP_Client_GetLastError
    o.get_last_error_desc = HP_Client_GetLastErrorDesc
    o.native.send_packets = _client_send_packets
    o.send_small_file = _client_send_small_file
    o.get_local_address = _client_get_local
    o.get_remote_address = _client_get_remote
    o.native.get_pending = _client_get_pending
    o.pause_receive = _client_pause
    o.is_paused = _client_is_paused
    o.tunables[T_SOCKET_BUFFER_SIZE].get = HP_TcpClient_GetSocketBufferSize
    o.tunables[T_SOCKET_BUFFER_SIZE].set = HP_TcpClient_SetSocketBufferSize
    o.tunables[T_KEEP_ALIVE_TIME].get = HP_TcpClient_GetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_TIME].set = HP_TcpClient_SetKeepAliveTime
    o.tunables[T_KEEP_ALIVE_INTERVAL].get = HP_TcpClient_GetKeepAliveInterval
    o.tunables[T_KEEP_ALIVE_INTERVAL].set = HP_TcpClient_SetKeepAliveInterval
    o.tunables[T_FREE_BUFFER_POOL].get = HP_Client_GetFreeBufferPoolSize
    o.tunables[T_FREE_BUFFER_POOL].set = HP_Client_SetFreeBufferPoolSize
    o.tunables[T_FREE_BUFFER_HOLD].get = HP_Client_GetFreeBufferPoolHold
    o.tunables[T_FREE_BUFFER_HOLD].set = HP_Client_SetFreeBufferPoolHold


cdef void _init_ops() noexcept:
    global OPS_TCP_SERVER, OPS_TCP_PULL_SERVER, OPS_TCP_PACK_SERVER
    global OPS_TCP_AGENT, OPS_TCP_PULL_AGENT, OPS_TCP_PACK_AGENT
    global OPS_TCP_CLIENT, OPS_TCP_PULL_CLIENT, OPS_TCP_PACK_CLIENT

    _fill_server(&OPS_TCP_SERVER)
    OPS_TCP_SERVER.name = b"TcpServer"
    OPS_TCP_SERVER.model = MODEL_PUSH
    OPS_TCP_SERVER.create_listener = Create_HP_TcpServerListener
    OPS_TCP_SERVER.create = Create_HP_TcpServer
    OPS_TCP_SERVER.destroy = Destroy_HP_TcpServer
    OPS_TCP_SERVER.destroy_listener = Destroy_HP_TcpServerListener

    _fill_server(&OPS_TCP_PULL_SERVER)
    OPS_TCP_PULL_SERVER.name = b"TcpPullServer"
    OPS_TCP_PULL_SERVER.model = MODEL_PULL
    OPS_TCP_PULL_SERVER.create_listener = Create_HP_TcpServerListener
    OPS_TCP_PULL_SERVER.create = Create_HP_TcpServer
    OPS_TCP_PULL_SERVER.destroy = Destroy_HP_TcpServer
    OPS_TCP_PULL_SERVER.destroy_listener = Destroy_HP_TcpServerListener

    _fill_server(&OPS_TCP_PACK_SERVER)
    OPS_TCP_PACK_SERVER.name = b"TcpPackServer"
    OPS_TCP_PACK_SERVER.model = MODEL_PACK
    OPS_TCP_PACK_SERVER.create_listener = Create_HP_TcpServerListener
    OPS_TCP_PACK_SERVER.create = Create_HP_TcpServer
    OPS_TCP_PACK_SERVER.destroy = Destroy_HP_TcpServer
    OPS_TCP_PACK_SERVER.destroy_listener = Destroy_HP_TcpServerListener

    _fill_agent(&OPS_TCP_AGENT)
    OPS_TCP_AGENT.name = b"TcpAgent"
    OPS_TCP_AGENT.model = MODEL_PUSH
    OPS_TCP_AGENT.create_listener = Create_HP_TcpAgentListener
    OPS_TCP_AGENT.create = Create_HP_TcpAgent
    OPS_TCP_AGENT.destroy = Destroy_HP_TcpAgent
    OPS_TCP_AGENT.destroy_listener = Destroy_HP_TcpAgentListener

    _fill_agent(&OPS_TCP_PULL_AGENT)
    OPS_TCP_PULL_AGENT.name = b"TcpPullAgent"
    OPS_TCP_PULL_AGENT.model = MODEL_PULL
    OPS_TCP_PULL_AGENT.create_listener = Create_HP_TcpAgentListener
    OPS_TCP_PULL_AGENT.create = Create_HP_TcpAgent
    OPS_TCP_PULL_AGENT.destroy = Destroy_HP_TcpAgent
    OPS_TCP_PULL_AGENT.destroy_listener = Destroy_HP_TcpAgentListener

    _fill_agent(&OPS_TCP_PACK_AGENT)
    OPS_TCP_PACK_AGENT.name = b"TcpPackAgent"
    OPS_TCP_PACK_AGENT.model = MODEL_PACK
    OPS_TCP_PACK_AGENT.create_listener = Create_HP_TcpAgentListener
    OPS_TCP_PACK_AGENT.create = Create_HP_TcpAgent
    OPS_TCP_PACK_AGENT.destroy = Destroy_HP_TcpAgent
    OPS_TCP_PACK_AGENT.destroy_listener = Destroy_HP_TcpAgentListener

    _fill_client(&OPS_TCP_CLIENT)
    OPS_TCP_CLIENT.name = b"TcpClient"
    OPS_TCP_CLIENT.model = MODEL_PUSH
    OPS_TCP_CLIENT.create_listener = Create_HP_TcpClientListener
    OPS_TCP_CLIENT.create = Create_HP_TcpClient
    OPS_TCP_CLIENT.destroy = Destroy_HP_TcpClient
    OPS_TCP_CLIENT.destroy_listener = Destroy_HP_TcpClientListener

    _fill_client(&OPS_TCP_PULL_CLIENT)
    OPS_TCP_PULL_CLIENT.name = b"TcpPullClient"
    OPS_TCP_PULL_CLIENT.model = MODEL_PULL
    OPS_TCP_PULL_CLIENT.create_listener = Create_HP_TcpClientListener
    OPS_TCP_PULL_CLIENT.create = Create_HP_TcpClient
    OPS_TCP_PULL_CLIENT.destroy = Destroy_HP_TcpClient
    OPS_TCP_PULL_CLIENT.destroy_listener = Destroy_HP_TcpClientListener

    _fill_client(&OPS_TCP_PACK_CLIENT)
    OPS_TCP_PACK_CLIENT.name = b"TcpPackClient"
    OPS_TCP_PACK_CLIENT.model = MODEL_PACK
    OPS_TCP_PACK_CLIENT.create_listener = Create_HP_TcpClientListener
    OPS_TCP_PACK_CLIENT.create = Create_HP_TcpClient
    OPS_TCP_PACK_CLIENT.destroy = Destroy_HP_TcpClient
    OPS_TCP_PACK_CLIENT.destroy_listener = Destroy_HP_TcpClientListener


# -- classes -------------------------------------------------------------------
# Push hands each chunk to on_receive(conn_id, data); Pull reports how much is
# buffered, on_receive(conn_id, length), and the handler fetches what it
# needs; Pack frames every message with a 4-byte header and hands whole
# bodies to on_receive(conn_id, data).


cdef class TcpServer(Server):
    """Push-model TCP server: ``on_receive(conn_id, data: bytes)``."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_SERVER)


cdef class TcpPullServer(Server):
    """Pull-model TCP server: ``on_receive(conn_id, length)`` reports the bytes
    buffered; take them with fetch/peek/fetch_into (any thread)."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_SERVER)

    def fetch(self, conn_id, n):
        """Remove and return n bytes; None if fewer are buffered."""
        return _pull_fetch(self, _conn_arg(conn_id), _check_length(n), False)

    def peek(self, conn_id, n):
        """Like fetch, without removing them."""
        return _pull_fetch(self, _conn_arg(conn_id), _check_length(n), True)

    def fetch_into(self, conn_id, buffer):
        """Fill a writable buffer completely; False (nothing taken) if fewer
        bytes are buffered."""
        return bool(_pull_fetch_into(self, _conn_arg(conn_id), buffer, False))


cdef class TcpPackServer(Server):
    """Pack-model TCP server: whole packets, ``on_receive(conn_id, body)``."""

    _OPTIONS = Server._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_SERVER)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)


cdef class TcpAgent(Agent):
    """Push-model TCP agent."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_AGENT)


cdef class TcpPullAgent(Agent):
    """Pull-model TCP agent."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_AGENT)

    def fetch(self, conn_id, n):
        return _pull_fetch(self, _conn_arg(conn_id), _check_length(n), False)

    def peek(self, conn_id, n):
        return _pull_fetch(self, _conn_arg(conn_id), _check_length(n), True)

    def fetch_into(self, conn_id, buffer):
        return bool(_pull_fetch_into(self, _conn_arg(conn_id), buffer, False))


cdef class TcpPackAgent(Agent):
    """Pack-model TCP agent."""

    _OPTIONS = Agent._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_AGENT)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)


cdef class TcpClient(Client):
    """Push-model TCP client."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_CLIENT)


cdef class TcpPullClient(Client):
    """Pull-model TCP client."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_CLIENT)

    def fetch(self, n):
        return _pull_fetch(self, 0, _check_length(n), False)

    def peek(self, n):
        return _pull_fetch(self, 0, _check_length(n), True)

    def fetch_into(self, buffer):
        return bool(_pull_fetch_into(self, 0, buffer, False))


cdef class TcpPackClient(Client):
    """Pack-model TCP client."""

    _OPTIONS = Client._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_CLIENT)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)
