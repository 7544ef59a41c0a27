# Declarations of libhpsocket4c's C API (HP-Socket 5.2.2.1, Linux): the TCP
# family.  Names are the library's own; the header is
# third_party/HP-Socket/include/hpsocket4c.h.  Everything is nogil: each
# trampoline decides itself whether it needs the GIL.

cdef extern from "hpsocket4c.h" nogil:
    ctypedef bint BOOL
    ctypedef unsigned char BYTE
    ctypedef unsigned short USHORT
    ctypedef unsigned int DWORD
    ctypedef unsigned long UINT_PTR
    ctypedef unsigned long HP_CONNID
    ctypedef void* PVOID
    ctypedef char TCHAR
    ctypedef const char* LPCTSTR

    ctypedef struct WSABUF:
        unsigned int len
        unsigned char* buf
    ctypedef WSABUF* LPWSABUF

    ctypedef void* HP_Agent
    ctypedef void* HP_AgentListener
    ctypedef void* HP_Client
    ctypedef void* HP_ClientListener
    ctypedef void* HP_Server
    ctypedef void* HP_ServerListener
    ctypedef void* HP_TcpAgent
    ctypedef void* HP_TcpAgentListener
    ctypedef void* HP_TcpClient
    ctypedef void* HP_TcpClientListener
    ctypedef void* HP_TcpPackAgent
    ctypedef void* HP_TcpPackAgentListener
    ctypedef void* HP_TcpPackClient
    ctypedef void* HP_TcpPackClientListener
    ctypedef void* HP_TcpPackServer
    ctypedef void* HP_TcpPackServerListener
    ctypedef void* HP_TcpPullAgent
    ctypedef void* HP_TcpPullAgentListener
    ctypedef void* HP_TcpPullClient
    ctypedef void* HP_TcpPullClientListener
    ctypedef void* HP_TcpPullServer
    ctypedef void* HP_TcpPullServerListener
    ctypedef void* HP_TcpServer
    ctypedef void* HP_TcpServerListener

    ctypedef enum En_HP_ServiceState:
        SS_STARTING
        SS_STARTED
        SS_STOPPING
        SS_STOPPED

    ctypedef enum En_HP_SocketOperation:
        SO_UNKNOWN
        SO_ACCEPT
        SO_CONNECT
        SO_SEND
        SO_RECEIVE
        SO_CLOSE

    ctypedef enum En_HP_HandleResult:
        HR_OK
        HR_IGNORE
        HR_ERROR

    ctypedef enum En_HP_FetchResult:
        FR_OK
        FR_LENGTH_TOO_LONG
        FR_DATA_NOT_FOUND

    ctypedef enum En_HP_SendPolicy:
        SP_PACK
        SP_SAFE
        SP_DIRECT

    ctypedef enum En_HP_SocketError:
        SE_OK
        SE_ILLEGAL_STATE
        SE_INVALID_PARAM
        SE_SOCKET_CREATE
        SE_SOCKET_BIND
        SE_SOCKET_PREPARE
        SE_SOCKET_LISTEN
        SE_CP_CREATE
        SE_WORKER_THREAD_CREATE
        SE_DETECT_THREAD_CREATE
        SE_SOCKE_ATTACH_TO_CP
        SE_CONNECT_SERVER
        SE_NETWORK
        SE_DATA_PROC
        SE_DATA_SEND
        SE_SSL_ENV_NOT_READY

    # Callbacks: declared noexcept so Cython trampolines can be passed as-is.
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnPrepareListen)(HP_Server pSender, UINT_PTR soListen) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnAccept)(HP_Server pSender, HP_CONNID dwConnID, UINT_PTR soClient) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnHandShake)(HP_Server pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnSend)(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnReceive)(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnPullReceive)(HP_Server pSender, HP_CONNID dwConnID, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnClose)(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Server_OnShutdown)(HP_Server pSender) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnPrepareConnect)(HP_Agent pSender, HP_CONNID dwConnID, UINT_PTR socket) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnConnect)(HP_Agent pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnHandShake)(HP_Agent pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnSend)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnReceive)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnPullReceive)(HP_Agent pSender, HP_CONNID dwConnID, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnClose)(HP_Agent pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Agent_OnShutdown)(HP_Agent pSender) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnPrepareConnect)(HP_Client pSender, HP_CONNID dwConnID, UINT_PTR socket) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnConnect)(HP_Client pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnHandShake)(HP_Client pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnSend)(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnReceive)(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnPullReceive)(HP_Client pSender, HP_CONNID dwConnID, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Client_OnClose)(HP_Client pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode) noexcept

    # Library
    DWORD HP_GetHPSocketVersion()
    LPCTSTR HP_GetSocketErrorDesc(En_HP_SocketError enCode)

    # Construction and destruction
    HP_TcpAgent Create_HP_TcpAgent(HP_TcpAgentListener pListener)
    HP_TcpAgentListener Create_HP_TcpAgentListener()
    HP_TcpClient Create_HP_TcpClient(HP_TcpClientListener pListener)
    HP_TcpClientListener Create_HP_TcpClientListener()
    HP_TcpPackAgent Create_HP_TcpPackAgent(HP_TcpAgentListener pListener)
    HP_TcpPackAgentListener Create_HP_TcpPackAgentListener()
    HP_TcpPackClient Create_HP_TcpPackClient(HP_TcpClientListener pListener)
    HP_TcpPackClientListener Create_HP_TcpPackClientListener()
    HP_TcpPackServer Create_HP_TcpPackServer(HP_TcpServerListener pListener)
    HP_TcpPackServerListener Create_HP_TcpPackServerListener()
    HP_TcpPullAgent Create_HP_TcpPullAgent(HP_TcpPullAgentListener pListener)
    HP_TcpPullAgentListener Create_HP_TcpPullAgentListener()
    HP_TcpPullClient Create_HP_TcpPullClient(HP_TcpPullClientListener pListener)
    HP_TcpPullClientListener Create_HP_TcpPullClientListener()
    HP_TcpPullServer Create_HP_TcpPullServer(HP_TcpPullServerListener pListener)
    HP_TcpPullServerListener Create_HP_TcpPullServerListener()
    HP_TcpServer Create_HP_TcpServer(HP_TcpServerListener pListener)
    HP_TcpServerListener Create_HP_TcpServerListener()
    void Destroy_HP_TcpAgent(HP_TcpAgent pAgent)
    void Destroy_HP_TcpAgentListener(HP_TcpAgentListener pListener)
    void Destroy_HP_TcpClient(HP_TcpClient pClient)
    void Destroy_HP_TcpClientListener(HP_TcpClientListener pListener)
    void Destroy_HP_TcpPackAgent(HP_TcpPackAgent pAgent)
    void Destroy_HP_TcpPackAgentListener(HP_TcpPackAgentListener pListener)
    void Destroy_HP_TcpPackClient(HP_TcpPackClient pClient)
    void Destroy_HP_TcpPackClientListener(HP_TcpPackClientListener pListener)
    void Destroy_HP_TcpPackServer(HP_TcpPackServer pServer)
    void Destroy_HP_TcpPackServerListener(HP_TcpPackServerListener pListener)
    void Destroy_HP_TcpPullAgent(HP_TcpPullAgent pAgent)
    void Destroy_HP_TcpPullAgentListener(HP_TcpPullAgentListener pListener)
    void Destroy_HP_TcpPullClient(HP_TcpPullClient pClient)
    void Destroy_HP_TcpPullClientListener(HP_TcpPullClientListener pListener)
    void Destroy_HP_TcpPullServer(HP_TcpPullServer pServer)
    void Destroy_HP_TcpPullServerListener(HP_TcpPullServerListener pListener)
    void Destroy_HP_TcpServer(HP_TcpServer pServer)
    void Destroy_HP_TcpServerListener(HP_TcpServerListener pListener)

    # Callback registration
    void HP_Set_FN_Agent_OnClose(HP_AgentListener pListener, HP_FN_Agent_OnClose fn)
    void HP_Set_FN_Agent_OnConnect(HP_AgentListener pListener, HP_FN_Agent_OnConnect fn)
    void HP_Set_FN_Agent_OnHandShake(HP_AgentListener pListener, HP_FN_Agent_OnHandShake fn)
    void HP_Set_FN_Agent_OnPrepareConnect(HP_AgentListener pListener, HP_FN_Agent_OnPrepareConnect fn)
    void HP_Set_FN_Agent_OnPullReceive(HP_AgentListener pListener, HP_FN_Agent_OnPullReceive fn)
    void HP_Set_FN_Agent_OnReceive(HP_AgentListener pListener, HP_FN_Agent_OnReceive fn)
    void HP_Set_FN_Agent_OnSend(HP_AgentListener pListener, HP_FN_Agent_OnSend fn)
    void HP_Set_FN_Agent_OnShutdown(HP_AgentListener pListener, HP_FN_Agent_OnShutdown fn)
    void HP_Set_FN_Client_OnClose(HP_ClientListener pListener, HP_FN_Client_OnClose fn)
    void HP_Set_FN_Client_OnConnect(HP_ClientListener pListener, HP_FN_Client_OnConnect fn)
    void HP_Set_FN_Client_OnHandShake(HP_ClientListener pListener, HP_FN_Client_OnHandShake fn)
    void HP_Set_FN_Client_OnPrepareConnect(HP_ClientListener pListener, HP_FN_Client_OnPrepareConnect fn)
    void HP_Set_FN_Client_OnPullReceive(HP_ClientListener pListener, HP_FN_Client_OnPullReceive fn)
    void HP_Set_FN_Client_OnReceive(HP_ClientListener pListener, HP_FN_Client_OnReceive fn)
    void HP_Set_FN_Client_OnSend(HP_ClientListener pListener, HP_FN_Client_OnSend fn)
    void HP_Set_FN_Server_OnAccept(HP_ServerListener pListener, HP_FN_Server_OnAccept fn)
    void HP_Set_FN_Server_OnClose(HP_ServerListener pListener, HP_FN_Server_OnClose fn)
    void HP_Set_FN_Server_OnHandShake(HP_ServerListener pListener, HP_FN_Server_OnHandShake fn)
    void HP_Set_FN_Server_OnPrepareListen(HP_ServerListener pListener, HP_FN_Server_OnPrepareListen fn)
    void HP_Set_FN_Server_OnPullReceive(HP_ServerListener pListener, HP_FN_Server_OnPullReceive fn)
    void HP_Set_FN_Server_OnReceive(HP_ServerListener pListener, HP_FN_Server_OnReceive fn)
    void HP_Set_FN_Server_OnSend(HP_ServerListener pListener, HP_FN_Server_OnSend fn)
    void HP_Set_FN_Server_OnShutdown(HP_ServerListener pListener, HP_FN_Server_OnShutdown fn)

    # Server (any model)
    BOOL HP_Server_Disconnect(HP_Server pServer, HP_CONNID dwConnID, BOOL bForce)
    BOOL HP_Server_DisconnectLongConnections(HP_Server pServer, DWORD dwPeriod, BOOL bForce)
    BOOL HP_Server_DisconnectSilenceConnections(HP_Server pServer, DWORD dwPeriod, BOOL bForce)
    BOOL HP_Server_GetAllConnectionIDs(HP_Server pServer, HP_CONNID* pIDs, DWORD* pdwCount)
    BOOL HP_Server_GetConnectPeriod(HP_Server pServer, HP_CONNID dwConnID, DWORD* pdwPeriod)
    DWORD HP_Server_GetConnectionCount(HP_Server pServer)
    BOOL HP_Server_GetConnectionExtra(HP_Server pServer, HP_CONNID dwConnID, PVOID* ppExtra)
    DWORD HP_Server_GetFreeBufferObjHold(HP_Server pServer)
    DWORD HP_Server_GetFreeBufferObjPool(HP_Server pServer)
    DWORD HP_Server_GetFreeSocketObjHold(HP_Server pServer)
    DWORD HP_Server_GetFreeSocketObjLockTime(HP_Server pServer)
    DWORD HP_Server_GetFreeSocketObjPool(HP_Server pServer)
    En_HP_SocketError HP_Server_GetLastError(HP_Server pServer)
    LPCTSTR HP_Server_GetLastErrorDesc(HP_Server pServer)
    BOOL HP_Server_GetListenAddress(HP_Server pServer, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    BOOL HP_Server_GetLocalAddress(HP_Server pServer, HP_CONNID dwConnID, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    DWORD HP_Server_GetMaxConnectionCount(HP_Server pServer)
    BOOL HP_Server_GetPendingDataLength(HP_Server pServer, HP_CONNID dwConnID, int* piPending)
    BOOL HP_Server_GetRemoteAddress(HP_Server pServer, HP_CONNID dwConnID, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    En_HP_SendPolicy HP_Server_GetSendPolicy(HP_Server pServer)
    BOOL HP_Server_GetSilencePeriod(HP_Server pServer, HP_CONNID dwConnID, DWORD* pdwPeriod)
    En_HP_ServiceState HP_Server_GetState(HP_Server pServer)
    DWORD HP_Server_GetWorkerThreadCount(HP_Server pServer)
    BOOL HP_Server_HasStarted(HP_Server pServer)
    BOOL HP_Server_IsMarkSilence(HP_Server pServer)
    BOOL HP_Server_IsPauseReceive(HP_Server pServer, HP_CONNID dwConnID, BOOL* pbPaused)
    BOOL HP_Server_IsSecure(HP_Server pServer)
    BOOL HP_Server_PauseReceive(HP_Server pServer, HP_CONNID dwConnID, BOOL bPause)
    BOOL HP_Server_Send(HP_Server pServer, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength)
    BOOL HP_Server_SendPackets(HP_Server pServer, HP_CONNID dwConnID, const WSABUF* pBuffers, int iCount)
    BOOL HP_Server_SendPart(HP_Server pServer, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset)
    BOOL HP_Server_SetConnectionExtra(HP_Server pServer, HP_CONNID dwConnID, PVOID pExtra)
    void HP_Server_SetFreeBufferObjHold(HP_Server pServer, DWORD dwFreeBufferObjHold)
    void HP_Server_SetFreeBufferObjPool(HP_Server pServer, DWORD dwFreeBufferObjPool)
    void HP_Server_SetFreeSocketObjHold(HP_Server pServer, DWORD dwFreeSocketObjHold)
    void HP_Server_SetFreeSocketObjLockTime(HP_Server pServer, DWORD dwFreeSocketObjLockTime)
    void HP_Server_SetFreeSocketObjPool(HP_Server pServer, DWORD dwFreeSocketObjPool)
    void HP_Server_SetMarkSilence(HP_Server pServer, BOOL bMarkSilence)
    void HP_Server_SetMaxConnectionCount(HP_Server pServer, DWORD dwMaxConnectionCount)
    void HP_Server_SetSendPolicy(HP_Server pServer, En_HP_SendPolicy enSendPolicy)
    void HP_Server_SetWorkerThreadCount(HP_Server pServer, DWORD dwWorkerThreadCount)
    BOOL HP_Server_Start(HP_Server pServer, LPCTSTR lpszBindAddress, USHORT usPort)
    BOOL HP_Server_Stop(HP_Server pServer)

    # TCP server
    DWORD HP_TcpServer_GetAcceptSocketCount(HP_TcpServer pServer)
    DWORD HP_TcpServer_GetKeepAliveInterval(HP_TcpServer pServer)
    DWORD HP_TcpServer_GetKeepAliveTime(HP_TcpServer pServer)
    DWORD HP_TcpServer_GetSocketBufferSize(HP_TcpServer pServer)
    DWORD HP_TcpServer_GetSocketListenQueue(HP_TcpServer pServer)
    BOOL HP_TcpServer_SendSmallFile(HP_Server pServer, HP_CONNID dwConnID, LPCTSTR lpszFileName, LPWSABUF pHead, LPWSABUF pTail)
    void HP_TcpServer_SetAcceptSocketCount(HP_TcpServer pServer, DWORD dwAcceptSocketCount)
    void HP_TcpServer_SetKeepAliveInterval(HP_TcpServer pServer, DWORD dwKeepAliveInterval)
    void HP_TcpServer_SetKeepAliveTime(HP_TcpServer pServer, DWORD dwKeepAliveTime)
    void HP_TcpServer_SetSocketBufferSize(HP_TcpServer pServer, DWORD dwSocketBufferSize)
    void HP_TcpServer_SetSocketListenQueue(HP_TcpServer pServer, DWORD dwSocketListenQueue)

    # Agent (any model)
    BOOL HP_Agent_Connect(HP_Agent pAgent, LPCTSTR lpszRemoteAddress, USHORT usPort, HP_CONNID* pdwConnID)
    BOOL HP_Agent_ConnectWithExtra(HP_Agent pAgent, LPCTSTR lpszRemoteAddress, USHORT usPort, HP_CONNID* pdwConnID, PVOID pExtra)
    BOOL HP_Agent_Disconnect(HP_Agent pAgent, HP_CONNID dwConnID, BOOL bForce)
    BOOL HP_Agent_DisconnectLongConnections(HP_Agent pAgent, DWORD dwPeriod, BOOL bForce)
    BOOL HP_Agent_DisconnectSilenceConnections(HP_Agent pAgent, DWORD dwPeriod, BOOL bForce)
    BOOL HP_Agent_GetAllConnectionIDs(HP_Agent pAgent, HP_CONNID* pIDs, DWORD* pdwCount)
    BOOL HP_Agent_GetConnectPeriod(HP_Agent pAgent, HP_CONNID dwConnID, DWORD* pdwPeriod)
    DWORD HP_Agent_GetConnectionCount(HP_Agent pAgent)
    BOOL HP_Agent_GetConnectionExtra(HP_Agent pAgent, HP_CONNID dwConnID, PVOID* ppExtra)
    DWORD HP_Agent_GetFreeBufferObjHold(HP_Agent pAgent)
    DWORD HP_Agent_GetFreeBufferObjPool(HP_Agent pAgent)
    DWORD HP_Agent_GetFreeSocketObjHold(HP_Agent pAgent)
    DWORD HP_Agent_GetFreeSocketObjLockTime(HP_Agent pAgent)
    DWORD HP_Agent_GetFreeSocketObjPool(HP_Agent pAgent)
    En_HP_SocketError HP_Agent_GetLastError(HP_Agent pAgent)
    LPCTSTR HP_Agent_GetLastErrorDesc(HP_Agent pAgent)
    BOOL HP_Agent_GetLocalAddress(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    DWORD HP_Agent_GetMaxConnectionCount(HP_Agent pAgent)
    BOOL HP_Agent_GetPendingDataLength(HP_Agent pAgent, HP_CONNID dwConnID, int* piPending)
    BOOL HP_Agent_GetRemoteAddress(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    BOOL HP_Agent_GetRemoteHost(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR* lpszHost, int* piHostLen, USHORT* pusPort)
    En_HP_SendPolicy HP_Agent_GetSendPolicy(HP_Agent pAgent)
    BOOL HP_Agent_GetSilencePeriod(HP_Agent pAgent, HP_CONNID dwConnID, DWORD* pdwPeriod)
    En_HP_ServiceState HP_Agent_GetState(HP_Agent pAgent)
    DWORD HP_Agent_GetWorkerThreadCount(HP_Agent pAgent)
    BOOL HP_Agent_HasStarted(HP_Agent pAgent)
    BOOL HP_Agent_IsMarkSilence(HP_Agent pAgent)
    BOOL HP_Agent_IsPauseReceive(HP_Agent pAgent, HP_CONNID dwConnID, BOOL* pbPaused)
    BOOL HP_Agent_IsSecure(HP_Agent pAgent)
    BOOL HP_Agent_PauseReceive(HP_Agent pAgent, HP_CONNID dwConnID, BOOL bPause)
    BOOL HP_Agent_Send(HP_Agent pAgent, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength)
    BOOL HP_Agent_SendPackets(HP_Agent pAgent, HP_CONNID dwConnID, const WSABUF* pBuffers, int iCount)
    BOOL HP_Agent_SendPart(HP_Agent pAgent, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset)
    BOOL HP_Agent_SetConnectionExtra(HP_Agent pAgent, HP_CONNID dwConnID, PVOID pExtra)
    void HP_Agent_SetFreeBufferObjHold(HP_Agent pAgent, DWORD dwFreeBufferObjHold)
    void HP_Agent_SetFreeBufferObjPool(HP_Agent pAgent, DWORD dwFreeBufferObjPool)
    void HP_Agent_SetFreeSocketObjHold(HP_Agent pAgent, DWORD dwFreeSocketObjHold)
    void HP_Agent_SetFreeSocketObjLockTime(HP_Agent pAgent, DWORD dwFreeSocketObjLockTime)
    void HP_Agent_SetFreeSocketObjPool(HP_Agent pAgent, DWORD dwFreeSocketObjPool)
    void HP_Agent_SetMarkSilence(HP_Agent pAgent, BOOL bMarkSilence)
    void HP_Agent_SetMaxConnectionCount(HP_Agent pAgent, DWORD dwMaxConnectionCount)
    void HP_Agent_SetSendPolicy(HP_Agent pAgent, En_HP_SendPolicy enSendPolicy)
    void HP_Agent_SetWorkerThreadCount(HP_Agent pAgent, DWORD dwWorkerThreadCount)
    BOOL HP_Agent_Start(HP_Agent pAgent, LPCTSTR lpszBindAddress, BOOL bAsyncConnect)
    BOOL HP_Agent_Stop(HP_Agent pAgent)

    # TCP agent
    DWORD HP_TcpAgent_GetKeepAliveInterval(HP_TcpAgent pAgent)
    DWORD HP_TcpAgent_GetKeepAliveTime(HP_TcpAgent pAgent)
    DWORD HP_TcpAgent_GetSocketBufferSize(HP_TcpAgent pAgent)
    BOOL HP_TcpAgent_IsReuseAddress(HP_TcpAgent pAgent)
    BOOL HP_TcpAgent_SendSmallFile(HP_Agent pAgent, HP_CONNID dwConnID, LPCTSTR lpszFileName, LPWSABUF pHead, LPWSABUF pTail)
    void HP_TcpAgent_SetKeepAliveInterval(HP_TcpAgent pAgent, DWORD dwKeepAliveInterval)
    void HP_TcpAgent_SetKeepAliveTime(HP_TcpAgent pAgent, DWORD dwKeepAliveTime)
    void HP_TcpAgent_SetReuseAddress(HP_TcpAgent pAgent, BOOL bReuseAddress)
    void HP_TcpAgent_SetSocketBufferSize(HP_TcpAgent pAgent, DWORD dwSocketBufferSize)

    # Client (any model)
    HP_CONNID HP_Client_GetConnectionID(HP_Client pClient)
    PVOID HP_Client_GetExtra(HP_Client pClient)
    DWORD HP_Client_GetFreeBufferPoolHold(HP_Client pClient)
    DWORD HP_Client_GetFreeBufferPoolSize(HP_Client pClient)
    En_HP_SocketError HP_Client_GetLastError(HP_Client pClient)
    LPCTSTR HP_Client_GetLastErrorDesc(HP_Client pClient)
    BOOL HP_Client_GetLocalAddress(HP_Client pClient, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    BOOL HP_Client_GetPendingDataLength(HP_Client pClient, int* piPending)
    BOOL HP_Client_GetRemoteHost(HP_Client pClient, TCHAR* lpszHost, int* piHostLen, USHORT* pusPort)
    En_HP_ServiceState HP_Client_GetState(HP_Client pClient)
    BOOL HP_Client_HasStarted(HP_Client pClient)
    BOOL HP_Client_IsPauseReceive(HP_Client pClient, BOOL* pbPaused)
    BOOL HP_Client_IsSecure(HP_Client pClient)
    BOOL HP_Client_PauseReceive(HP_Client pClient, BOOL bPause)
    BOOL HP_Client_Send(HP_Client pClient, const BYTE* pBuffer, int iLength)
    BOOL HP_Client_SendPackets(HP_Client pClient, const WSABUF* pBuffers, int iCount)
    BOOL HP_Client_SendPart(HP_Client pClient, const BYTE* pBuffer, int iLength, int iOffset)
    void HP_Client_SetExtra(HP_Client pClient, PVOID pExtra)
    void HP_Client_SetFreeBufferPoolHold(HP_Client pClient, DWORD dwFreeBufferPoolHold)
    void HP_Client_SetFreeBufferPoolSize(HP_Client pClient, DWORD dwFreeBufferPoolSize)
    BOOL HP_Client_Start(HP_Client pClient, LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect)
    BOOL HP_Client_StartWithBindAddress(HP_Client pClient, LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect, LPCTSTR lpszBindAddress)
    BOOL HP_Client_Stop(HP_Client pClient)

    # TCP client
    DWORD HP_TcpClient_GetKeepAliveInterval(HP_TcpClient pClient)
    DWORD HP_TcpClient_GetKeepAliveTime(HP_TcpClient pClient)
    DWORD HP_TcpClient_GetSocketBufferSize(HP_TcpClient pClient)
    BOOL HP_TcpClient_SendSmallFile(HP_Client pClient, LPCTSTR lpszFileName, LPWSABUF pHead, LPWSABUF pTail)
    void HP_TcpClient_SetKeepAliveInterval(HP_TcpClient pClient, DWORD dwKeepAliveInterval)
    void HP_TcpClient_SetKeepAliveTime(HP_TcpClient pClient, DWORD dwKeepAliveTime)
    void HP_TcpClient_SetSocketBufferSize(HP_TcpClient pClient, DWORD dwSocketBufferSize)

    # Pull model
    En_HP_FetchResult HP_TcpPullAgent_Fetch(HP_TcpPullAgent pAgent, HP_CONNID dwConnID, BYTE* pData, int iLength)
    En_HP_FetchResult HP_TcpPullAgent_Peek(HP_TcpPullAgent pAgent, HP_CONNID dwConnID, BYTE* pData, int iLength)
    En_HP_FetchResult HP_TcpPullClient_Fetch(HP_TcpPullClient pClient, BYTE* pData, int iLength)
    En_HP_FetchResult HP_TcpPullClient_Peek(HP_TcpPullClient pClient, BYTE* pData, int iLength)
    En_HP_FetchResult HP_TcpPullServer_Fetch(HP_TcpPullServer pServer, HP_CONNID dwConnID, BYTE* pData, int iLength)
    En_HP_FetchResult HP_TcpPullServer_Peek(HP_TcpPullServer pServer, HP_CONNID dwConnID, BYTE* pData, int iLength)

    # Pack model
    DWORD HP_TcpPackAgent_GetMaxPackSize(HP_TcpPackAgent pAgent)
    USHORT HP_TcpPackAgent_GetPackHeaderFlag(HP_TcpPackAgent pAgent)
    void HP_TcpPackAgent_SetMaxPackSize(HP_TcpPackAgent pAgent, DWORD dwMaxPackSize)
    void HP_TcpPackAgent_SetPackHeaderFlag(HP_TcpPackAgent pAgent, USHORT usPackHeaderFlag)
    DWORD HP_TcpPackClient_GetMaxPackSize(HP_TcpPackClient pClient)
    USHORT HP_TcpPackClient_GetPackHeaderFlag(HP_TcpPackClient pClient)
    void HP_TcpPackClient_SetMaxPackSize(HP_TcpPackClient pClient, DWORD dwMaxPackSize)
    void HP_TcpPackClient_SetPackHeaderFlag(HP_TcpPackClient pClient, USHORT usPackHeaderFlag)
    DWORD HP_TcpPackServer_GetMaxPackSize(HP_TcpPackServer pServer)
    USHORT HP_TcpPackServer_GetPackHeaderFlag(HP_TcpPackServer pServer)
    void HP_TcpPackServer_SetMaxPackSize(HP_TcpPackServer pServer, DWORD dwMaxPackSize)
    void HP_TcpPackServer_SetPackHeaderFlag(HP_TcpPackServer pServer, USHORT usPackHeaderFlag)


# The HTTP family.  HttpServer handles are also Server handles (HP_Server_*).
cdef extern from "hpsocket4c.h" nogil:
    ctypedef unsigned long long ULONGLONG
    ctypedef void* HP_HttpServer
    ctypedef void* HP_HttpServerListener

    ctypedef struct HP_THeader:
        LPCTSTR name
        LPCTSTR value

    ctypedef enum En_HP_HttpParseResult:
        HPR_OK
        HPR_SKIP_BODY
        HPR_UPGRADE
        HPR_ERROR

    ctypedef enum En_HP_HttpUpgradeType:
        HUT_NONE
        HUT_WEB_SOCKET
        HUT_HTTP_TUNNEL
        HUT_UNKNOWN

    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnMessageBegin)(void* pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnRequestLine)(void* pSender, HP_CONNID dwConnID, LPCTSTR lpszMethod, LPCTSTR lpszUrl) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnHeader)(void* pSender, HP_CONNID dwConnID, LPCTSTR lpszName, LPCTSTR lpszValue) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnHeadersComplete)(void* pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnBody)(void* pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnChunkHeader)(void* pSender, HP_CONNID dwConnID, int iLength) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnChunkComplete)(void* pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnMessageComplete)(void* pSender, HP_CONNID dwConnID) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnUpgrade)(void* pSender, HP_CONNID dwConnID, En_HP_HttpUpgradeType enUpgradeType) noexcept
    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnParseError)(void* pSender, HP_CONNID dwConnID, int iErrorCode, LPCTSTR lpszErrorDesc) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageHeader)(void* pSender, HP_CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE* lpszMask, ULONGLONG ullBodyLen) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageBody)(void* pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength) noexcept
    ctypedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageComplete)(void* pSender, HP_CONNID dwConnID) noexcept

    HP_HttpServer Create_HP_HttpServer(HP_HttpServerListener pListener)
    HP_HttpServerListener Create_HP_HttpServerListener()
    void Destroy_HP_HttpServer(HP_HttpServer pServer)
    void Destroy_HP_HttpServerListener(HP_HttpServerListener pListener)

    void HP_Set_FN_HttpServer_OnMessageBegin(HP_HttpServerListener l, HP_FN_Http_OnMessageBegin fn)
    void HP_Set_FN_HttpServer_OnRequestLine(HP_HttpServerListener l, HP_FN_Http_OnRequestLine fn)
    void HP_Set_FN_HttpServer_OnHeader(HP_HttpServerListener l, HP_FN_Http_OnHeader fn)
    void HP_Set_FN_HttpServer_OnHeadersComplete(HP_HttpServerListener l, HP_FN_Http_OnHeadersComplete fn)
    void HP_Set_FN_HttpServer_OnBody(HP_HttpServerListener l, HP_FN_Http_OnBody fn)
    void HP_Set_FN_HttpServer_OnChunkHeader(HP_HttpServerListener l, HP_FN_Http_OnChunkHeader fn)
    void HP_Set_FN_HttpServer_OnChunkComplete(HP_HttpServerListener l, HP_FN_Http_OnChunkComplete fn)
    void HP_Set_FN_HttpServer_OnMessageComplete(HP_HttpServerListener l, HP_FN_Http_OnMessageComplete fn)
    void HP_Set_FN_HttpServer_OnUpgrade(HP_HttpServerListener l, HP_FN_Http_OnUpgrade fn)
    void HP_Set_FN_HttpServer_OnParseError(HP_HttpServerListener l, HP_FN_Http_OnParseError fn)
    void HP_Set_FN_HttpServer_OnWSMessageHeader(HP_HttpServerListener l, HP_FN_Http_OnWSMessageHeader fn)
    void HP_Set_FN_HttpServer_OnWSMessageBody(HP_HttpServerListener l, HP_FN_Http_OnWSMessageBody fn)
    void HP_Set_FN_HttpServer_OnWSMessageComplete(HP_HttpServerListener l, HP_FN_Http_OnWSMessageComplete fn)
    void HP_Set_FN_HttpServer_OnPrepareListen(HP_HttpServerListener l, HP_FN_Server_OnPrepareListen fn)
    void HP_Set_FN_HttpServer_OnAccept(HP_HttpServerListener l, HP_FN_Server_OnAccept fn)
    void HP_Set_FN_HttpServer_OnHandShake(HP_HttpServerListener l, HP_FN_Server_OnHandShake fn)
    void HP_Set_FN_HttpServer_OnSend(HP_HttpServerListener l, HP_FN_Server_OnSend fn)
    void HP_Set_FN_HttpServer_OnClose(HP_HttpServerListener l, HP_FN_Server_OnClose fn)
    void HP_Set_FN_HttpServer_OnShutdown(HP_HttpServerListener l, HP_FN_Server_OnShutdown fn)

    BOOL HP_HttpServer_Release(HP_HttpServer pServer, HP_CONNID dwConnID)
    void HP_HttpServer_SetReleaseDelay(HP_HttpServer pServer, DWORD dwReleaseDelay)
    DWORD HP_HttpServer_GetReleaseDelay(HP_HttpServer pServer)
    USHORT HP_HttpServer_GetVersion(HP_HttpServer pServer, HP_CONNID dwConnID)
    BOOL HP_HttpServer_IsKeepAlive(HP_HttpServer pServer, HP_CONNID dwConnID)
    BOOL HP_HttpServer_IsUpgrade(HP_HttpServer pServer, HP_CONNID dwConnID)
    En_HP_HttpUpgradeType HP_HttpServer_GetUpgradeType(HP_HttpServer pServer, HP_CONNID dwConnID)


# The HTTP family's agent, client and sync client.  HttpAgent and HttpClient
# handles are also Agent and Client handles (HP_Agent_*, HP_Client_*,
# HP_TcpAgent_*, HP_TcpClient_*); an HttpSyncClient is an HttpClient.
cdef extern from "hpsocket4c.h" nogil:
    ctypedef void* HP_HttpAgent
    ctypedef void* HP_HttpAgentListener
    ctypedef void* HP_HttpClient
    ctypedef void* HP_HttpClientListener
    ctypedef void* HP_HttpSyncClient
    ctypedef const BYTE* LPCBYTE

    ctypedef En_HP_HttpParseResult (*HP_FN_Http_OnStatusLine)(void* pSender, HP_CONNID dwConnID, USHORT usStatusCode, LPCTSTR lpszDesc) noexcept

    HP_HttpAgent Create_HP_HttpAgent(HP_HttpAgentListener pListener)
    HP_HttpAgentListener Create_HP_HttpAgentListener()
    void Destroy_HP_HttpAgent(HP_HttpAgent pAgent)
    void Destroy_HP_HttpAgentListener(HP_HttpAgentListener pListener)
    HP_HttpClient Create_HP_HttpClient(HP_HttpClientListener pListener)
    HP_HttpClientListener Create_HP_HttpClientListener()
    void Destroy_HP_HttpClient(HP_HttpClient pClient)
    void Destroy_HP_HttpClientListener(HP_HttpClientListener pListener)
    HP_HttpSyncClient Create_HP_HttpSyncClient(HP_HttpClientListener pListener)
    void Destroy_HP_HttpSyncClient(HP_HttpSyncClient pClient)

    void HP_Set_FN_HttpAgent_OnMessageBegin(HP_HttpAgentListener l, HP_FN_Http_OnMessageBegin fn)
    void HP_Set_FN_HttpAgent_OnStatusLine(HP_HttpAgentListener l, HP_FN_Http_OnStatusLine fn)
    void HP_Set_FN_HttpAgent_OnHeader(HP_HttpAgentListener l, HP_FN_Http_OnHeader fn)
    void HP_Set_FN_HttpAgent_OnHeadersComplete(HP_HttpAgentListener l, HP_FN_Http_OnHeadersComplete fn)
    void HP_Set_FN_HttpAgent_OnBody(HP_HttpAgentListener l, HP_FN_Http_OnBody fn)
    void HP_Set_FN_HttpAgent_OnChunkHeader(HP_HttpAgentListener l, HP_FN_Http_OnChunkHeader fn)
    void HP_Set_FN_HttpAgent_OnChunkComplete(HP_HttpAgentListener l, HP_FN_Http_OnChunkComplete fn)
    void HP_Set_FN_HttpAgent_OnMessageComplete(HP_HttpAgentListener l, HP_FN_Http_OnMessageComplete fn)
    void HP_Set_FN_HttpAgent_OnUpgrade(HP_HttpAgentListener l, HP_FN_Http_OnUpgrade fn)
    void HP_Set_FN_HttpAgent_OnWSMessageHeader(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageHeader fn)
    void HP_Set_FN_HttpAgent_OnWSMessageBody(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageBody fn)
    void HP_Set_FN_HttpAgent_OnWSMessageComplete(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageComplete fn)
    void HP_Set_FN_HttpAgent_OnParseError(HP_HttpAgentListener l, HP_FN_Http_OnParseError fn)
    void HP_Set_FN_HttpAgent_OnPrepareConnect(HP_HttpAgentListener l, HP_FN_Agent_OnPrepareConnect fn)
    void HP_Set_FN_HttpAgent_OnConnect(HP_HttpAgentListener l, HP_FN_Agent_OnConnect fn)
    void HP_Set_FN_HttpAgent_OnHandShake(HP_HttpAgentListener l, HP_FN_Agent_OnHandShake fn)
    void HP_Set_FN_HttpAgent_OnClose(HP_HttpAgentListener l, HP_FN_Agent_OnClose fn)
    void HP_Set_FN_HttpAgent_OnShutdown(HP_HttpAgentListener l, HP_FN_Agent_OnShutdown fn)

    void HP_Set_FN_HttpClient_OnMessageBegin(HP_HttpClientListener l, HP_FN_Http_OnMessageBegin fn)
    void HP_Set_FN_HttpClient_OnStatusLine(HP_HttpClientListener l, HP_FN_Http_OnStatusLine fn)
    void HP_Set_FN_HttpClient_OnHeader(HP_HttpClientListener l, HP_FN_Http_OnHeader fn)
    void HP_Set_FN_HttpClient_OnHeadersComplete(HP_HttpClientListener l, HP_FN_Http_OnHeadersComplete fn)
    void HP_Set_FN_HttpClient_OnBody(HP_HttpClientListener l, HP_FN_Http_OnBody fn)
    void HP_Set_FN_HttpClient_OnChunkHeader(HP_HttpClientListener l, HP_FN_Http_OnChunkHeader fn)
    void HP_Set_FN_HttpClient_OnChunkComplete(HP_HttpClientListener l, HP_FN_Http_OnChunkComplete fn)
    void HP_Set_FN_HttpClient_OnMessageComplete(HP_HttpClientListener l, HP_FN_Http_OnMessageComplete fn)
    void HP_Set_FN_HttpClient_OnUpgrade(HP_HttpClientListener l, HP_FN_Http_OnUpgrade fn)
    void HP_Set_FN_HttpClient_OnWSMessageHeader(HP_HttpClientListener l, HP_FN_Http_OnWSMessageHeader fn)
    void HP_Set_FN_HttpClient_OnWSMessageBody(HP_HttpClientListener l, HP_FN_Http_OnWSMessageBody fn)
    void HP_Set_FN_HttpClient_OnWSMessageComplete(HP_HttpClientListener l, HP_FN_Http_OnWSMessageComplete fn)
    void HP_Set_FN_HttpClient_OnParseError(HP_HttpClientListener l, HP_FN_Http_OnParseError fn)
    void HP_Set_FN_HttpClient_OnPrepareConnect(HP_HttpClientListener l, HP_FN_Client_OnPrepareConnect fn)
    void HP_Set_FN_HttpClient_OnConnect(HP_HttpClientListener l, HP_FN_Client_OnConnect fn)
    void HP_Set_FN_HttpClient_OnHandShake(HP_HttpClientListener l, HP_FN_Client_OnHandShake fn)
    void HP_Set_FN_HttpClient_OnClose(HP_HttpClientListener l, HP_FN_Client_OnClose fn)

    BOOL HP_HttpAgent_SendRequest(HP_HttpAgent pAgent, HP_CONNID dwConnID, LPCTSTR lpszMethod, LPCTSTR lpszPath, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength)
    USHORT HP_HttpAgent_GetStatusCode(HP_HttpAgent pAgent, HP_CONNID dwConnID)
    USHORT HP_HttpAgent_GetVersion(HP_HttpAgent pAgent, HP_CONNID dwConnID)
    BOOL HP_HttpAgent_IsKeepAlive(HP_HttpAgent pAgent, HP_CONNID dwConnID)
    ULONGLONG HP_HttpAgent_GetContentLength(HP_HttpAgent pAgent, HP_CONNID dwConnID)
    void HP_HttpAgent_SetUseCookie(HP_HttpAgent pAgent, BOOL bUseCookie)
    BOOL HP_HttpAgent_IsUseCookie(HP_HttpAgent pAgent)

    BOOL HP_HttpClient_SendRequest(HP_HttpClient pClient, LPCTSTR lpszMethod, LPCTSTR lpszPath, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength)
    USHORT HP_HttpClient_GetStatusCode(HP_HttpClient pClient)
    USHORT HP_HttpClient_GetVersion(HP_HttpClient pClient)
    BOOL HP_HttpClient_IsKeepAlive(HP_HttpClient pClient)
    ULONGLONG HP_HttpClient_GetContentLength(HP_HttpClient pClient)
    void HP_HttpClient_SetUseCookie(HP_HttpClient pClient, BOOL bUseCookie)
    BOOL HP_HttpClient_IsUseCookie(HP_HttpClient pClient)

    BOOL HP_HttpSyncClient_OpenUrl(HP_HttpSyncClient pClient, LPCTSTR lpszMethod, LPCTSTR lpszUrl, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength, BOOL bForceReconnect)
    BOOL HP_HttpSyncClient_CleanupRequestResult(HP_HttpSyncClient pClient)
    void HP_HttpSyncClient_SetConnectTimeout(HP_HttpSyncClient pClient, DWORD dwConnectTimeout)
    void HP_HttpSyncClient_SetRequestTimeout(HP_HttpSyncClient pClient, DWORD dwRequestTimeout)
    DWORD HP_HttpSyncClient_GetConnectTimeout(HP_HttpSyncClient pClient)
    DWORD HP_HttpSyncClient_GetRequestTimeout(HP_HttpSyncClient pClient)
    BOOL HP_HttpSyncClient_GetResponseBody(HP_HttpSyncClient pClient, LPCBYTE* lpszBody, int* piLength)


cdef extern from "hpsocket4c.h" nogil:
    # UDP (the Server and Client functions above apply to these objects)
    ctypedef enum En_HP_CastMode:
        CM_MULTICAST
        CM_BROADCAST
    void* Create_HP_UdpServer(void* pListener)
    void* Create_HP_UdpClient(void* pListener)
    void* Create_HP_UdpCast(void* pListener)
    void Destroy_HP_UdpServer(void* pServer)
    void Destroy_HP_UdpClient(void* pClient)
    void Destroy_HP_UdpCast(void* pCast)
    void* Create_HP_UdpServerListener()
    void* Create_HP_UdpClientListener()
    void* Create_HP_UdpCastListener()
    void Destroy_HP_UdpServerListener(void* pListener)
    void Destroy_HP_UdpClientListener(void* pListener)
    void Destroy_HP_UdpCastListener(void* pListener)
    void HP_UdpServer_SetMaxDatagramSize(void* pServer, DWORD dwMaxDatagramSize)
    DWORD HP_UdpServer_GetMaxDatagramSize(void* pServer)
    void HP_UdpServer_SetPostReceiveCount(void* pServer, DWORD dwPostReceiveCount)
    DWORD HP_UdpServer_GetPostReceiveCount(void* pServer)
    void HP_UdpServer_SetDetectAttempts(void* pServer, DWORD dwDetectAttempts)
    void HP_UdpServer_SetDetectInterval(void* pServer, DWORD dwDetectInterval)
    DWORD HP_UdpServer_GetDetectAttempts(void* pServer)
    DWORD HP_UdpServer_GetDetectInterval(void* pServer)
    void HP_UdpClient_SetMaxDatagramSize(void* pClient, DWORD dwMaxDatagramSize)
    DWORD HP_UdpClient_GetMaxDatagramSize(void* pClient)
    void HP_UdpClient_SetDetectAttempts(void* pClient, DWORD dwDetectAttempts)
    void HP_UdpClient_SetDetectInterval(void* pClient, DWORD dwDetectInterval)
    DWORD HP_UdpClient_GetDetectAttempts(void* pClient)
    DWORD HP_UdpClient_GetDetectInterval(void* pClient)
    void HP_UdpCast_SetMaxDatagramSize(void* pCast, DWORD dwMaxDatagramSize)
    DWORD HP_UdpCast_GetMaxDatagramSize(void* pCast)
    BOOL HP_UdpCast_GetRemoteAddress(void* pCast, TCHAR* lpszAddress, int* piAddressLen, USHORT* pusPort)
    void HP_UdpCast_SetReuseAddress(void* pCast, BOOL bReuseAddress)
    BOOL HP_UdpCast_IsReuseAddress(void* pCast)
    void HP_UdpCast_SetCastMode(void* pCast, En_HP_CastMode enCastMode)
    En_HP_CastMode HP_UdpCast_GetCastMode(void* pCast)
    void HP_UdpCast_SetMultiCastTtl(void* pCast, int iMCTtl)
    int HP_UdpCast_GetMultiCastTtl(void* pCast)
    void HP_UdpCast_SetMultiCastLoop(void* pCast, BOOL bMCLoop)
    BOOL HP_UdpCast_IsMultiCastLoop(void* pCast)
