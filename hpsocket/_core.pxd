# The extension types of hpsocket, for Cython code that cimports them:
#
#     from hpsocket._core cimport TcpServer
#
# Component holds what every HP-Socket object shares (native handles, the
# context the trampolines find, lifecycle); Server, Agent and Client add their
# role's API; the nine Tcp* classes add the receive model.

from cpython.object cimport PyObject
from hpsocket.includes.hpsocket4c cimport *
from hpsocket.includes.native cimport hps_ctx, hps_conn, hps_ops, hps_http_cfg

# A numeric setting: the native getter and setter (NULL where the class has none).
ctypedef struct Tunable:
    DWORD (*get)(void* handle) noexcept nogil
    void (*set)(void* handle, DWORD value) noexcept nogil

# Native functions of one class, so that role and model code is written once.
# ``native`` is the part the C helpers call themselves (hps_ops, _ctx.h).
ctypedef struct Ops:
    hps_ops native
    int role
    int model
    const char* name
    void* (*create_listener)() noexcept nogil
    void* (*create)(void* listener) noexcept nogil
    void (*destroy)(void* handle) noexcept nogil
    void (*destroy_listener)(void* listener) noexcept nogil
    BOOL (*stop)(void* handle) noexcept nogil
    En_HP_ServiceState (*get_state)(void* handle) noexcept nogil
    En_HP_SocketError (*get_last_error)(void* handle) noexcept nogil
    LPCTSTR (*get_last_error_desc)(void* handle) noexcept nogil
    BOOL (*send_small_file)(void* handle, HP_CONNID conn_id, LPCTSTR path, LPWSABUF head, LPWSABUF tail) noexcept nogil
    BOOL (*disconnect)(void* handle, HP_CONNID conn_id, BOOL force) noexcept nogil
    BOOL (*get_local_address)(void* handle, HP_CONNID conn_id, TCHAR* buf, int* length, USHORT* port) noexcept nogil
    BOOL (*get_remote_address)(void* handle, HP_CONNID conn_id, TCHAR* buf, int* length, USHORT* port) noexcept nogil
    BOOL (*pause_receive)(void* handle, HP_CONNID conn_id, BOOL pause) noexcept nogil
    BOOL (*is_paused)(void* handle, HP_CONNID conn_id, BOOL* paused) noexcept nogil
    BOOL (*get_connect_period)(void* handle, HP_CONNID conn_id, DWORD* period) noexcept nogil
    BOOL (*get_silence_period)(void* handle, HP_CONNID conn_id, DWORD* period) noexcept nogil
    BOOL (*disconnect_long)(void* handle, DWORD period, BOOL force) noexcept nogil
    BOOL (*disconnect_silence)(void* handle, DWORD period, BOOL force) noexcept nogil
    Tunable tunables[24]
    # The family: its event table ((index, names per role), ...), a
    # module-level tuple that lives as long as the module, and the function
    # that registers its callbacks with a listener before start.
    PyObject* events
    void (*register)(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil
    # Before the native Stop (and destruction): the family's own threads end.
    void (*family_stop)(hps_ctx* ctx) noexcept nogil


cdef class Component:
    cdef hps_ctx* _ctx
    cdef void* _listener
    cdef void* _handle
    cdef const Ops* _ops
    cdef tuple _fns            # the class's handler per event index, or None
    cdef object _stopped
    cdef object _lifecycle
    cdef bint _holding_self
    cdef object __weakref__

    cdef int _setup(self, const Ops* ops) except -1
    cdef int _register_callbacks(self) except -1
    cdef int _after_start(self, BOOL ok) except -1
    cdef int _release_running(self) except -1
    cdef int _stop_now(self) except -1
    cdef object _tunable_get(self, int index)
    cdef int _tunable_set(self, int index, object value) except -1
    cdef int _require_stopped(self, str what) except -1
    cdef En_HP_HandleResult _failed(self, int event, object conn_id, object exc) noexcept


cdef class _Connections(Component):
    pass

cdef class Server(_Connections):
    pass

cdef class Agent(_Connections):
    pass

cdef class Client(Component):
    pass

cdef class TcpServer(Server):
    pass

cdef class TcpPullServer(Server):
    pass

cdef class TcpPackServer(Server):
    pass

cdef class TcpAgent(Agent):
    pass

cdef class TcpPullAgent(Agent):
    pass

cdef class TcpPackAgent(Agent):
    pass

cdef class TcpClient(Client):
    pass

cdef class TcpPullClient(Client):
    pass

cdef class TcpPackClient(Client):
    pass

cdef class HttpServer(Server):
    cdef bytes _server_line    # b"Server: ...\r\n", or None
    cdef list _request_threads
    cdef hps_http_cfg* _cfg(self)
    cdef int _join_request_threads(self) except -1

cdef class HttpAgent(Agent):
    pass

cdef class HttpClient(Client):
    pass

cdef class HttpSyncClient:
    cdef void* _listener
    cdef void* _handle
    cdef hps_ctx* _ctx
    cdef object _lock
    cdef DWORD _request_ms
    cdef object __weakref__
