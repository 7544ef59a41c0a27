/*
 * echo_server.c - native echo server over libhpsocket4c, with no Python in
 * the loop: the baseline the Python binding's echo servers are measured
 * against.
 *
 *   echo_server [--port P] [--model push|pack|pull] [--workers W]
 *               [--pack-flag F] [--max-pack-size S]
 *
 * Binds 127.0.0.1:P (P = 0 lets the OS pick), prints "PORT <n>" on stdout,
 * then echoes every connection until stdin reaches end of file or SIGTERM /
 * SIGINT arrives, and then stops the server cleanly and exits 0.
 *
 *   push  TcpServer:      OnReceive(data)     -> Send(data)
 *   pack  TcpPackServer:  OnReceive(body)     -> Send(body); the library
 *                         re-frames the body with the same Pack header
 *   pull  TcpPullServer:  OnPullReceive(len)  -> Fetch(len) -> Send
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

/* Largest body the Pack header can describe: 22 bits of length. */
#define PACK_MAX_BODY 0x3FFFFFu
#define PACK_MAX_FLAG 0x3FFu

/* Bytes fetched per HP_TcpPullServer_Fetch call in the pull model. */
#define PULL_CHUNK 65536

enum model { MODEL_PUSH, MODEL_PACK, MODEL_PULL };

/* Failed sends / fetches, counted across worker threads; reported at exit. */
static unsigned long g_failures;

static void note_failure(void)
{
    __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Callbacks (run on the library's worker threads).                     */

static En_HP_HandleResult on_accept(HP_Server sender, HP_CONNID conn, UINT_PTR so)
{
    int one = 1;

    (void)sender;
    (void)conn;
    /*
     * libhpsocket4c 5.2.2.1 never sets TCP_NODELAY on accepted sockets.
     * Without it an echo that leaves as two writes (e.g. a Pack header
     * and its body, or a reply split by a short write) waits for the
     * peer's delayed ACK: a 40 ms stall per message on Linux.
     */
    if (setsockopt((int)so, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        perror("echo_server: setsockopt(TCP_NODELAY)");
    return HR_OK;
}

/* Push and pack models: the library hands over the data (for pack, one
 * whole body); send the same bytes back. */
static En_HP_HandleResult on_receive(HP_Server sender, HP_CONNID conn,
                                     const BYTE *data, int len)
{
    if (!HP_Server_Send(sender, conn, data, len)) {
        note_failure();
        return HR_ERROR;        /* the library closes the connection */
    }
    return HR_OK;
}

/* Pull model: len is everything buffered for the connection so far; take
 * all of it (in chunks, through a per-thread buffer) and send it back. */
static En_HP_HandleResult on_pull_receive(HP_Server sender, HP_CONNID conn, int len)
{
    static __thread BYTE buf[PULL_CHUNK];

    while (len > 0) {
        int n = len < PULL_CHUNK ? len : PULL_CHUNK;

        if (HP_TcpPullServer_Fetch(sender, conn, buf, n) != FR_OK
            || !HP_Server_Send(sender, conn, buf, n)) {
            note_failure();
            return HR_ERROR;
        }
        len -= n;
    }
    return HR_OK;
}

static En_HP_HandleResult on_close(HP_Server sender, HP_CONNID conn,
                                   En_HP_SocketOperation op, int err)
{
    (void)sender;
    (void)conn;
    (void)op;
    (void)err;
    return HR_OK;
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: echo_server [--port P] [--model push|pack|pull] [--workers W]\n"
        "                   [--pack-flag F] [--max-pack-size S]\n"
        "Binds 127.0.0.1:P (0 = any free port), prints \"PORT <n>\", echoes until\n"
        "stdin is closed or SIGTERM/SIGINT arrives.\n"
        "  --workers W        worker threads (0 = library default)\n"
        "  --pack-flag F      pack model: header flag, 0..1023 (default 0)\n"
        "  --max-pack-size S  pack model: largest body accepted, 1..4194303\n"
        "                     (default: the library's, 262144)\n");
}

/* Parses a whole decimal number in [lo, hi] or exits with a message. */
static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "echo_server: %s: expected an integer in [%ld, %ld], got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* Waiting for the end                                                  */

/*
 * Blocks until stdin reaches end of file (or fails) or one of the signals
 * in `sigs` arrives.  The signals are blocked in every thread (the mask was
 * set before the library started its workers) and read from a signalfd,
 * so no handler runs on a library thread.
 */
static void wait_for_stop(const sigset_t *sigs)
{
    struct pollfd fds[2];
    int sfd = signalfd(-1, sigs, SFD_CLOEXEC);

    if (sfd < 0) {
        perror("echo_server: signalfd");
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
            perror("echo_server: poll");
            break;
        }
        if (fds[1].revents & POLLIN)
            break;
        if (fds[0].revents & POLLNVAL)
            break;              /* stdin is not open at all */
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char junk[4096];
            ssize_t n = read(STDIN_FILENO, junk, sizeof junk);

            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;          /* end of file (or a dead stdin) */
            /* anything written to stdin is ignored */
        }
    }
    close(sfd);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "port",          required_argument, NULL, 'p' },
        { "model",         required_argument, NULL, 'm' },
        { "workers",       required_argument, NULL, 'w' },
        { "pack-flag",     required_argument, NULL, 'f' },
        { "max-pack-size", required_argument, NULL, 's' },
        { "help",          no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    enum model model = MODEL_PUSH;
    long port = 0, workers = 0, pack_flag = 0, max_pack = 0;
    HP_ServerListener listener;
    HP_Server server;
    sigset_t sigs;
    TCHAR addr[64];
    int addr_len = (int)sizeof addr;
    USHORT bound_port = 0;
    int opt, status = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': port = parse_long("--port", optarg, 0, 65535); break;
        case 'w': workers = parse_long("--workers", optarg, 0, 1024); break;
        case 'f': pack_flag = parse_long("--pack-flag", optarg, 0, PACK_MAX_FLAG); break;
        case 's': max_pack = parse_long("--max-pack-size", optarg, 1, PACK_MAX_BODY); break;
        case 'm':
            if (strcmp(optarg, "push") == 0)
                model = MODEL_PUSH;
            else if (strcmp(optarg, "pack") == 0)
                model = MODEL_PACK;
            else if (strcmp(optarg, "pull") == 0)
                model = MODEL_PULL;
            else {
                fprintf(stderr, "echo_server: --model: expected push, pack or pull, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
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

    switch (model) {
    case MODEL_PACK:
        listener = Create_HP_TcpPackServerListener();
        server = Create_HP_TcpPackServer(listener);
        break;
    case MODEL_PULL:
        listener = Create_HP_TcpPullServerListener();
        server = Create_HP_TcpPullServer(listener);
        break;
    default:
        listener = Create_HP_TcpServerListener();
        server = Create_HP_TcpServer(listener);
        break;
    }
    if (listener == NULL || server == NULL) {
        fprintf(stderr, "echo_server: could not create the server\n");
        return 1;
    }

    HP_Set_FN_Server_OnAccept(listener, on_accept);
    HP_Set_FN_Server_OnClose(listener, on_close);
    if (model == MODEL_PULL)
        HP_Set_FN_Server_OnPullReceive(listener, on_pull_receive);
    else
        HP_Set_FN_Server_OnReceive(listener, on_receive);

    if (workers > 0)
        HP_Server_SetWorkerThreadCount(server, (DWORD)workers);
    if (model == MODEL_PACK) {
        HP_TcpPackServer_SetPackHeaderFlag(server, (USHORT)pack_flag);
        if (max_pack > 0)
            HP_TcpPackServer_SetMaxPackSize(server, (DWORD)max_pack);
    }

    if (!HP_Server_Start(server, "127.0.0.1", (USHORT)port)) {
        fprintf(stderr, "echo_server: start on 127.0.0.1:%ld failed: %s (error %d)\n",
                port, HP_Server_GetLastErrorDesc(server), (int)HP_Server_GetLastError(server));
        status = 1;
        goto destroy;
    }
    if (!HP_Server_GetListenAddress(server, addr, &addr_len, &bound_port) || bound_port == 0) {
        fprintf(stderr, "echo_server: could not read the listening port\n");
        status = 1;
        goto stop;
    }
    printf("PORT %u\n", (unsigned)bound_port);
    fflush(stdout);

    wait_for_stop(&sigs);

    /* HP-Socket 5.2.2's Stop can end the process with exit(70): it closes the
     * listening socket while a worker may be about to accept() on it (EBADF).
     * A benchmark server has nothing left to flush, so it leaves without
     * Stop; the kernel closes every socket. */
    if (g_failures != 0) {
        fprintf(stderr, "echo_server: %lu failed send/fetch call(s); those connections were closed\n",
                g_failures);
    }
    fflush(stdout);
    fflush(stderr);
    _exit(status);

stop:
    if (!HP_Server_Stop(server)) {
        fprintf(stderr, "echo_server: stop failed: %s\n", HP_Server_GetLastErrorDesc(server));
        status = 1;
    }
destroy:
    switch (model) {
    case MODEL_PACK:
        Destroy_HP_TcpPackServer(server);
        Destroy_HP_TcpPackServerListener(listener);
        break;
    case MODEL_PULL:
        Destroy_HP_TcpPullServer(server);
        Destroy_HP_TcpPullServerListener(listener);
        break;
    default:
        Destroy_HP_TcpServer(server);
        Destroy_HP_TcpServerListener(listener);
        break;
    }
    if (g_failures != 0) {
        fprintf(stderr, "echo_server: %lu failed send/fetch call(s); those connections were closed\n",
                g_failures);
    }
    return status;
}
