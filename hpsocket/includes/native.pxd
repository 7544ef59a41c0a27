# Declarations of hpsocket's C helpers (hpsocket/_*.h), one block per header
# as in pyzmq's _externs.pxd.  The headers form a DAG; see _base.h.

from cpython.object cimport PyObject
from libc.stdint cimport uint32_t
from hpsocket.includes.hpsocket4c cimport UINT_PTR, BOOL, DWORD, HP_CONNID, PVOID, WSABUF

cdef extern from "_base.h" nogil:
    enum:
        ROLE_SERVER "HPS_ROLE_SERVER"
        ROLE_AGENT "HPS_ROLE_AGENT"
        ROLE_CLIENT "HPS_ROLE_CLIENT"
    enum:
        MODEL_PUSH "HPS_MODEL_PUSH"
        MODEL_PULL "HPS_MODEL_PULL"
        MODEL_PACK "HPS_MODEL_PACK"
        MODEL_DATAGRAM "HPS_MODEL_DATAGRAM"
    enum:
        EVI_PREPARE "HPS_EVI_PREPARE"
        EVI_ACCEPT "HPS_EVI_ACCEPT"
        EVI_CONNECT "HPS_EVI_CONNECT"
        EVI_HANDSHAKE "HPS_EVI_HANDSHAKE"
        EVI_SEND "HPS_EVI_SEND"
        EVI_RECEIVE "HPS_EVI_RECEIVE"
        EVI_CLOSE "HPS_EVI_CLOSE"
        EVI_SHUTDOWN "HPS_EVI_SHUTDOWN"
        EVI_REFUSED "HPS_EVI_REFUSED"
        EVI_REQUEST "HPS_EVI_REQUEST"
        EVI_RESPONSE "HPS_EVI_RESPONSE"
        EVI_PARSE_ERROR "HPS_EVI_PARSE_ERROR"
        EVI_MESSAGE_BEGIN "HPS_EVI_MESSAGE_BEGIN"
        EVI_REQUEST_LINE "HPS_EVI_REQUEST_LINE"
        EVI_HEADER "HPS_EVI_HEADER"
        EVI_HEADERS_COMPLETE "HPS_EVI_HEADERS_COMPLETE"
        EVI_BODY "HPS_EVI_BODY"
        EVI_CHUNK_HEADER "HPS_EVI_CHUNK_HEADER"
        EVI_CHUNK_COMPLETE "HPS_EVI_CHUNK_COMPLETE"
        EVI_MESSAGE_COMPLETE "HPS_EVI_MESSAGE_COMPLETE"
        EVI_UPGRADE "HPS_EVI_UPGRADE"
        EVI_WEBSOCKET "HPS_EVI_WEBSOCKET"
        EVI_WS_OPEN "HPS_EVI_WS_OPEN"
        EVI_WS_MESSAGE "HPS_EVI_WS_MESSAGE"
        EVI_WS_CLOSE "HPS_EVI_WS_CLOSE"
        EV_COUNT "HPS_EV_COUNT"
    enum:
        EV_PREPARE "HPS_EV_PREPARE"
        EV_ACCEPT "HPS_EV_ACCEPT"
        EV_CONNECT "HPS_EV_CONNECT"
        EV_HANDSHAKE "HPS_EV_HANDSHAKE"
        EV_SEND "HPS_EV_SEND"
        EV_RECEIVE "HPS_EV_RECEIVE"
        EV_CLOSE "HPS_EV_CLOSE"
        EV_SHUTDOWN "HPS_EV_SHUTDOWN"
        EV_REFUSED "HPS_EV_REFUSED"
        EV_REQUEST "HPS_EV_REQUEST"
        EV_RESPONSE "HPS_EV_RESPONSE"
        EV_PARSE_ERROR "HPS_EV_PARSE_ERROR"
        EV_WEBSOCKET "HPS_EV_WEBSOCKET"
        EV_WS_OPEN "HPS_EV_WS_OPEN"
        EV_WS_MESSAGE "HPS_EV_WS_MESSAGE"
        EV_WS_CLOSE "HPS_EV_WS_CLOSE"
        EV_PARSER "HPS_EV_PARSER"

    int hps_exiting()
    void hps_set_exiting()

    const int HPS_DEBUG
    const char* const hps_counter_names[]
    int hps_counters_read(long* out, int max)
    long hps_counter_live_native
    long hps_counter_in_flight
    long hps_counter_gil_free_skips
    void hps_count(long* c, long d)
    void HPS_DEBUG_COUNT(long c, long d)

cdef extern from "_buf.h" nogil:
    ctypedef struct hps_buf:
        unsigned char* buf
        size_t head, tail
    size_t hps_buf_len(const hps_buf* b)
    void hps_buf_free(hps_buf* b)
    long hps_buf_append(hps_buf* b, const unsigned char* p, int n)
    int hps_buf_take(hps_buf* b, unsigned char* out, int n, int peek)
    void hps_buf_consume(hps_buf* b, size_t n)
    const unsigned char* hps_buf_data(const hps_buf* b)

cdef extern from "_ctx.h" nogil:
    unsigned int HPS_CAP_SOCKET_FD
    unsigned int HPS_CAP_DIRECT_WRITE

    ctypedef struct hps_ops:
        unsigned int caps
        BOOL (*send_packets)(void*, HP_CONNID, const WSABUF*, int) noexcept nogil
        BOOL (*get_pending)(void*, HP_CONNID, int*) noexcept nogil
        BOOL (*get_conn_extra)(void*, HP_CONNID, PVOID*) noexcept nogil
        BOOL (*set_conn_extra)(void*, HP_CONNID, PVOID) noexcept nogil
        void (*family_free)(void*) noexcept nogil
        void (*ctx_family_free)(void*) noexcept nogil

    ctypedef struct hps_conn:
        PyObject* extra
        int fd
        int close_error
        hps_buf inbuf

    ctypedef struct hps_ctx:
        void* sender
        const hps_ops* ops
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
        void* family

    hps_ctx* hps_ctx_new(const hps_ops* ops)
    void hps_ctx_free(hps_ctx* ctx)
    void hps_lock(hps_ctx* ctx)
    void hps_unlock(hps_ctx* ctx)
    hps_conn* hps_conn_get(hps_ctx* ctx, HP_CONNID conn_id, int create, int* known)
    hps_conn* hps_conn_detach(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_conn_free(hps_ctx* ctx, hps_conn* c)
    int hps_gate_enter(hps_ctx* ctx)
    void hps_gate_leave(hps_ctx* ctx, int entered)
    void hps_gate_close(hps_ctx* ctx)
    void hps_gate_open(hps_ctx* ctx)

    hps_ctx* hps_lookup(void* sender)
    int hps_register(void* sender, hps_ctx* ctx)
    void hps_unregister(void* sender)

cdef extern from "_thread.h" nogil:
    int hps_thread_init()
    int hps_set_pinning(int enabled)
    void hps_pin_thread_state()
    int hps_in_callback()
    ctypedef struct hps_owner:
        pass
    int hps_is_owner(void* sender, int role, HP_CONNID conn_id)

cdef extern from "_tcp.h" nogil:
    void hps_set_nodelay(UINT_PTR fd)
    int hps_quiesce_listener(hps_ctx* ctx, int listen_fd, int workers, int close_conns)
    void hps_accept_begin(hps_ctx* ctx)
    void hps_accept_end(hps_ctx* ctx)
    void hps_conn_set_fd(hps_ctx* ctx, HP_CONNID conn_id, UINT_PTR fd)
    int hps_disconnect(hps_ctx* ctx, HP_CONNID conn_id, int force)

cdef extern from "_send.h" nogil:
    int HPS_DIRECT_MAX_IOV
    int hps_send_init()
    void hps_direct_forbid(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_out_flush_for(hps_ctx* ctx, void* sender, HP_CONNID conn_id)
    BOOL hps_send(hps_ctx* ctx, void* sender, HP_CONNID conn_id, WSABUF* bufs, int count)

cdef extern from "_callback.h" nogil:
    hps_owner hps_conn_call_begin(void* sender, HP_CONNID conn_id)
    void hps_conn_call_end(hps_owner saved)
    void* hps_call_begin(void* sender)
    void hps_call_end(void* saved)

cdef extern from "_frame.h" nogil:
    unsigned int HPS_PACK_MAX_FLAG
    unsigned int HPS_PACK_MAX_SIZE
    unsigned int HPS_PACK_DEFAULT_SIZE
    uint32_t hps_pack_header(unsigned int flag, uint32_t length)
    int hps_pack_next(const unsigned char* data, size_t n, size_t* pos, unsigned int flag,
                      uint32_t max_size, const unsigned char** body, uint32_t* length)

cdef extern from "_ws.h" nogil:
    enum:
        HPS_WS_CONT
        HPS_WS_TEXT
        HPS_WS_BINARY
        HPS_WS_CLOSE
        HPS_WS_PING
        HPS_WS_PONG
        HPS_WS_NORMAL
        HPS_WS_NO_STATUS
        HPS_WS_ABNORMAL
        HPS_WS_INTERNAL_ERROR
        HPS_WS_NOTHING
        HPS_WS_MESSAGE
        HPS_WS_GOT_PING
        HPS_WS_GOT_PONG
        HPS_WS_GOT_CLOSE
        HPS_WS_FAILED

    ctypedef struct hps_ws:
        unsigned long long seq
        int msg_opcode
        hps_buf msg
        hps_buf ctl
        int failed
        int close_code
        int reported
        int batched

    int hps_ws_frame_begin(hps_ws* ws, int fin, int rsv, int opcode, const unsigned char* mask,
                           unsigned long long length)
    int hps_ws_frame_data(hps_ws* ws, const unsigned char* p, size_t n)
    int hps_ws_frame_end(hps_ws* ws)
    void hps_ws_message_taken(hps_ws* ws)
    int hps_ws_code_ok(int code)
    int hps_utf8_valid(const unsigned char* p, size_t n)

cdef extern from "_http.h" nogil:
    ctypedef struct hps_http_cfg:
        size_t max_header
        size_t max_target
        unsigned long long max_body
        unsigned long long stream_over
        unsigned int keep_alive_ms
        unsigned int header_ms
        unsigned int body_ms
        unsigned long long ws_max_message
        unsigned int ws_ping_ms
        unsigned int ws_pong_ms
        unsigned int ws_close_ms
        unsigned int ws_idle_ms
        int threads
        int jobs_closed
        int wake_fd

    ctypedef struct hps_http_pipe:
        pass

    enum:
        HPS_JOB_REQUEST
        HPS_JOB_CLOSED
        HPS_JOB_UPGRADE
        HPS_JOB_WS_MESSAGE
        HPS_JOB_WS_CLOSE
        HPS_JOB_BODY

    ctypedef struct hps_http_job:
        int kind
        int code
        HP_CONNID id
        hps_http_pipe* pipe
        unsigned long long seq
        int keep_alive
        unsigned int version
        int nheaders
        size_t head_len, body_len
        unsigned char data[1]


    ctypedef struct hps_http_conn:
        hps_buf head
        int nheaders
        hps_buf body
        int error
        int dead
        int expect_continue
        int batched
        hps_http_pipe* pipe
        int in_trailers
        unsigned int version
        int has_cl
        int has_te
        unsigned long long cl
        unsigned long long next_seq
        hps_ws* ws

    hps_http_cfg* hps_http_cfg_new()
    void hps_http_cfg_free(void* cfg)
    void hps_http_conn_free(void* st)
    int hps_http_sweeper_start(hps_ctx* ctx)
    void hps_http_sweeper_stop(hps_ctx* ctx)
    hps_http_conn* hps_http_state(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_http_begin(hps_http_conn* st)
    int hps_http_follows(void* sender, HP_CONNID conn_id)
    void hps_http_mark_end(void* sender, HP_CONNID conn_id)
    void hps_http_reset(hps_http_conn* st)
    void hps_http_request_line(hps_http_conn* st, const hps_http_cfg* cfg, const char* method, const char* target)
    void hps_http_header(hps_http_conn* st, const hps_http_cfg* cfg, const char* name, const char* value)
    void hps_http_headers_done(hps_http_conn* st, const hps_http_cfg* cfg, unsigned int version)
    void hps_http_body(hps_http_conn* st, const hps_http_cfg* cfg, const unsigned char* data, int length)
    int hps_http_parse_error_status(int code)
    enum:
        HPS_HTTP_END
        HPS_HTTP_CLOSE
    int hps_http_submit(hps_ctx* ctx, void* sender, HP_CONNID conn_id, unsigned long long seq,
                        WSABUF* bufs, int count, int flags)
    void hps_http_refuse(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_http_conn* st, int status)
    void hps_http_continue(hps_ctx* ctx, void* sender, HP_CONNID conn_id, hps_http_conn* st)
    const char* hps_http_reason(int status)
    size_t hps_http_date(char* out)
    int hps_http_token(const unsigned char* p, size_t n)
    int hps_http_value_ok(const unsigned char* p, size_t n)
    hps_http_job* hps_http_job_make(hps_http_conn* st, HP_CONNID conn_id, unsigned long long seq, int keep_alive)
    int hps_http_job_push(hps_http_cfg* cfg, hps_http_job* job)
    hps_http_job* hps_http_job_pop(hps_http_cfg* cfg, int timeout_ms)
    hps_http_job* hps_http_job_trypop(hps_http_cfg* cfg)
    void hps_http_job_wait(hps_http_cfg* cfg, int timeout_ms)
    void hps_http_thread_count(hps_http_cfg* cfg, int delta)
    void hps_http_jobs_open(hps_http_cfg* cfg)
    void hps_http_jobs_close(hps_http_cfg* cfg)
    void hps_http_jobs_drop(hps_http_cfg* cfg)
    void hps_http_wake_ack(hps_http_cfg* cfg)
    void hps_http_job_closed(hps_ctx* ctx, HP_CONNID conn_id)
    int hps_http_job_event(hps_http_cfg* cfg, int kind, HP_CONNID id, int code,
                           const unsigned char* data, size_t n)
    int hps_ws_to_loop(hps_ctx* ctx, void* sender, HP_CONNID id, int opcode,
                       const unsigned char* p, size_t n)
    void hps_ws_loop_taken(hps_ctx* ctx, void* sender, HP_CONNID id, size_t n)
    int hps_ws_attach_loop(hps_ctx* ctx, void* sender, HP_CONNID id,
                           unsigned long long seq, unsigned long long max_message)
    hps_http_pipe* hps_http_pipe_new(void* sender, HP_CONNID conn_id)
    void hps_http_pipe_release(hps_http_pipe* p)
    void hps_http_pipe_end(hps_http_pipe* p, int error)
    long hps_http_pipe_poll(hps_http_pipe* p, hps_http_cfg* cfg)
    long hps_http_pipe_read(hps_http_pipe* p, unsigned char* out, size_t n, int timeout_ms)
    void hps_http_pipe_discard(hps_http_pipe* p)
    int hps_http_last_answer(hps_ctx* ctx, HP_CONNID conn_id, unsigned long long seq)
    unsigned long long hps_now_ms()
    # WebSocket connections of the server
    unsigned long long HPS_HTTP_WS_SEQ
    int hps_ws_attach(hps_ctx* ctx, hps_http_conn* st, unsigned long long seq, unsigned long long max_message)
    int hps_ws_send(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int opcode, const unsigned char* p,
                    size_t n, int flags)
    int hps_ws_send_close(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int code,
                          const unsigned char* reason, size_t reason_len, int end)
    void hps_ws_finish(hps_ctx* ctx, void* sender, HP_CONNID conn_id)
    int hps_ws_broadcast(hps_ctx* ctx, void* sender, const HP_CONNID* ids, int n, int opcode,
                         const unsigned char* p, size_t length)
    void hps_ws_seen(hps_ws* ws)
    hps_ws* hps_ws_of(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_ws_ponged(hps_ws* ws)
    void hps_ws_message_seen(hps_ws* ws)

cdef extern from "_http_client.h" nogil:
    hps_ws* hps_wsc_of(hps_ctx* ctx, HP_CONNID conn_id)
    int hps_wsc_expect(hps_ctx* ctx, HP_CONNID conn_id)
    int hps_wsc_attach(hps_ctx* ctx, hps_httpc_conn* st, unsigned long long max_message)
    int hps_wsc_send(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int opcode, const unsigned char* p, size_t n)
    int hps_wsc_send_close(hps_ctx* ctx, void* sender, HP_CONNID conn_id, int code,
                           const unsigned char* reason, size_t reason_len)
    ctypedef struct hps_httpc_cfg:
        unsigned long long max_body
        unsigned long long ws_max_message
        int use_cookies
        int stopping

    ctypedef struct hps_httpc_req:
        int head
        size_t len
        char text[1]

    ctypedef struct hps_httpc_conn:
        hps_buf head
        int nheaders
        int ntrailers
        hps_buf body
        int status
        unsigned int version
        int in_message
        int in_trailers
        int error
        int failed
        int ws_pending
        hps_ws* ws

    ctypedef struct hps_httpc_sync:
        hps_httpc_conn resp
        int complete
        int keep_alive
        int closed
        int close_error
        unsigned long long close_ms
        int parse_error
        char parse_desc[128]

    hps_httpc_cfg* hps_httpc_cfg_new()
    void hps_httpc_cfg_free(void* cfg)
    void hps_httpc_conn_free(void* st)
    void hps_httpc_lock_sends(hps_ctx* ctx)
    void hps_httpc_unlock_sends(hps_ctx* ctx)
    hps_httpc_conn* hps_httpc_state(hps_ctx* ctx, HP_CONNID conn_id)
    hps_httpc_req* hps_httpc_push(hps_ctx* ctx, HP_CONNID conn_id, const char* method, size_t ml,
                                  const char* target, size_t tl)
    void hps_httpc_unpush(hps_ctx* ctx, HP_CONNID conn_id, hps_httpc_req* req)
    hps_httpc_req* hps_httpc_pop(hps_ctx* ctx, hps_httpc_conn* st)
    int hps_httpc_close_error(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_httpc_family_stop(hps_ctx* ctx)
    void hps_httpc_mark_closing(hps_ctx* ctx, HP_CONNID conn_id)
    void hps_httpc_reset(hps_httpc_conn* st)
    void hps_httpc_begin(hps_httpc_conn* st)
    int hps_httpc_status_line(hps_httpc_conn* st, int status, const char* reason)
    int hps_httpc_header(hps_httpc_conn* st, const char* name, const char* value)
    int hps_httpc_headers_done(hps_ctx* ctx, hps_httpc_conn* st, const hps_httpc_cfg* cfg,
                               unsigned int version, unsigned long long content_length)
    int hps_httpc_body(hps_httpc_conn* st, const hps_httpc_cfg* cfg, const unsigned char* data, int length)

    hps_httpc_sync* hps_httpc_sync_new()
    void hps_httpc_sync_free(void* s)
    void hps_httpc_sync_clear(hps_httpc_sync* s)
    void hps_httpc_sync_closed(hps_httpc_sync* s, int error)
    void hps_httpc_sync_connected(hps_httpc_sync* s)
    void hps_httpc_sync_complete(hps_httpc_sync* s, int keep_alive)
    int hps_httpc_sync_wait_final(hps_httpc_sync* s, unsigned int timeout_ms)
    void hps_httpc_sync_parse_error(hps_httpc_sync* s, int code, const char* desc)
    void hps_httpc_sync_lock(hps_httpc_sync* s)
    void hps_httpc_sync_unlock(hps_httpc_sync* s)
    unsigned long long hps_httpc_now_ms()

cdef extern from "_aio.h" nogil:
    enum:
        HPS_AIO_OPEN
        HPS_AIO_DATA
        HPS_AIO_CLOSE
        HPS_AIO_DRAINED
    ctypedef struct hps_aio_event:
        int kind
        int op
        int error
        unsigned long long token
        HP_CONNID id
        size_t off
        size_t len
    ctypedef struct hps_aio_queue:
        hps_aio_event* ev
        size_t n
    ctypedef struct hps_aio_inbox:
        int efd
    ctypedef struct hps_aio_fam:
        hps_aio_inbox* inbox
        unsigned long long token
        long read_high
        long read_low
    ctypedef struct hps_aio_conn:
        pass
    hps_aio_inbox* hps_aio_inbox_new()
    void hps_aio_inbox_unref(hps_aio_inbox* inbox)
    int hps_aio_push(hps_aio_inbox* inbox, int kind, unsigned long long token, HP_CONNID conn_id,
                     const unsigned char* data, int length, int op, int error)
    void hps_aio_ack(hps_aio_inbox* inbox)
    hps_aio_queue* hps_aio_take(hps_aio_inbox* inbox)
    int hps_aio_idle(hps_aio_inbox* inbox)
    const unsigned char* hps_aio_bytes(hps_aio_queue* q, hps_aio_event* e)
    void hps_aio_conn_free(void* p)
    hps_aio_conn* hps_aio_conn_locked(hps_ctx* ctx, HP_CONNID conn_id, int create)
    int hps_aio_received(hps_ctx* ctx, void* sender, HP_CONNID conn_id, const unsigned char* data, int length)
    int hps_aio_received_pack(hps_ctx* ctx, void* sender, HP_CONNID conn_id, const unsigned char* data, int length)
    void hps_aio_consumed(hps_ctx* ctx, HP_CONNID conn_id, long n)
    int hps_aio_set_paused(hps_ctx* ctx, HP_CONNID conn_id, int paused)
    int hps_aio_want_drain(hps_ctx* ctx, HP_CONNID conn_id, int at)
    void hps_aio_sent(hps_ctx* ctx, void* sender, HP_CONNID conn_id)
    hps_aio_fam* hps_aio_fam_new(hps_aio_inbox* inbox, unsigned long long token,
                                 BOOL (*pause)(void*, HP_CONNID, BOOL) noexcept nogil)
    void hps_aio_fam_free(void* p)
    int hps_aio_send(hps_ctx* ctx, void* sender, HP_CONNID conn_id, WSABUF* bufs, int count)
