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

/* Shut every connection of a server down (hps_disconnect: never the
 * library's Disconnect, which ends the process for a connection still in
 * HandleAccept). */
static inline void hps_shutdown_all(hps_ctx *ctx)
{
    DWORD n = 0, i;
    HP_CONNID *ids;
    HP_Server_GetAllConnectionIDs(ctx->sender, NULL, &n);
    if (n == 0)
        return;
    n += 64;   /* room for connections accepted meanwhile */
    ids = (HP_CONNID *)malloc(n * sizeof(HP_CONNID));
    if (ids == NULL)
        return;
    if (HP_Server_GetAllConnectionIDs(ctx->sender, ids, &n))
        for (i = 0; i < n; i++)
            hps_disconnect(ctx, ids[i], 1);
    free(ids);
}

/*
 * Whether every one of `workers` worker threads has been seen blocked in
 * epoll_wait on epfd (the library's) since this call began: a worker seen
 * there has finished the batch of events it was handling, and the listening
 * socket is no longer in the set, so it will not call accept() again.
 * Reads each thread's /proc/self/task/<tid>/syscall ("281 0x<epfd> ...").
 * Returns 1 once all were seen, 0 after timeout_ms, -1 if the threads'
 * system calls cannot be read here.
 */
#define HPS_MAX_WORKERS 512
#if defined(__x86_64__)
/* epoll_wait, epoll_pwait, epoll_pwait2 */
#define HPS_IS_EPOLL_WAIT(nr) ((nr) == 232 || (nr) == 281 || (nr) == 441)
#define HPS_EPOLL_KNOWN 1
#elif defined(__aarch64__)
/* epoll_pwait, epoll_pwait2 (arm64 has no epoll_wait) */
#define HPS_IS_EPOLL_WAIT(nr) ((nr) == 22 || (nr) == 441)
#define HPS_EPOLL_KNOWN 1
#else
#define HPS_IS_EPOLL_WAIT(nr) 0
#define HPS_EPOLL_KNOWN 0   /* unknown system call numbers: the fallback wait */
#endif
static inline int hps_workers_back_in_epoll(int epfd, int workers, int timeout_ms)
{
    long seen[HPS_MAX_WORKERS];
    int nseen = 0, waited = 0, readable = 0;
    if (!HPS_EPOLL_KNOWN)
        return -1;
    if (workers > HPS_MAX_WORKERS)
        workers = HPS_MAX_WORKERS;
    for (;;) {
        DIR *dir = opendir("/proc/self/task");
        struct dirent *de;
        if (dir == NULL)
            return -1;
        while ((de = readdir(dir)) != NULL) {
            char path[64], line[128];
            long tid = atol(de->d_name), nr;
            unsigned long arg0;
            FILE *f;
            int i, known = 0;
            if (tid <= 0)
                continue;
            for (i = 0; i < nseen; i++)
                known |= seen[i] == tid;
            if (known)
                continue;
            snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", tid);
            f = fopen(path, "r");
            if (f == NULL)
                continue;
            if (fgets(line, sizeof(line), f) != NULL) {
                readable = 1;
                if (sscanf(line, "%ld %lx", &nr, &arg0) == 2 && (int)arg0 == epfd
                    && HPS_IS_EPOLL_WAIT(nr) && nseen < HPS_MAX_WORKERS)
                    seen[nseen++] = tid;
            }
            fclose(f);
        }
        closedir(dir);
        if (!readable)
            return -1;
        if (nseen >= workers)
            return 1;
        if (waited >= timeout_ms)
            return 0;
        usleep(1000);
        waited++;
    }
}

/*
 * Before a server stops: take its listening socket out of the library's
 * epoll set.  HP-Socket 5.2.2's Stop closes the listening socket and sets
 * its descriptor to -1 while workers may still be on their way to accept()
 * on it (woken for it in a batch of events they are still handling, or in
 * OnAccept, after which the accept loop calls accept() again); such an
 * accept() fails with EBADF and the library calls exit(70), ending the
 * whole process (tests/test_stop_races.py; the bad-ids abuse test at full
 * size).  So: out of the set, an idle non-blocking listening socket on the
 * same descriptor number (a late accept() gets EAGAIN).  Then, when the
 * server is about to stop (close_conns), shut every connection down, so
 * that the workers run out of events, and wait until each has been back
 * in epoll_wait,
 * where none can be about to accept (bounded; where threads' system calls
 * cannot be read, the workers in OnAccept and a 20 ms grace).  Without
 * close_conns (stop listening, go on serving) the library's listening socket
 * stays the idle one until the server stops, so nothing waits.  The epoll
 * descriptor is found through /proc/self/fdinfo (the library does not
 * expose it).  `workers`: the server's worker threads.
 */
static inline int hps_quiesce_listener(hps_ctx *ctx, int listen_fd, int workers, int close_conns)
{
    DIR *dir;
    struct dirent *de;
    char path[64], line[256];
    int found = 0, epfd = -1, i;
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
                if (epoll_ctl(fd, EPOLL_CTL_DEL, listen_fd, NULL) == 0) {
                    found = 1;
                    epfd = fd;
                }
                break;
            }
        }
        fclose(f);
    }
    closedir(dir);
    if (found) {
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
        if (!close_conns)
            return found;
        hps_shutdown_all(ctx);
        /* The calling thread is no worker in epoll_wait if it is one of
         * this server's (a component freed inside its own handler). */
        if (hps_workers_back_in_epoll(epfd, workers - (hps_in_callback_of(ctx->sender) ? 1 : 0),
                                      10000) < 0) {
            for (i = 0; i < 10000 && __atomic_load_n(&ctx->accepting, __ATOMIC_ACQUIRE) > hps_tls_accepting; i++)
                usleep(500);
            usleep(20000);
        }
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

#endif /* HPSOCKET_TCP_H */
