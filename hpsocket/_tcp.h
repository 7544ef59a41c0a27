/*
 * _tcp.h - HP-Socket 5.2.2 TCP workarounds that need the socket itself:
 * TCP_NODELAY, taking the listening socket out of epoll before Stop, and
 * disconnecting by shutdown().  Only for families with HPS_CAP_SOCKET_FD.
 */
#ifndef HPSOCKET_TCP_H
#define HPSOCKET_TCP_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "_ctx.h"

/* ------------------------------------------------------------------ */
/* Sockets                                                              */

static inline void hps_set_nodelay(UINT_PTR fd)
{
    int one = 1;
    setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Workers inside OnAccept.  The library's accept loop calls accept() again
 * after each OnAccept returns, so a server must not stop (the library then
 * closes the listening socket) while one is still inside: hps_quiesce_listener
 * waits for them, except for the calling thread's own. */
static __thread int hps_tls_accepting = 0;

static inline void hps_accept_begin(hps_ctx *ctx)
{
    __atomic_add_fetch(&ctx->accepting, 1, __ATOMIC_ACQ_REL);
    hps_tls_accepting++;
}

static inline void hps_accept_end(hps_ctx *ctx)
{
    hps_tls_accepting--;
    __atomic_sub_fetch(&ctx->accepting, 1, __ATOMIC_ACQ_REL);
}

/*
 * Before a server stops: take its listening socket out of the library's
 * epoll set.  HP-Socket 5.2.2's Stop shuts down and closes the listening
 * socket while it is still registered; a worker woken for it then calls
 * accept() on the closed descriptor, gets EBADF, and the library calls
 * exit(70), ending the whole process (reproducible by stopping a server
 * during a burst of incoming connections).  Once the socket is out of the
 * set no worker is woken for it; one already woken finds the socket still
 * open and gets a connection or EAGAIN, so we give such a worker a moment
 * before the library closes it.  The epoll descriptor is found through
 * /proc/self/fdinfo (the library does not expose it).
 */
static inline int hps_quiesce_listener(hps_ctx *ctx, int listen_fd)
{
    DIR *dir;
    struct dirent *de;
    char path[64], line[256];
    int found = 0, i;
    if (listen_fd < 0)
        return 0;
    dir = opendir("/proc/self/fdinfo");
    if (dir == NULL)
        return 0;
    while (!found && (de = readdir(dir)) != NULL) {
        FILE *f;
        int fd = atoi(de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == listen_fd)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            int tfd;
            if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == listen_fd) {
                if (epoll_ctl(fd, EPOLL_CTL_DEL, listen_fd, NULL) == 0)
                    found = 1;
                break;
            }
        }
        fclose(f);
    }
    closedir(dir);
    if (found) {
        /* A worker woken before the removal may still be on its way to
         * accept(), and the library closes the descriptor next.  An idle,
         * non-blocking listening socket put in its place (same number)
         * makes that late accept() get EAGAIN instead of EBADF, whatever
         * the timing. */
        int idle = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (idle >= 0) {
            struct sockaddr_in a;
            memset(&a, 0, sizeof(a));
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (bind(idle, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(idle, 1) == 0)
                dup2(idle, listen_fd);
            close(idle);
        }
        /* A worker in OnAccept (waiting for the GIL, say) calls accept()
         * again when it returns: wait for it (bounded), then give a worker
         * woken just before the removal a moment to reach its accept(). */
        for (i = 0; i < 10000 && __atomic_load_n(&ctx->accepting, __ATOMIC_ACQUIRE) > hps_tls_accepting; i++)
            usleep(500);
        usleep(20000);
    }
    return found;
}

/*
 * Remember a new connection's socket (OnAccept, OnPrepareConnect), for
 * hps_disconnect.  Creates the connection's record.
 */
static inline void hps_conn_set_fd(hps_ctx *ctx, HP_CONNID id, UINT_PTR fd)
{
    int known;
    hps_conn *rec;
    if (!(ctx->ops->caps & HPS_CAP_SOCKET_FD))
        return;   /* what the family passed is not a socket */
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 1, &known);
    if (rec != NULL)
        rec->fd = (int)fd;
    hps_unlock(ctx);
}

/*
 * Disconnect by shutting the socket down: 1 done, 0 unknown connection, -1
 * the socket is not known (use the library's Disconnect).
 *
 * HP-Socket 5.2.2's Disconnect closes the socket on another worker; for a
 * connection still inside HandleAccept (on_accept running) that worker
 * closes it before the accepting one adds it to epoll, which then fails and
 * the library calls exit(70).  A shutdown leaves the descriptor open: the
 * library sees the hang-up through epoll and closes the connection the usual
 * way, with OnClose.  The record is only detached in OnClose, which the
 * library calls before it closes the descriptor, so holding ctx->lock with
 * the record attached guarantees the descriptor is still this connection's.
 */
static inline int hps_disconnect(hps_ctx *ctx, HP_CONNID id, int force)
{
    int known, rc;
    hps_conn *rec;
    if (!(ctx->ops->caps & HPS_CAP_SOCKET_FD))
        return -1;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    if (rec != NULL && rec->fd >= 0) {
        shutdown(rec->fd, force ? SHUT_RDWR : SHUT_WR);
        rc = 1;
    } else {
        rc = known ? -1 : 0;
    }
    hps_unlock(ctx);
    return rc;
}

#endif /* HPSOCKET_TCP_H */
