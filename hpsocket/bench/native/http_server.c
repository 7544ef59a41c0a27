/*
 * http_server.c - native HTTP/1.1 server over libhpsocket4c's HttpServer,
 * with no Python in the loop: the ceiling the Python HTTP servers of the
 * HTTP benchmark are measured against.
 *
 *   http_server [--port P] [--workers W] [--socket-buffer-size B]
 *
 * Binds 127.0.0.1:P (P = 0 lets the OS pick), prints "PORT <n>" on stdout,
 * then serves until stdin reaches end of file or SIGTERM / SIGINT arrives,
 * and exits 0.  Routes (every answer through HP_HttpServer_SendResponse from
 * OnMessageComplete):
 *
 *   GET  /plaintext  200  text/plain        Hello, World!
 *   GET  /json       200  application/json  {"message":"Hello, World!"}
 *   POST /echo       200  application/octet-stream, the request body
 *   anything else    404  text/plain        Not Found
 *
 * The body of a request is gathered in OnBody into a buffer that belongs to
 * the connection (HP_Server_SetConnectionExtra, set in OnAccept and freed in
 * OnClose).  A request that is not keep-alive has its connection released
 * after the answer.  Upgrade requests are refused (the library accepts any
 * Upgrade unless OnUpgrade says otherwise).
 *
 * Responses go through the library's send queue, in buffers of the socket
 * buffer size (HP_TcpServer_SetSocketBufferSize, 4096 bytes by default, which
 * also sizes each read): with the default, a 64 KiB echo costs 16 reads and
 * 16 queued writes.  --socket-buffer-size changes it; the benchmark runs with
 * the default, as it runs hpsocket's servers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hpsocket4c.h"

/* Largest request body gathered for /echo; a larger one closes the
 * connection. */
#define MAX_BODY (16u * 1024u * 1024u)

static const char PLAINTEXT[] = "Hello, World!";
static const char JSON[] = "{\"message\":\"Hello, World!\"}";
static const char NOT_FOUND[] = "Not Found";

static const HP_THeader H_TEXT[] = { { "Content-Type", "text/plain" } };
static const HP_THeader H_JSON[] = { { "Content-Type", "application/json" } };
static const HP_THeader H_BINARY[] = { { "Content-Type", "application/octet-stream" } };

/* Failed sends and refused requests, counted across worker threads;
 * reported at exit. */
static unsigned long g_failures;

static void note_failure(void)
{
    __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
}

/* One connection's request body.  The library runs a connection's events
 * one at a time, so no lock is needed. */
struct conn {
    BYTE *data;
    size_t len;
    size_t cap;
};

static struct conn *conn_of(HP_Server server, HP_CONNID id)
{
    PVOID extra = NULL;

    if (!HP_Server_GetConnectionExtra(server, id, &extra))
        return NULL;
    return (struct conn *)extra;
}

/* ------------------------------------------------------------------ */
/* Socket events                                                        */

static En_HP_HandleResult on_accept(HP_Server sender, HP_CONNID id, UINT_PTR so)
{
    struct conn *c;
    int one = 1;

    /* libhpsocket4c never sets TCP_NODELAY on accepted sockets: a response
     * that leaves in two writes would wait for the peer's delayed ACK. */
    if (setsockopt((int)so, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        perror("http_server: setsockopt(TCP_NODELAY)");
    c = calloc(1, sizeof *c);
    if (c == NULL || !HP_Server_SetConnectionExtra(sender, id, c)) {
        free(c);
        note_failure();
        return HR_ERROR;
    }
    return HR_OK;
}

static En_HP_HandleResult on_close(HP_Server sender, HP_CONNID id,
                                   En_HP_SocketOperation op, int err)
{
    struct conn *c = conn_of(sender, id);

    (void)op;
    (void)err;
    if (c != NULL) {
        HP_Server_SetConnectionExtra(sender, id, NULL);
        free(c->data);
        free(c);
    }
    return HR_OK;
}

/* ------------------------------------------------------------------ */
/* HTTP events                                                          */

static En_HP_HttpParseResult on_message_begin(void *sender, HP_CONNID id)
{
    struct conn *c = conn_of(sender, id);

    if (c != NULL)
        c->len = 0;
    return HPR_OK;
}

static En_HP_HttpParseResult on_body(void *sender, HP_CONNID id, const BYTE *data, int len)
{
    struct conn *c = conn_of(sender, id);
    size_t need;

    if (c == NULL || len < 0)
        return HPR_ERROR;
    need = c->len + (size_t)len;
    if (need > MAX_BODY) {
        note_failure();
        return HPR_ERROR;
    }
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        BYTE *grown;

        while (cap < need)
            cap *= 2;
        grown = realloc(c->data, cap);
        if (grown == NULL) {
            note_failure();
            return HPR_ERROR;
        }
        c->data = grown;
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, (size_t)len);
    c->len = need;
    return HPR_OK;
}

static En_HP_HttpParseResult on_message_complete(void *sender, HP_CONNID id)
{
    const char *method = HP_HttpServer_GetMethod(sender, id);
    const char *path = HP_HttpServer_GetUrlField(sender, id, HUF_PATH);
    const HP_THeader *headers = H_TEXT;
    const BYTE *body = (const BYTE *)NOT_FOUND;
    int len = (int)(sizeof NOT_FOUND - 1);
    USHORT status = 404;
    const char *desc = "Not Found";

    if (method == NULL)
        method = "";
    if (path == NULL)
        path = "";
    if (strcmp(method, "GET") == 0 && strcmp(path, "/plaintext") == 0) {
        status = 200;
        body = (const BYTE *)PLAINTEXT;
        len = (int)(sizeof PLAINTEXT - 1);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/json") == 0) {
        status = 200;
        headers = H_JSON;
        body = (const BYTE *)JSON;
        len = (int)(sizeof JSON - 1);
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/echo") == 0) {
        struct conn *c = conn_of(sender, id);

        status = 200;
        headers = H_BINARY;
        body = c != NULL ? c->data : NULL;
        len = c != NULL ? (int)c->len : 0;
    }
    if (status == 200)
        desc = "OK";

    if (!HP_HttpServer_SendResponse(sender, id, status, desc, headers, 1, body, len)) {
        note_failure();
        return HPR_ERROR;
    }
    if (!HP_HttpServer_IsKeepAlive(sender, id))
        HP_HttpServer_Release(sender, id);
    return HPR_OK;
}

static En_HP_HttpParseResult on_upgrade(void *sender, HP_CONNID id, En_HP_HttpUpgradeType type)
{
    (void)sender;
    (void)id;
    (void)type;
    return HPR_ERROR;           /* no WebSocket, no tunnel: close */
}

static En_HP_HttpParseResult on_parse_error(void *sender, HP_CONNID id, int code,
                                            LPCTSTR desc)
{
    (void)sender;
    (void)id;
    (void)code;
    (void)desc;
    return HPR_OK;              /* the library closes the connection */
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: http_server [--port P] [--workers W] [--socket-buffer-size B]\n"
        "Binds 127.0.0.1:P (0 = any free port), prints \"PORT <n>\", serves GET /plaintext,\n"
        "GET /json and POST /echo until stdin is closed or SIGTERM/SIGINT arrives.\n"
        "  --workers W               worker threads (default 1; 0 = the library's default)\n"
        "  --socket-buffer-size B    bytes per read and per send buffer, 1024..16777216\n"
        "                            (default: the library's, 4096)\n");
}

/* Parses a whole decimal number in [lo, hi] or exits with a message. */
static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "http_server: %s: expected an integer in [%ld, %ld], got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return v;
}

/*
 * Blocks until stdin reaches end of file (or fails) or one of the signals
 * in `sigs` arrives.  The signals are blocked in every thread (the mask is
 * set before the library starts its workers) and read from a signalfd.
 */
static void wait_for_stop(const sigset_t *sigs)
{
    struct pollfd fds[2];
    int sfd = signalfd(-1, sigs, SFD_CLOEXEC);

    if (sfd < 0) {
        perror("http_server: signalfd");
        return;
    }
    fds[0].fd = STDIN_FILENO;
    fds[0].events = POLLIN;
    fds[1].fd = sfd;
    fds[1].events = POLLIN;

    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("http_server: poll");
            break;
        }
        if (fds[1].revents & POLLIN)
            break;
        if (fds[0].revents & POLLNVAL) {
            fds[0].fd = -1;     /* no stdin at all: wait for a signal only */
            continue;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char junk[4096];
            ssize_t n = read(STDIN_FILENO, junk, sizeof junk);

            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;          /* end of file (or a dead stdin) */
        }
    }
    close(sfd);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "port",    required_argument, NULL, 'p' },
        { "workers", required_argument, NULL, 'w' },
        { "socket-buffer-size", required_argument, NULL, 'b' },
        { "help",    no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    long port = 0, workers = 1, buffer_size = 0;
    HP_HttpServerListener listener;
    HP_HttpServer server;
    sigset_t sigs;
    TCHAR addr[64];
    int addr_len = (int)sizeof addr;
    USHORT bound_port = 0;
    int opt, status = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': port = parse_long("--port", optarg, 0, 65535); break;
        case 'w': workers = parse_long("--workers", optarg, 0, 1024); break;
        case 'b': buffer_size = parse_long("--socket-buffer-size", optarg, 1024, 16L << 20); break;
        case 'h': usage(stdout); return 0;
        default:  usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Block the stop signals before the library creates its threads, so
     * every thread inherits the mask and only the signalfd sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    listener = Create_HP_HttpServerListener();
    server = listener != NULL ? Create_HP_HttpServer(listener) : NULL;
    if (listener == NULL || server == NULL) {
        fprintf(stderr, "http_server: could not create the server\n");
        return 1;
    }

    HP_Set_FN_HttpServer_OnAccept(listener, on_accept);
    HP_Set_FN_HttpServer_OnClose(listener, on_close);
    HP_Set_FN_HttpServer_OnMessageBegin(listener, on_message_begin);
    HP_Set_FN_HttpServer_OnBody(listener, on_body);
    HP_Set_FN_HttpServer_OnMessageComplete(listener, on_message_complete);
    HP_Set_FN_HttpServer_OnUpgrade(listener, on_upgrade);
    HP_Set_FN_HttpServer_OnParseError(listener, on_parse_error);

    if (workers > 0)
        HP_Server_SetWorkerThreadCount(server, (DWORD)workers);
    if (buffer_size > 0)
        HP_TcpServer_SetSocketBufferSize(server, (DWORD)buffer_size);

    if (!HP_Server_Start(server, "127.0.0.1", (USHORT)port)) {
        fprintf(stderr, "http_server: start on 127.0.0.1:%ld failed: %s (error %d)\n",
                port, HP_Server_GetLastErrorDesc(server), (int)HP_Server_GetLastError(server));
        status = 1;
        goto destroy;
    }
    if (!HP_Server_GetListenAddress(server, addr, &addr_len, &bound_port) || bound_port == 0) {
        fprintf(stderr, "http_server: could not read the listening port\n");
        status = 1;
        if (!HP_Server_Stop(server))
            fprintf(stderr, "http_server: stop failed: %s\n", HP_Server_GetLastErrorDesc(server));
        goto destroy;
    }
    printf("PORT %u\n", (unsigned)bound_port);
    fflush(stdout);

    wait_for_stop(&sigs);

    /* As echo_server.c: HP-Socket 5.2.2's Stop can end the process with
     * exit(70) when it closes the listening socket under a worker about to
     * accept() on it.  A benchmark server has nothing to flush, so it
     * leaves without Stop; the kernel closes every socket. */
    if (g_failures != 0)
        fprintf(stderr, "http_server: %lu failed send(s) or refused request(s)\n", g_failures);
    fflush(stdout);
    fflush(stderr);
    _exit(status);

destroy:
    Destroy_HP_HttpServer(server);
    Destroy_HP_HttpServerListener(listener);
    return status;
}
