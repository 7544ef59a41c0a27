# The extension types of hpsocket, for Cython code that cimports them:
#
#     from hpsocket._core cimport TcpServer
#
# Component holds what every HP-Socket object shares (native handles, the
# context the trampolines find, lifecycle); Server, Agent and Client add their
# role's API; the nine Tcp* classes add the receive model.

from hpsocket.includes.hpsocket4c cimport *
from hpsocket.includes.native cimport hps_ctx, hps_conn, hps_ops

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
    Tunable tunables[16]


cdef class Component:
    cdef hps_ctx* _ctx
    cdef void* _listener
    cdef void* _handle
    cdef const Ops* _ops
    cdef object _fn_prepare
    cdef object _fn_accept
    cdef object _fn_connect
    cdef object _fn_handshake
    cdef object _fn_send
    cdef object _fn_receive
    cdef object _fn_close
    cdef object _fn_shutdown
    cdef object _fn_refused
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
    cdef int _send_size_ok(self, Py_ssize_t n) except -1
    cdef int _send(self, HP_CONNID conn_id, object data) except -1
    cdef int _send_packets(self, HP_CONNID conn_id, object buffers) except -1
    cdef int _send_file(self, HP_CONNID conn_id, object path, object head, object tail) except -1
    cdef object _address(self, HP_CONNID conn_id, bint remote)
    cdef object _pending(self, HP_CONNID conn_id)
    cdef int _pause(self, HP_CONNID conn_id, bint paused) except -1
    cdef int _set_extra(self, HP_CONNID conn_id, object obj) except -1
    cdef object _get_extra(self, HP_CONNID conn_id, object default)
    cdef object _fetch(self, HP_CONNID conn_id, Py_ssize_t n, bint peek)
    cdef int _fetch_into(self, HP_CONNID conn_id, object buffer, bint peek) except -1
    cdef En_HP_FetchResult _fetch_raw(self, HP_CONNID conn_id, BYTE* buf, int n, bint peek) noexcept
    cdef int _pack_check(self, Py_ssize_t length) except -1

    cdef En_HP_HandleResult _ev_prepare(self, HP_CONNID conn_id, UINT_PTR fd) noexcept
    cdef En_HP_HandleResult _ev_accept(self, HP_CONNID conn_id, UINT_PTR fd) noexcept
    cdef En_HP_HandleResult _ev_connect(self, HP_CONNID conn_id) noexcept
    cdef En_HP_HandleResult _ev_handshake(self, HP_CONNID conn_id) noexcept
    cdef En_HP_HandleResult _ev_send(self, HP_CONNID conn_id, const BYTE* data, int length) noexcept
    cdef En_HP_HandleResult _ev_receive(self, HP_CONNID conn_id, const BYTE* data, int length) noexcept
    cdef En_HP_HandleResult _ev_pack_receive(self, HP_CONNID conn_id, const unsigned char* data,
                                             size_t n, size_t* pos, int* err) noexcept
    cdef En_HP_HandleResult _ev_pull_receive(self, HP_CONNID conn_id, int length) noexcept
    cdef En_HP_HandleResult _ev_close(self, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept
    cdef En_HP_HandleResult _ev_shutdown(self) noexcept
    cdef En_HP_HandleResult _ev_refused(self, HP_CONNID conn_id) noexcept
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
