# Declarations of hpsocket/_native.h: the GIL-free half of the trampolines.

from cpython.object cimport PyObject
from libc.stdint cimport uint32_t
from hpsocket.includes.hpsocket4c cimport UINT_PTR, BOOL, HP_CONNID, PVOID, WSABUF

cdef extern from "_native.h" nogil:
    ctypedef struct hps_conn:
        PyObject* extra
        int fd
        int close_error
        unsigned char* buf
        size_t head, tail

    ctypedef struct hps_ctx:
        void* sender
        PyObject* owner
        unsigned int mask
        int no_delay
        int direct_ok
        int role
        int model
        unsigned int pack_flag
        unsigned int pack_max
        int stop_requested
        hps_conn* client_conn
        int client_closed
        int listen_fd
        long live_conns
        long max_conns
        long refused
        BOOL (*get_conn_extra)(void*, HP_CONNID, PVOID*) noexcept nogil
        BOOL (*set_conn_extra)(void*, HP_CONNID, PVOID) noexcept nogil

    hps_ctx* hps_ctx_new()
    void hps_ctx_free(hps_ctx* ctx)
    void hps_lock(hps_ctx* ctx)
    void hps_unlock(hps_ctx* ctx)
    hps_conn* hps_conn_new()
    hps_conn* hps_conn_get(hps_ctx* ctx, HP_CONNID conn_id, int create, int* known)
    hps_conn* hps_conn_detach(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_conn_free(hps_conn* c)
    long hps_conn_append(hps_conn* c, const unsigned char* p, int n)
    int hps_conn_take(hps_conn* c, unsigned char* out, int n, int peek)
    void hps_conn_consume(hps_conn* c, size_t n)

    hps_ctx* hps_lookup(void* sender)
    int hps_register(void* sender, hps_ctx* ctx)
    void hps_unregister(void* sender)

    int hps_threadstate_init()
    void hps_pin_thread_state()
    void hps_enter_callback()
    void hps_leave_callback()
    int hps_in_callback()
    int hps_pin_enabled

    int hps_exiting()
    void hps_set_exiting()

    long hps_counter_live_native
    long hps_counter_in_flight
    long hps_counter_gil_free_skips
    long hps_counter_conn_records
    long hps_counter_pinned_states
    long hps_counter_direct_writes
    long hps_counter_direct_partial
    long hps_counter_direct_waits
    void hps_count(long* c, long d)
    long hps_read(long* c)
    void HPS_DEBUG_COUNT(long c, long d)

    void hps_set_nodelay(UINT_PTR fd)
    int hps_quiesce_listener(int listen_fd)
    void hps_conn_set_fd(hps_ctx* ctx, HP_CONNID conn_id, UINT_PTR fd)
    int hps_disconnect(hps_ctx* ctx, HP_CONNID conn_id, int force)

    # _direct_send.h
    ctypedef struct hps_owner:
        pass
    ctypedef BOOL (*hps_sendv_fn)(void*, HP_CONNID, const WSABUF*, int) noexcept nogil
    ctypedef BOOL (*hps_pending_fn)(void*, HP_CONNID, int*) noexcept nogil
    int hps_direct_send
    hps_owner hps_owner_enter(void* sender, HP_CONNID conn_id)
    void hps_owner_leave(hps_owner saved)
    int hps_is_owner(hps_ctx* ctx, void* sender, HP_CONNID conn_id)
    void hps_direct_forbid(hps_ctx* ctx, HP_CONNID conn_id)
    int hps_direct_init()
    void hps_out_flush_for(hps_ctx* ctx, void* sender, HP_CONNID conn_id)
    BOOL hps_send(hps_ctx* ctx, void* sender, HP_CONNID conn_id, WSABUF* bufs, int count,
                  hps_sendv_fn sendv, hps_pending_fn pending)

    # _pack.h
    unsigned int HPS_PACK_MAX_FLAG
    unsigned int HPS_PACK_MAX_SIZE
    unsigned int HPS_PACK_DEFAULT_SIZE
    uint32_t hps_pack_header(unsigned int flag, uint32_t length)
    int hps_pack_next(const unsigned char* data, size_t n, size_t* pos, unsigned int flag,
                      uint32_t max_size, const unsigned char** body, uint32_t* length)
