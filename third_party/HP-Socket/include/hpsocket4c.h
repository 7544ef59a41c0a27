/*
 * hpsocket4c.h - the C ABI of libhpsocket4c (HP-Socket 5.2.2.1, Linux) as the
 * hpsocket binding uses it: the TCP family (push, pull and pack servers,
 * agents and clients), written for this project from the exported symbols of
 * the shared library (nm -D) and the signatures they are called with.
 *
 * ABI notes (x86_64 and aarch64 Linux, GCC):
 *   - BOOL is a one-byte C++ bool (the library predates the switch to int);
 *   - HP_CONNID and UINT_PTR are unsigned long, DWORD is unsigned int;
 *   - every component and listener handle is an opaque pointer;
 *   - enums are int-sized; strings are UTF-8 "const char *".
 */
#ifndef HPSOCKET_HPSOCKET4C_H
#define HPSOCKET_HPSOCKET4C_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef bool           BOOL;
typedef unsigned char  BYTE;
typedef unsigned short USHORT;
typedef unsigned int   DWORD;
typedef unsigned long  UINT_PTR;
typedef unsigned long  HP_CONNID;
typedef void          *PVOID;
typedef char           TCHAR;
typedef const char    *LPCTSTR;

/* Scatter-gather buffer of SendPackets / SendSmallFile. */
typedef struct _WSABUF {
    unsigned int   len;
    unsigned char *buf;
} WSABUF, *LPWSABUF;

/* Opaque handles. */
typedef void *HP_Agent;
typedef void *HP_AgentListener;
typedef void *HP_Client;
typedef void *HP_ClientListener;
typedef void *HP_Server;
typedef void *HP_ServerListener;
typedef void *HP_TcpAgent;
typedef void *HP_TcpAgentListener;
typedef void *HP_TcpClient;
typedef void *HP_TcpClientListener;
typedef void *HP_TcpPackAgent;
typedef void *HP_TcpPackAgentListener;
typedef void *HP_TcpPackClient;
typedef void *HP_TcpPackClientListener;
typedef void *HP_TcpPackServer;
typedef void *HP_TcpPackServerListener;
typedef void *HP_TcpPullAgent;
typedef void *HP_TcpPullAgentListener;
typedef void *HP_TcpPullClient;
typedef void *HP_TcpPullClientListener;
typedef void *HP_TcpPullServer;
typedef void *HP_TcpPullServerListener;
typedef void *HP_TcpServer;
typedef void *HP_TcpServerListener;

typedef enum { SS_STARTING = 0, SS_STARTED = 1, SS_STOPPING = 2, SS_STOPPED = 3 } En_HP_ServiceState;
typedef enum { SO_UNKNOWN = 0, SO_ACCEPT = 1, SO_CONNECT = 2, SO_SEND = 3, SO_RECEIVE = 4, SO_CLOSE = 5 } En_HP_SocketOperation;
typedef enum { HR_OK = 0, HR_IGNORE = 1, HR_ERROR = 2 } En_HP_HandleResult;
typedef enum { FR_OK = 0, FR_LENGTH_TOO_LONG = 1, FR_DATA_NOT_FOUND = 2 } En_HP_FetchResult;
typedef enum { SP_PACK = 0, SP_SAFE = 1, SP_DIRECT = 2 } En_HP_SendPolicy;
typedef enum {
    SE_OK = 0, SE_ILLEGAL_STATE = 1, SE_INVALID_PARAM = 2, SE_SOCKET_CREATE = 3,
    SE_SOCKET_BIND = 4, SE_SOCKET_PREPARE = 5, SE_SOCKET_LISTEN = 6, SE_CP_CREATE = 7,
    SE_WORKER_THREAD_CREATE = 8, SE_DETECT_THREAD_CREATE = 9, SE_SOCKE_ATTACH_TO_CP = 10,
    SE_CONNECT_SERVER = 11, SE_NETWORK = 12, SE_DATA_PROC = 13, SE_DATA_SEND = 14,
    SE_SSL_ENV_NOT_READY = 101
} En_HP_SocketError;

/* Callbacks.  The library passes only the sender handle, no user data. */
typedef En_HP_HandleResult (*HP_FN_Server_OnPrepareListen)(HP_Server pSender, UINT_PTR soListen);
typedef En_HP_HandleResult (*HP_FN_Server_OnAccept)(HP_Server pSender, HP_CONNID dwConnID, UINT_PTR soClient);
typedef En_HP_HandleResult (*HP_FN_Server_OnHandShake)(HP_Server pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult (*HP_FN_Server_OnSend)(HP_Server pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Server_OnReceive)(HP_Server pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Server_OnPullReceive)(HP_Server pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult (*HP_FN_Server_OnClose)(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);
typedef En_HP_HandleResult (*HP_FN_Server_OnShutdown)(HP_Server pSender);
typedef En_HP_HandleResult (*HP_FN_Agent_OnPrepareConnect)(HP_Agent pSender, HP_CONNID dwConnID, UINT_PTR socket);
typedef En_HP_HandleResult (*HP_FN_Agent_OnConnect)(HP_Agent pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult (*HP_FN_Agent_OnHandShake)(HP_Agent pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult (*HP_FN_Agent_OnSend)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Agent_OnReceive)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Agent_OnPullReceive)(HP_Agent pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult (*HP_FN_Agent_OnClose)(HP_Agent pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);
typedef En_HP_HandleResult (*HP_FN_Agent_OnShutdown)(HP_Agent pSender);
typedef En_HP_HandleResult (*HP_FN_Client_OnPrepareConnect)(HP_Client pSender, HP_CONNID dwConnID, UINT_PTR socket);
typedef En_HP_HandleResult (*HP_FN_Client_OnConnect)(HP_Client pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult (*HP_FN_Client_OnHandShake)(HP_Client pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult (*HP_FN_Client_OnSend)(HP_Client pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Client_OnReceive)(HP_Client pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Client_OnPullReceive)(HP_Client pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult (*HP_FN_Client_OnClose)(HP_Client pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);

/* Library */
DWORD HP_GetHPSocketVersion(void);
LPCTSTR HP_GetSocketErrorDesc(En_HP_SocketError enCode);

/* Construction and destruction */
HP_TcpAgent Create_HP_TcpAgent(HP_TcpAgentListener pListener);
HP_TcpAgentListener Create_HP_TcpAgentListener(void);
HP_TcpClient Create_HP_TcpClient(HP_TcpClientListener pListener);
HP_TcpClientListener Create_HP_TcpClientListener(void);
HP_TcpPackAgent Create_HP_TcpPackAgent(HP_TcpAgentListener pListener);
HP_TcpPackAgentListener Create_HP_TcpPackAgentListener(void);
HP_TcpPackClient Create_HP_TcpPackClient(HP_TcpClientListener pListener);
HP_TcpPackClientListener Create_HP_TcpPackClientListener(void);
HP_TcpPackServer Create_HP_TcpPackServer(HP_TcpServerListener pListener);
HP_TcpPackServerListener Create_HP_TcpPackServerListener(void);
HP_TcpPullAgent Create_HP_TcpPullAgent(HP_TcpPullAgentListener pListener);
HP_TcpPullAgentListener Create_HP_TcpPullAgentListener(void);
HP_TcpPullClient Create_HP_TcpPullClient(HP_TcpPullClientListener pListener);
HP_TcpPullClientListener Create_HP_TcpPullClientListener(void);
HP_TcpPullServer Create_HP_TcpPullServer(HP_TcpPullServerListener pListener);
HP_TcpPullServerListener Create_HP_TcpPullServerListener(void);
HP_TcpServer Create_HP_TcpServer(HP_TcpServerListener pListener);
HP_TcpServerListener Create_HP_TcpServerListener(void);
void Destroy_HP_TcpAgent(HP_TcpAgent pAgent);
void Destroy_HP_TcpAgentListener(HP_TcpAgentListener pListener);
void Destroy_HP_TcpClient(HP_TcpClient pClient);
void Destroy_HP_TcpClientListener(HP_TcpClientListener pListener);
void Destroy_HP_TcpPackAgent(HP_TcpPackAgent pAgent);
void Destroy_HP_TcpPackAgentListener(HP_TcpPackAgentListener pListener);
void Destroy_HP_TcpPackClient(HP_TcpPackClient pClient);
void Destroy_HP_TcpPackClientListener(HP_TcpPackClientListener pListener);
void Destroy_HP_TcpPackServer(HP_TcpPackServer pServer);
void Destroy_HP_TcpPackServerListener(HP_TcpPackServerListener pListener);
void Destroy_HP_TcpPullAgent(HP_TcpPullAgent pAgent);
void Destroy_HP_TcpPullAgentListener(HP_TcpPullAgentListener pListener);
void Destroy_HP_TcpPullClient(HP_TcpPullClient pClient);
void Destroy_HP_TcpPullClientListener(HP_TcpPullClientListener pListener);
void Destroy_HP_TcpPullServer(HP_TcpPullServer pServer);
void Destroy_HP_TcpPullServerListener(HP_TcpPullServerListener pListener);
void Destroy_HP_TcpServer(HP_TcpServer pServer);
void Destroy_HP_TcpServerListener(HP_TcpServerListener pListener);

/* Callback registration */
void HP_Set_FN_Agent_OnClose(HP_AgentListener pListener, HP_FN_Agent_OnClose fn);
void HP_Set_FN_Agent_OnConnect(HP_AgentListener pListener, HP_FN_Agent_OnConnect fn);
void HP_Set_FN_Agent_OnHandShake(HP_AgentListener pListener, HP_FN_Agent_OnHandShake fn);
void HP_Set_FN_Agent_OnPrepareConnect(HP_AgentListener pListener, HP_FN_Agent_OnPrepareConnect fn);
void HP_Set_FN_Agent_OnPullReceive(HP_AgentListener pListener, HP_FN_Agent_OnPullReceive fn);
void HP_Set_FN_Agent_OnReceive(HP_AgentListener pListener, HP_FN_Agent_OnReceive fn);
void HP_Set_FN_Agent_OnSend(HP_AgentListener pListener, HP_FN_Agent_OnSend fn);
void HP_Set_FN_Agent_OnShutdown(HP_AgentListener pListener, HP_FN_Agent_OnShutdown fn);
void HP_Set_FN_Client_OnClose(HP_ClientListener pListener, HP_FN_Client_OnClose fn);
void HP_Set_FN_Client_OnConnect(HP_ClientListener pListener, HP_FN_Client_OnConnect fn);
void HP_Set_FN_Client_OnHandShake(HP_ClientListener pListener, HP_FN_Client_OnHandShake fn);
void HP_Set_FN_Client_OnPrepareConnect(HP_ClientListener pListener, HP_FN_Client_OnPrepareConnect fn);
void HP_Set_FN_Client_OnPullReceive(HP_ClientListener pListener, HP_FN_Client_OnPullReceive fn);
void HP_Set_FN_Client_OnReceive(HP_ClientListener pListener, HP_FN_Client_OnReceive fn);
void HP_Set_FN_Client_OnSend(HP_ClientListener pListener, HP_FN_Client_OnSend fn);
void HP_Set_FN_Server_OnAccept(HP_ServerListener pListener, HP_FN_Server_OnAccept fn);
void HP_Set_FN_Server_OnClose(HP_ServerListener pListener, HP_FN_Server_OnClose fn);
void HP_Set_FN_Server_OnHandShake(HP_ServerListener pListener, HP_FN_Server_OnHandShake fn);
void HP_Set_FN_Server_OnPrepareListen(HP_ServerListener pListener, HP_FN_Server_OnPrepareListen fn);
void HP_Set_FN_Server_OnPullReceive(HP_ServerListener pListener, HP_FN_Server_OnPullReceive fn);
void HP_Set_FN_Server_OnReceive(HP_ServerListener pListener, HP_FN_Server_OnReceive fn);
void HP_Set_FN_Server_OnSend(HP_ServerListener pListener, HP_FN_Server_OnSend fn);
void HP_Set_FN_Server_OnShutdown(HP_ServerListener pListener, HP_FN_Server_OnShutdown fn);

/* Server (any model) */
BOOL HP_Server_Disconnect(HP_Server pServer, HP_CONNID dwConnID, BOOL bForce);
BOOL HP_Server_DisconnectLongConnections(HP_Server pServer, DWORD dwPeriod, BOOL bForce);
BOOL HP_Server_DisconnectSilenceConnections(HP_Server pServer, DWORD dwPeriod, BOOL bForce);
BOOL HP_Server_GetAllConnectionIDs(HP_Server pServer, HP_CONNID pIDs[], DWORD* pdwCount);
BOOL HP_Server_GetConnectPeriod(HP_Server pServer, HP_CONNID dwConnID, DWORD* pdwPeriod);
DWORD HP_Server_GetConnectionCount(HP_Server pServer);
BOOL HP_Server_GetConnectionExtra(HP_Server pServer, HP_CONNID dwConnID, PVOID* ppExtra);
DWORD HP_Server_GetFreeBufferObjHold(HP_Server pServer);
DWORD HP_Server_GetFreeBufferObjPool(HP_Server pServer);
DWORD HP_Server_GetFreeSocketObjHold(HP_Server pServer);
DWORD HP_Server_GetFreeSocketObjLockTime(HP_Server pServer);
DWORD HP_Server_GetFreeSocketObjPool(HP_Server pServer);
En_HP_SocketError HP_Server_GetLastError(HP_Server pServer);
LPCTSTR HP_Server_GetLastErrorDesc(HP_Server pServer);
BOOL HP_Server_GetListenAddress(HP_Server pServer, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
BOOL HP_Server_GetLocalAddress(HP_Server pServer, HP_CONNID dwConnID, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
DWORD HP_Server_GetMaxConnectionCount(HP_Server pServer);
BOOL HP_Server_GetPendingDataLength(HP_Server pServer, HP_CONNID dwConnID, int* piPending);
BOOL HP_Server_GetRemoteAddress(HP_Server pServer, HP_CONNID dwConnID, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
En_HP_SendPolicy HP_Server_GetSendPolicy(HP_Server pServer);
BOOL HP_Server_GetSilencePeriod(HP_Server pServer, HP_CONNID dwConnID, DWORD* pdwPeriod);
En_HP_ServiceState HP_Server_GetState(HP_Server pServer);
DWORD HP_Server_GetWorkerThreadCount(HP_Server pServer);
BOOL HP_Server_HasStarted(HP_Server pServer);
BOOL HP_Server_IsMarkSilence(HP_Server pServer);
BOOL HP_Server_IsPauseReceive(HP_Server pServer, HP_CONNID dwConnID, BOOL* pbPaused);
BOOL HP_Server_IsSecure(HP_Server pServer);
BOOL HP_Server_PauseReceive(HP_Server pServer, HP_CONNID dwConnID, BOOL bPause);
BOOL HP_Server_Send(HP_Server pServer, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength);
BOOL HP_Server_SendPackets(HP_Server pServer, HP_CONNID dwConnID, const WSABUF pBuffers[], int iCount);
BOOL HP_Server_SendPart(HP_Server pServer, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset);
BOOL HP_Server_SetConnectionExtra(HP_Server pServer, HP_CONNID dwConnID, PVOID pExtra);
void HP_Server_SetFreeBufferObjHold(HP_Server pServer, DWORD dwFreeBufferObjHold);
void HP_Server_SetFreeBufferObjPool(HP_Server pServer, DWORD dwFreeBufferObjPool);
void HP_Server_SetFreeSocketObjHold(HP_Server pServer, DWORD dwFreeSocketObjHold);
void HP_Server_SetFreeSocketObjLockTime(HP_Server pServer, DWORD dwFreeSocketObjLockTime);
void HP_Server_SetFreeSocketObjPool(HP_Server pServer, DWORD dwFreeSocketObjPool);
void HP_Server_SetMarkSilence(HP_Server pServer, BOOL bMarkSilence);
void HP_Server_SetMaxConnectionCount(HP_Server pServer, DWORD dwMaxConnectionCount);
void HP_Server_SetSendPolicy(HP_Server pServer, En_HP_SendPolicy enSendPolicy);
void HP_Server_SetWorkerThreadCount(HP_Server pServer, DWORD dwWorkerThreadCount);
BOOL HP_Server_Start(HP_Server pServer, LPCTSTR lpszBindAddress, USHORT usPort);
BOOL HP_Server_Stop(HP_Server pServer);

/* TCP server */
DWORD HP_TcpServer_GetAcceptSocketCount(HP_TcpServer pServer);
DWORD HP_TcpServer_GetKeepAliveInterval(HP_TcpServer pServer);
DWORD HP_TcpServer_GetKeepAliveTime(HP_TcpServer pServer);
DWORD HP_TcpServer_GetSocketBufferSize(HP_TcpServer pServer);
DWORD HP_TcpServer_GetSocketListenQueue(HP_TcpServer pServer);
BOOL HP_TcpServer_SendSmallFile(HP_Server pServer, HP_CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead, const LPWSABUF pTail);
void HP_TcpServer_SetAcceptSocketCount(HP_TcpServer pServer, DWORD dwAcceptSocketCount);
void HP_TcpServer_SetKeepAliveInterval(HP_TcpServer pServer, DWORD dwKeepAliveInterval);
void HP_TcpServer_SetKeepAliveTime(HP_TcpServer pServer, DWORD dwKeepAliveTime);
void HP_TcpServer_SetSocketBufferSize(HP_TcpServer pServer, DWORD dwSocketBufferSize);
void HP_TcpServer_SetSocketListenQueue(HP_TcpServer pServer, DWORD dwSocketListenQueue);

/* Agent (any model) */
BOOL HP_Agent_Connect(HP_Agent pAgent, LPCTSTR lpszRemoteAddress, USHORT usPort, HP_CONNID* pdwConnID);
BOOL HP_Agent_ConnectWithExtra(HP_Agent pAgent, LPCTSTR lpszRemoteAddress, USHORT usPort, HP_CONNID* pdwConnID, PVOID pExtra);
BOOL HP_Agent_Disconnect(HP_Agent pAgent, HP_CONNID dwConnID, BOOL bForce);
BOOL HP_Agent_DisconnectLongConnections(HP_Agent pAgent, DWORD dwPeriod, BOOL bForce);
BOOL HP_Agent_DisconnectSilenceConnections(HP_Agent pAgent, DWORD dwPeriod, BOOL bForce);
BOOL HP_Agent_GetAllConnectionIDs(HP_Agent pAgent, HP_CONNID pIDs[], DWORD* pdwCount);
BOOL HP_Agent_GetConnectPeriod(HP_Agent pAgent, HP_CONNID dwConnID, DWORD* pdwPeriod);
DWORD HP_Agent_GetConnectionCount(HP_Agent pAgent);
BOOL HP_Agent_GetConnectionExtra(HP_Agent pAgent, HP_CONNID dwConnID, PVOID* ppExtra);
DWORD HP_Agent_GetFreeBufferObjHold(HP_Agent pAgent);
DWORD HP_Agent_GetFreeBufferObjPool(HP_Agent pAgent);
DWORD HP_Agent_GetFreeSocketObjHold(HP_Agent pAgent);
DWORD HP_Agent_GetFreeSocketObjLockTime(HP_Agent pAgent);
DWORD HP_Agent_GetFreeSocketObjPool(HP_Agent pAgent);
En_HP_SocketError HP_Agent_GetLastError(HP_Agent pAgent);
LPCTSTR HP_Agent_GetLastErrorDesc(HP_Agent pAgent);
BOOL HP_Agent_GetLocalAddress(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
DWORD HP_Agent_GetMaxConnectionCount(HP_Agent pAgent);
BOOL HP_Agent_GetPendingDataLength(HP_Agent pAgent, HP_CONNID dwConnID, int* piPending);
BOOL HP_Agent_GetRemoteAddress(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
BOOL HP_Agent_GetRemoteHost(HP_Agent pAgent, HP_CONNID dwConnID, TCHAR lpszHost[], int* piHostLen, USHORT* pusPort);
En_HP_SendPolicy HP_Agent_GetSendPolicy(HP_Agent pAgent);
BOOL HP_Agent_GetSilencePeriod(HP_Agent pAgent, HP_CONNID dwConnID, DWORD* pdwPeriod);
En_HP_ServiceState HP_Agent_GetState(HP_Agent pAgent);
DWORD HP_Agent_GetWorkerThreadCount(HP_Agent pAgent);
BOOL HP_Agent_HasStarted(HP_Agent pAgent);
BOOL HP_Agent_IsMarkSilence(HP_Agent pAgent);
BOOL HP_Agent_IsPauseReceive(HP_Agent pAgent, HP_CONNID dwConnID, BOOL* pbPaused);
BOOL HP_Agent_IsSecure(HP_Agent pAgent);
BOOL HP_Agent_PauseReceive(HP_Agent pAgent, HP_CONNID dwConnID, BOOL bPause);
BOOL HP_Agent_Send(HP_Agent pAgent, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength);
BOOL HP_Agent_SendPackets(HP_Agent pAgent, HP_CONNID dwConnID, const WSABUF pBuffers[], int iCount);
BOOL HP_Agent_SendPart(HP_Agent pAgent, HP_CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset);
BOOL HP_Agent_SetConnectionExtra(HP_Agent pAgent, HP_CONNID dwConnID, PVOID pExtra);
void HP_Agent_SetFreeBufferObjHold(HP_Agent pAgent, DWORD dwFreeBufferObjHold);
void HP_Agent_SetFreeBufferObjPool(HP_Agent pAgent, DWORD dwFreeBufferObjPool);
void HP_Agent_SetFreeSocketObjHold(HP_Agent pAgent, DWORD dwFreeSocketObjHold);
void HP_Agent_SetFreeSocketObjLockTime(HP_Agent pAgent, DWORD dwFreeSocketObjLockTime);
void HP_Agent_SetFreeSocketObjPool(HP_Agent pAgent, DWORD dwFreeSocketObjPool);
void HP_Agent_SetMarkSilence(HP_Agent pAgent, BOOL bMarkSilence);
void HP_Agent_SetMaxConnectionCount(HP_Agent pAgent, DWORD dwMaxConnectionCount);
void HP_Agent_SetSendPolicy(HP_Agent pAgent, En_HP_SendPolicy enSendPolicy);
void HP_Agent_SetWorkerThreadCount(HP_Agent pAgent, DWORD dwWorkerThreadCount);
BOOL HP_Agent_Start(HP_Agent pAgent, LPCTSTR lpszBindAddress, BOOL bAsyncConnect);
BOOL HP_Agent_Stop(HP_Agent pAgent);

/* TCP agent */
DWORD HP_TcpAgent_GetKeepAliveInterval(HP_TcpAgent pAgent);
DWORD HP_TcpAgent_GetKeepAliveTime(HP_TcpAgent pAgent);
DWORD HP_TcpAgent_GetSocketBufferSize(HP_TcpAgent pAgent);
BOOL HP_TcpAgent_IsReuseAddress(HP_TcpAgent pAgent);
BOOL HP_TcpAgent_SendSmallFile(HP_Agent pAgent, HP_CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead, const LPWSABUF pTail);
void HP_TcpAgent_SetKeepAliveInterval(HP_TcpAgent pAgent, DWORD dwKeepAliveInterval);
void HP_TcpAgent_SetKeepAliveTime(HP_TcpAgent pAgent, DWORD dwKeepAliveTime);
void HP_TcpAgent_SetReuseAddress(HP_TcpAgent pAgent, BOOL bReuseAddress);
void HP_TcpAgent_SetSocketBufferSize(HP_TcpAgent pAgent, DWORD dwSocketBufferSize);

/* Client (any model) */
HP_CONNID HP_Client_GetConnectionID(HP_Client pClient);
PVOID HP_Client_GetExtra(HP_Client pClient);
DWORD HP_Client_GetFreeBufferPoolHold(HP_Client pClient);
DWORD HP_Client_GetFreeBufferPoolSize(HP_Client pClient);
En_HP_SocketError HP_Client_GetLastError(HP_Client pClient);
LPCTSTR HP_Client_GetLastErrorDesc(HP_Client pClient);
BOOL HP_Client_GetLocalAddress(HP_Client pClient, TCHAR lpszAddress[], int* piAddressLen, USHORT* pusPort);
BOOL HP_Client_GetPendingDataLength(HP_Client pClient, int* piPending);
BOOL HP_Client_GetRemoteHost(HP_Client pClient, TCHAR lpszHost[], int* piHostLen, USHORT* pusPort);
En_HP_ServiceState HP_Client_GetState(HP_Client pClient);
BOOL HP_Client_HasStarted(HP_Client pClient);
BOOL HP_Client_IsPauseReceive(HP_Client pClient, BOOL* pbPaused);
BOOL HP_Client_IsSecure(HP_Client pClient);
BOOL HP_Client_PauseReceive(HP_Client pClient, BOOL bPause);
BOOL HP_Client_Send(HP_Client pClient, const BYTE* pBuffer, int iLength);
BOOL HP_Client_SendPackets(HP_Client pClient, const WSABUF pBuffers[], int iCount);
BOOL HP_Client_SendPart(HP_Client pClient, const BYTE* pBuffer, int iLength, int iOffset);
void HP_Client_SetExtra(HP_Client pClient, PVOID pExtra);
void HP_Client_SetFreeBufferPoolHold(HP_Client pClient, DWORD dwFreeBufferPoolHold);
void HP_Client_SetFreeBufferPoolSize(HP_Client pClient, DWORD dwFreeBufferPoolSize);
BOOL HP_Client_Start(HP_Client pClient, LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect);
BOOL HP_Client_StartWithBindAddress(HP_Client pClient, LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect, LPCTSTR lpszBindAddress);
BOOL HP_Client_Stop(HP_Client pClient);

/* TCP client */
DWORD HP_TcpClient_GetKeepAliveInterval(HP_TcpClient pClient);
DWORD HP_TcpClient_GetKeepAliveTime(HP_TcpClient pClient);
DWORD HP_TcpClient_GetSocketBufferSize(HP_TcpClient pClient);
BOOL HP_TcpClient_SendSmallFile(HP_Client pClient, LPCTSTR lpszFileName, const LPWSABUF pHead, const LPWSABUF pTail);
void HP_TcpClient_SetKeepAliveInterval(HP_TcpClient pClient, DWORD dwKeepAliveInterval);
void HP_TcpClient_SetKeepAliveTime(HP_TcpClient pClient, DWORD dwKeepAliveTime);
void HP_TcpClient_SetSocketBufferSize(HP_TcpClient pClient, DWORD dwSocketBufferSize);

/* Pull model */
En_HP_FetchResult HP_TcpPullAgent_Fetch(HP_TcpPullAgent pAgent, HP_CONNID dwConnID, BYTE* pData, int iLength);
En_HP_FetchResult HP_TcpPullAgent_Peek(HP_TcpPullAgent pAgent, HP_CONNID dwConnID, BYTE* pData, int iLength);
En_HP_FetchResult HP_TcpPullClient_Fetch(HP_TcpPullClient pClient, BYTE* pData, int iLength);
En_HP_FetchResult HP_TcpPullClient_Peek(HP_TcpPullClient pClient, BYTE* pData, int iLength);
En_HP_FetchResult HP_TcpPullServer_Fetch(HP_TcpPullServer pServer, HP_CONNID dwConnID, BYTE* pData, int iLength);
En_HP_FetchResult HP_TcpPullServer_Peek(HP_TcpPullServer pServer, HP_CONNID dwConnID, BYTE* pData, int iLength);

/* Pack model */
DWORD HP_TcpPackAgent_GetMaxPackSize(HP_TcpPackAgent pAgent);
USHORT HP_TcpPackAgent_GetPackHeaderFlag(HP_TcpPackAgent pAgent);
void HP_TcpPackAgent_SetMaxPackSize(HP_TcpPackAgent pAgent, DWORD dwMaxPackSize);
void HP_TcpPackAgent_SetPackHeaderFlag(HP_TcpPackAgent pAgent, USHORT usPackHeaderFlag);
DWORD HP_TcpPackClient_GetMaxPackSize(HP_TcpPackClient pClient);
USHORT HP_TcpPackClient_GetPackHeaderFlag(HP_TcpPackClient pClient);
void HP_TcpPackClient_SetMaxPackSize(HP_TcpPackClient pClient, DWORD dwMaxPackSize);
void HP_TcpPackClient_SetPackHeaderFlag(HP_TcpPackClient pClient, USHORT usPackHeaderFlag);
DWORD HP_TcpPackServer_GetMaxPackSize(HP_TcpPackServer pServer);
USHORT HP_TcpPackServer_GetPackHeaderFlag(HP_TcpPackServer pServer);
void HP_TcpPackServer_SetMaxPackSize(HP_TcpPackServer pServer, DWORD dwMaxPackSize);
void HP_TcpPackServer_SetPackHeaderFlag(HP_TcpPackServer pServer, USHORT usPackHeaderFlag);

/* ------------------------------------------------------------------ */
/* The HTTP family (HttpServer, HttpAgent, HttpClient, HttpSyncClient).
 * Their handles are also Server/Agent/Client handles: the HP_Server_*,
 * HP_Agent_*, HP_Client_* and HP_Tcp*_* functions apply to them. */

typedef unsigned long long ULONGLONG;
typedef const BYTE *LPCBYTE;
typedef void *HP_HttpServer;
typedef void *HP_HttpServerListener;
typedef void *HP_HttpAgent;
typedef void *HP_HttpAgentListener;
typedef void *HP_HttpClient;
typedef void *HP_HttpClientListener;
typedef void *HP_HttpSyncClient;

/* One header (also a cookie or a parameter): two UTF-8 strings. */
typedef struct { LPCTSTR name; LPCTSTR value; } HP_THeader;

typedef enum { HV_1_0 = 1, HV_1_1 = 257 } En_HP_HttpVersion;
typedef enum {
    HUF_SCHEMA = 0, HUF_HOST = 1, HUF_PORT = 2, HUF_PATH = 3, HUF_QUERY = 4,
    HUF_FRAGMENT = 5, HUF_USERINFO = 6, HUF_MAX = 7
} En_HP_HttpUrlField;
typedef enum { HPR_OK = 0, HPR_SKIP_BODY = 1, HPR_UPGRADE = 2, HPR_ERROR = -1 } En_HP_HttpParseResult;
typedef enum { HUT_NONE = 0, HUT_WEB_SOCKET = 1, HUT_HTTP_TUNNEL = 2, HUT_UNKNOWN = -1 } En_HP_HttpUpgradeType;

/* Parser events; the same shape for servers, agents and clients. */
typedef En_HP_HttpParseResult (*HP_FN_Http_OnMessageBegin)(void *pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnRequestLine)(void *pSender, HP_CONNID dwConnID, LPCTSTR lpszMethod, LPCTSTR lpszUrl);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnStatusLine)(void *pSender, HP_CONNID dwConnID, USHORT usStatusCode, LPCTSTR lpszDesc);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnHeader)(void *pSender, HP_CONNID dwConnID, LPCTSTR lpszName, LPCTSTR lpszValue);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnHeadersComplete)(void *pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnBody)(void *pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnChunkHeader)(void *pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnChunkComplete)(void *pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnMessageComplete)(void *pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnUpgrade)(void *pSender, HP_CONNID dwConnID, En_HP_HttpUpgradeType enUpgradeType);
typedef En_HP_HttpParseResult (*HP_FN_Http_OnParseError)(void *pSender, HP_CONNID dwConnID, int iErrorCode, LPCTSTR lpszErrorDesc);
typedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageHeader)(void *pSender, HP_CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], ULONGLONG ullBodyLen);
typedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageBody)(void *pSender, HP_CONNID dwConnID, const BYTE *pData, int iLength);
typedef En_HP_HandleResult (*HP_FN_Http_OnWSMessageComplete)(void *pSender, HP_CONNID dwConnID);

HP_HttpServer Create_HP_HttpServer(HP_HttpServerListener pListener);
HP_HttpServerListener Create_HP_HttpServerListener(void);
void Destroy_HP_HttpServer(HP_HttpServer pServer);
void Destroy_HP_HttpServerListener(HP_HttpServerListener pListener);
HP_HttpAgent Create_HP_HttpAgent(HP_HttpAgentListener pListener);
HP_HttpAgentListener Create_HP_HttpAgentListener(void);
void Destroy_HP_HttpAgent(HP_HttpAgent pAgent);
void Destroy_HP_HttpAgentListener(HP_HttpAgentListener pListener);
HP_HttpClient Create_HP_HttpClient(HP_HttpClientListener pListener);
HP_HttpClientListener Create_HP_HttpClientListener(void);
void Destroy_HP_HttpClient(HP_HttpClient pClient);
void Destroy_HP_HttpClientListener(HP_HttpClientListener pListener);
HP_HttpSyncClient Create_HP_HttpSyncClient(HP_HttpClientListener pListener);
void Destroy_HP_HttpSyncClient(HP_HttpSyncClient pClient);

/* Callback registration: HTTP server */
void HP_Set_FN_HttpServer_OnMessageBegin(HP_HttpServerListener l, HP_FN_Http_OnMessageBegin fn);
void HP_Set_FN_HttpServer_OnRequestLine(HP_HttpServerListener l, HP_FN_Http_OnRequestLine fn);
void HP_Set_FN_HttpServer_OnHeader(HP_HttpServerListener l, HP_FN_Http_OnHeader fn);
void HP_Set_FN_HttpServer_OnHeadersComplete(HP_HttpServerListener l, HP_FN_Http_OnHeadersComplete fn);
void HP_Set_FN_HttpServer_OnBody(HP_HttpServerListener l, HP_FN_Http_OnBody fn);
void HP_Set_FN_HttpServer_OnChunkHeader(HP_HttpServerListener l, HP_FN_Http_OnChunkHeader fn);
void HP_Set_FN_HttpServer_OnChunkComplete(HP_HttpServerListener l, HP_FN_Http_OnChunkComplete fn);
void HP_Set_FN_HttpServer_OnMessageComplete(HP_HttpServerListener l, HP_FN_Http_OnMessageComplete fn);
void HP_Set_FN_HttpServer_OnUpgrade(HP_HttpServerListener l, HP_FN_Http_OnUpgrade fn);
void HP_Set_FN_HttpServer_OnParseError(HP_HttpServerListener l, HP_FN_Http_OnParseError fn);
void HP_Set_FN_HttpServer_OnWSMessageHeader(HP_HttpServerListener l, HP_FN_Http_OnWSMessageHeader fn);
void HP_Set_FN_HttpServer_OnWSMessageBody(HP_HttpServerListener l, HP_FN_Http_OnWSMessageBody fn);
void HP_Set_FN_HttpServer_OnWSMessageComplete(HP_HttpServerListener l, HP_FN_Http_OnWSMessageComplete fn);
void HP_Set_FN_HttpServer_OnPrepareListen(HP_HttpServerListener l, HP_FN_Server_OnPrepareListen fn);
void HP_Set_FN_HttpServer_OnAccept(HP_HttpServerListener l, HP_FN_Server_OnAccept fn);
void HP_Set_FN_HttpServer_OnHandShake(HP_HttpServerListener l, HP_FN_Server_OnHandShake fn);
void HP_Set_FN_HttpServer_OnReceive(HP_HttpServerListener l, HP_FN_Server_OnReceive fn);
void HP_Set_FN_HttpServer_OnSend(HP_HttpServerListener l, HP_FN_Server_OnSend fn);
void HP_Set_FN_HttpServer_OnClose(HP_HttpServerListener l, HP_FN_Server_OnClose fn);
void HP_Set_FN_HttpServer_OnShutdown(HP_HttpServerListener l, HP_FN_Server_OnShutdown fn);

/* Callback registration: HTTP agent and client */
void HP_Set_FN_HttpAgent_OnMessageBegin(HP_HttpAgentListener l, HP_FN_Http_OnMessageBegin fn);
void HP_Set_FN_HttpAgent_OnStatusLine(HP_HttpAgentListener l, HP_FN_Http_OnStatusLine fn);
void HP_Set_FN_HttpAgent_OnHeader(HP_HttpAgentListener l, HP_FN_Http_OnHeader fn);
void HP_Set_FN_HttpAgent_OnHeadersComplete(HP_HttpAgentListener l, HP_FN_Http_OnHeadersComplete fn);
void HP_Set_FN_HttpAgent_OnBody(HP_HttpAgentListener l, HP_FN_Http_OnBody fn);
void HP_Set_FN_HttpAgent_OnChunkHeader(HP_HttpAgentListener l, HP_FN_Http_OnChunkHeader fn);
void HP_Set_FN_HttpAgent_OnChunkComplete(HP_HttpAgentListener l, HP_FN_Http_OnChunkComplete fn);
void HP_Set_FN_HttpAgent_OnMessageComplete(HP_HttpAgentListener l, HP_FN_Http_OnMessageComplete fn);
void HP_Set_FN_HttpAgent_OnUpgrade(HP_HttpAgentListener l, HP_FN_Http_OnUpgrade fn);
void HP_Set_FN_HttpAgent_OnParseError(HP_HttpAgentListener l, HP_FN_Http_OnParseError fn);
void HP_Set_FN_HttpAgent_OnWSMessageHeader(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageHeader fn);
void HP_Set_FN_HttpAgent_OnWSMessageBody(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageBody fn);
void HP_Set_FN_HttpAgent_OnWSMessageComplete(HP_HttpAgentListener l, HP_FN_Http_OnWSMessageComplete fn);
void HP_Set_FN_HttpAgent_OnPrepareConnect(HP_HttpAgentListener l, HP_FN_Agent_OnPrepareConnect fn);
void HP_Set_FN_HttpAgent_OnConnect(HP_HttpAgentListener l, HP_FN_Agent_OnConnect fn);
void HP_Set_FN_HttpAgent_OnHandShake(HP_HttpAgentListener l, HP_FN_Agent_OnHandShake fn);
void HP_Set_FN_HttpAgent_OnReceive(HP_HttpAgentListener l, HP_FN_Agent_OnReceive fn);
void HP_Set_FN_HttpAgent_OnSend(HP_HttpAgentListener l, HP_FN_Agent_OnSend fn);
void HP_Set_FN_HttpAgent_OnClose(HP_HttpAgentListener l, HP_FN_Agent_OnClose fn);
void HP_Set_FN_HttpAgent_OnShutdown(HP_HttpAgentListener l, HP_FN_Agent_OnShutdown fn);
void HP_Set_FN_HttpClient_OnMessageBegin(HP_HttpClientListener l, HP_FN_Http_OnMessageBegin fn);
void HP_Set_FN_HttpClient_OnStatusLine(HP_HttpClientListener l, HP_FN_Http_OnStatusLine fn);
void HP_Set_FN_HttpClient_OnHeader(HP_HttpClientListener l, HP_FN_Http_OnHeader fn);
void HP_Set_FN_HttpClient_OnHeadersComplete(HP_HttpClientListener l, HP_FN_Http_OnHeadersComplete fn);
void HP_Set_FN_HttpClient_OnBody(HP_HttpClientListener l, HP_FN_Http_OnBody fn);
void HP_Set_FN_HttpClient_OnChunkHeader(HP_HttpClientListener l, HP_FN_Http_OnChunkHeader fn);
void HP_Set_FN_HttpClient_OnChunkComplete(HP_HttpClientListener l, HP_FN_Http_OnChunkComplete fn);
void HP_Set_FN_HttpClient_OnMessageComplete(HP_HttpClientListener l, HP_FN_Http_OnMessageComplete fn);
void HP_Set_FN_HttpClient_OnUpgrade(HP_HttpClientListener l, HP_FN_Http_OnUpgrade fn);
void HP_Set_FN_HttpClient_OnParseError(HP_HttpClientListener l, HP_FN_Http_OnParseError fn);
void HP_Set_FN_HttpClient_OnWSMessageHeader(HP_HttpClientListener l, HP_FN_Http_OnWSMessageHeader fn);
void HP_Set_FN_HttpClient_OnWSMessageBody(HP_HttpClientListener l, HP_FN_Http_OnWSMessageBody fn);
void HP_Set_FN_HttpClient_OnWSMessageComplete(HP_HttpClientListener l, HP_FN_Http_OnWSMessageComplete fn);
void HP_Set_FN_HttpClient_OnPrepareConnect(HP_HttpClientListener l, HP_FN_Client_OnPrepareConnect fn);
void HP_Set_FN_HttpClient_OnConnect(HP_HttpClientListener l, HP_FN_Client_OnConnect fn);
void HP_Set_FN_HttpClient_OnHandShake(HP_HttpClientListener l, HP_FN_Client_OnHandShake fn);
void HP_Set_FN_HttpClient_OnReceive(HP_HttpClientListener l, HP_FN_Client_OnReceive fn);
void HP_Set_FN_HttpClient_OnSend(HP_HttpClientListener l, HP_FN_Client_OnSend fn);
void HP_Set_FN_HttpClient_OnClose(HP_HttpClientListener l, HP_FN_Client_OnClose fn);

/* HTTP server.  SendResponse writes a second Content-Length for a header
 * named other than exactly "Content-Length", and a body on HEAD, 204 and
 * 101: hpsocket builds response heads itself and sends them raw. */
BOOL HP_HttpServer_SendResponse(HP_HttpServer pServer, HP_CONNID dwConnID, USHORT usStatusCode, LPCTSTR lpszDesc, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE *pData, int iLength);
BOOL HP_HttpServer_SendLocalFile(HP_HttpServer pServer, HP_CONNID dwConnID, LPCTSTR lpszFileName, USHORT usStatusCode, LPCTSTR lpszDesc, const HP_THeader lpHeaders[], int iHeaderCount);
BOOL HP_HttpServer_SendWSMessage(HP_HttpServer pServer, HP_CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], BYTE *pData, int iLength, ULONGLONG ullBodyLen);
BOOL HP_HttpServer_Release(HP_HttpServer pServer, HP_CONNID dwConnID);
void HP_HttpServer_SetReleaseDelay(HP_HttpServer pServer, DWORD dwReleaseDelay);
DWORD HP_HttpServer_GetReleaseDelay(HP_HttpServer pServer);
void HP_HttpServer_SetLocalVersion(HP_HttpServer pServer, En_HP_HttpVersion usHttpVersion);
En_HP_HttpVersion HP_HttpServer_GetLocalVersion(HP_HttpServer pServer);
LPCTSTR HP_HttpServer_GetMethod(HP_HttpServer pServer, HP_CONNID dwConnID);
LPCTSTR HP_HttpServer_GetHost(HP_HttpServer pServer, HP_CONNID dwConnID);
USHORT HP_HttpServer_GetUrlFieldSet(HP_HttpServer pServer, HP_CONNID dwConnID);
LPCTSTR HP_HttpServer_GetUrlField(HP_HttpServer pServer, HP_CONNID dwConnID, En_HP_HttpUrlField enField);
USHORT HP_HttpServer_GetVersion(HP_HttpServer pServer, HP_CONNID dwConnID);
BOOL HP_HttpServer_IsKeepAlive(HP_HttpServer pServer, HP_CONNID dwConnID);
BOOL HP_HttpServer_IsUpgrade(HP_HttpServer pServer, HP_CONNID dwConnID);
En_HP_HttpUpgradeType HP_HttpServer_GetUpgradeType(HP_HttpServer pServer, HP_CONNID dwConnID);
En_HP_HttpUpgradeType HP_HttpServer_GetUpgradeType(HP_HttpServer pServer, HP_CONNID dwConnID);
ULONGLONG HP_HttpServer_GetContentLength(HP_HttpServer pServer, HP_CONNID dwConnID);
LPCTSTR HP_HttpServer_GetContentType(HP_HttpServer pServer, HP_CONNID dwConnID);
LPCTSTR HP_HttpServer_GetTransferEncoding(HP_HttpServer pServer, HP_CONNID dwConnID);
USHORT HP_HttpServer_GetParseErrorCode(HP_HttpServer pServer, HP_CONNID dwConnID, LPCTSTR *lpszErrorDesc);
BOOL HP_HttpServer_GetHeader(HP_HttpServer pServer, HP_CONNID dwConnID, LPCTSTR lpszName, LPCTSTR *lpszValue);
BOOL HP_HttpServer_GetWSMessageState(HP_HttpServer pServer, HP_CONNID dwConnID, BOOL *lpbFinal, BYTE *lpiReserved, BYTE *lpiOperationCode, LPCBYTE *lpszMask, ULONGLONG *lpullBodyLen, ULONGLONG *lpullBodyRemain);

/* HTTP agent (takes a connection id) and client (does not) */
BOOL HP_HttpAgent_SendRequest(HP_HttpAgent pAgent, HP_CONNID dwConnID, LPCTSTR lpszMethod, LPCTSTR lpszPath, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE *pBody, int iLength);
BOOL HP_HttpAgent_SendWSMessage(HP_HttpAgent pAgent, HP_CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], BYTE *pData, int iLength, ULONGLONG ullBodyLen);
USHORT HP_HttpAgent_GetStatusCode(HP_HttpAgent pAgent, HP_CONNID dwConnID);
USHORT HP_HttpAgent_GetVersion(HP_HttpAgent pAgent, HP_CONNID dwConnID);
BOOL HP_HttpAgent_IsKeepAlive(HP_HttpAgent pAgent, HP_CONNID dwConnID);
BOOL HP_HttpAgent_IsUpgrade(HP_HttpAgent pAgent, HP_CONNID dwConnID);
ULONGLONG HP_HttpAgent_GetContentLength(HP_HttpAgent pAgent, HP_CONNID dwConnID);
USHORT HP_HttpAgent_GetParseErrorCode(HP_HttpAgent pAgent, HP_CONNID dwConnID, LPCTSTR *lpszErrorDesc);
void HP_HttpAgent_SetUseCookie(HP_HttpAgent pAgent, BOOL bUseCookie);
BOOL HP_HttpAgent_IsUseCookie(HP_HttpAgent pAgent);
BOOL HP_HttpClient_SendRequest(HP_HttpClient pClient, LPCTSTR lpszMethod, LPCTSTR lpszPath, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE *pBody, int iLength);
BOOL HP_HttpClient_SendWSMessage(HP_HttpClient pClient, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], BYTE *pData, int iLength, ULONGLONG ullBodyLen);
USHORT HP_HttpClient_GetStatusCode(HP_HttpClient pClient);
USHORT HP_HttpClient_GetVersion(HP_HttpClient pClient);
BOOL HP_HttpClient_IsKeepAlive(HP_HttpClient pClient);
BOOL HP_HttpClient_IsUpgrade(HP_HttpClient pClient);
ULONGLONG HP_HttpClient_GetContentLength(HP_HttpClient pClient);
USHORT HP_HttpClient_GetParseErrorCode(HP_HttpClient pClient, LPCTSTR *lpszErrorDesc);
void HP_HttpClient_SetUseCookie(HP_HttpClient pClient, BOOL bUseCookie);
BOOL HP_HttpClient_IsUseCookie(HP_HttpClient pClient);

/* HTTP sync client: blocking requests over an HttpClient */
BOOL HP_HttpSyncClient_OpenUrl(HP_HttpSyncClient pClient, LPCTSTR lpszMethod, LPCTSTR lpszUrl, const HP_THeader lpHeaders[], int iHeaderCount, const BYTE *pBody, int iLength, BOOL bForceReconnect);
BOOL HP_HttpSyncClient_CleanupRequestResult(HP_HttpSyncClient pClient);
void HP_HttpSyncClient_SetConnectTimeout(HP_HttpSyncClient pClient, DWORD dwConnectTimeout);
void HP_HttpSyncClient_SetRequestTimeout(HP_HttpSyncClient pClient, DWORD dwRequestTimeout);
DWORD HP_HttpSyncClient_GetConnectTimeout(HP_HttpSyncClient pClient);
DWORD HP_HttpSyncClient_GetRequestTimeout(HP_HttpSyncClient pClient);
BOOL HP_HttpSyncClient_GetResponseBody(HP_HttpSyncClient pClient, LPCBYTE *lpszBody, int *piLength);

/* UDP: server, client and cast (the generic Server and Client functions
 * apply to them; OnAccept's third argument is a sockaddr pointer here). */
typedef void *HP_UdpServer;
typedef void *HP_UdpServerListener;
typedef void *HP_UdpClient;
typedef void *HP_UdpClientListener;
typedef void *HP_UdpCast;
typedef void *HP_UdpCastListener;
typedef enum { CM_MULTICAST = 0, CM_BROADCAST = 1 } En_HP_CastMode;
HP_UdpServer Create_HP_UdpServer(HP_UdpServerListener pListener);
HP_UdpClient Create_HP_UdpClient(HP_UdpClientListener pListener);
HP_UdpCast Create_HP_UdpCast(HP_UdpCastListener pListener);
void Destroy_HP_UdpServer(HP_UdpServer pServer);
void Destroy_HP_UdpClient(HP_UdpClient pClient);
void Destroy_HP_UdpCast(HP_UdpCast pCast);
HP_UdpServerListener Create_HP_UdpServerListener(void);
HP_UdpClientListener Create_HP_UdpClientListener(void);
HP_UdpCastListener Create_HP_UdpCastListener(void);
void Destroy_HP_UdpServerListener(HP_UdpServerListener pListener);
void Destroy_HP_UdpClientListener(HP_UdpClientListener pListener);
void Destroy_HP_UdpCastListener(HP_UdpCastListener pListener);
void HP_UdpServer_SetMaxDatagramSize(HP_UdpServer pServer, DWORD dwMaxDatagramSize);
DWORD HP_UdpServer_GetMaxDatagramSize(HP_UdpServer pServer);
void HP_UdpServer_SetPostReceiveCount(HP_UdpServer pServer, DWORD dwPostReceiveCount);
DWORD HP_UdpServer_GetPostReceiveCount(HP_UdpServer pServer);
void HP_UdpServer_SetDetectAttempts(HP_UdpServer pServer, DWORD dwDetectAttempts);
void HP_UdpServer_SetDetectInterval(HP_UdpServer pServer, DWORD dwDetectInterval);
DWORD HP_UdpServer_GetDetectAttempts(HP_UdpServer pServer);
DWORD HP_UdpServer_GetDetectInterval(HP_UdpServer pServer);
void HP_UdpClient_SetMaxDatagramSize(HP_UdpClient pClient, DWORD dwMaxDatagramSize);
DWORD HP_UdpClient_GetMaxDatagramSize(HP_UdpClient pClient);
void HP_UdpClient_SetDetectAttempts(HP_UdpClient pClient, DWORD dwDetectAttempts);
void HP_UdpClient_SetDetectInterval(HP_UdpClient pClient, DWORD dwDetectInterval);
DWORD HP_UdpClient_GetDetectAttempts(HP_UdpClient pClient);
DWORD HP_UdpClient_GetDetectInterval(HP_UdpClient pClient);
void HP_UdpCast_SetMaxDatagramSize(HP_UdpCast pCast, DWORD dwMaxDatagramSize);
DWORD HP_UdpCast_GetMaxDatagramSize(HP_UdpCast pCast);
BOOL HP_UdpCast_GetRemoteAddress(HP_UdpCast pCast, TCHAR lpszAddress[], int *piAddressLen, USHORT *pusPort);
void HP_UdpCast_SetReuseAddress(HP_UdpCast pCast, BOOL bReuseAddress);
BOOL HP_UdpCast_IsReuseAddress(HP_UdpCast pCast);
void HP_UdpCast_SetCastMode(HP_UdpCast pCast, En_HP_CastMode enCastMode);
En_HP_CastMode HP_UdpCast_GetCastMode(HP_UdpCast pCast);
void HP_UdpCast_SetMultiCastTtl(HP_UdpCast pCast, int iMCTtl);
int HP_UdpCast_GetMultiCastTtl(HP_UdpCast pCast);
void HP_UdpCast_SetMultiCastLoop(HP_UdpCast pCast, BOOL bMCLoop);
BOOL HP_UdpCast_IsMultiCastLoop(HP_UdpCast pCast);

#ifdef __cplusplus
}
#endif

#endif /* HPSOCKET_HPSOCKET4C_H */
