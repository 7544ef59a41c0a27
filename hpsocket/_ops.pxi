# The native function tables of the nine classes.  Server and Agent functions
# already take a connection id; the Client's are adapted to the same shape (the
# id is ignored) so that one implementation of each method serves all roles.
# The pull and pack classes run over the library's push components: hpsocket
# buffers received bytes for pull itself, as the library's pull buffers are
# not safe to fetch from other threads (hps_buf_append in _buf.h, under the context's lock), and
# frames packs itself (_frame.h).

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
    T_COUNT = 14

# Python names of the tunables, in index order.
TUNABLE_NAMES = (
    "worker_threads", "max_connections", "socket_buffer_size", "keep_alive_time",
    "keep_alive_interval", "accept_socket_count", "listen_queue", "free_socket_pool",
    "free_socket_hold", "free_socket_lock_time", "free_buffer_pool", "free_buffer_hold",
    "mark_silence", "reuse_address",
)

# The library's own MaxConnectionCount is kept this far above the user's
# max_connections, so that hpsocket (which tells) refuses before it (which
# drops silently) would.
cdef long _MAX_CONN_HEADROOM = 256


# -- adapters ----------------------------------------------------------------

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
