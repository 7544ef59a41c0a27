"""Stopping a server while connections pour in.

HP-Socket 5.2.2's Stop closes the listening socket while it is still in the
library's epoll set; a worker woken for it then gets EBADF from accept() and
the library calls exit(70), killing the process.  hpsocket takes the socket
out of the set first.  Run in a subprocess so that a regression fails the
test instead of ending pytest."""

from support import run_python

SCRIPT = """
    import socket, sys, threading, hpsocket

    class Echo(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    for i in range(int(sys.argv[1])):
        srv = Echo()
        srv.start("127.0.0.1", 0)
        addr = srv.listen_address
        stop = threading.Event()
        flowing = threading.Event()

        def storm():
            socks = []
            while not stop.is_set():
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(addr)
                socks.append(s)
                if len(socks) == 20:
                    flowing.set()
            for s in socks:
                s.close()

        t = threading.Thread(target=storm)
        t.start()
        assert flowing.wait(10)
        srv.stop()
        stop.set()
        t.join(10)
    print("survived", flush=True)
"""


def test_stop_during_connect_storm_does_not_kill_the_process():
    proc = run_python(40, source=SCRIPT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived" in proc.stdout


CALLERS = """
    import socket, sys, threading, hpsocket

    class Echo(hpsocket.TcpServer):
        def on_accept(self, conn_id, sock):
            ids.append(conn_id)

        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    ids = []
    srv = Echo()
    done = threading.Event()
    calls = {"ok": 0, "gone": 0}

    def hammer():
        n = 0
        while not done.is_set():
            for c in list(ids[-50:]) + [1, 2, 10**9]:
                n += 1
                try:
                    srv.set_extra(c, n)
                    srv.remote_address(c)
                    calls["ok"] += 1
                except hpsocket.HPSocketError:
                    calls["gone"] += 1
                srv.get_extra(c)
                srv.send(c, b"x")
                srv.send_packets(c, [b"a", b"b"])
            srv.connection_ids

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(int(sys.argv[1])):
        srv.start("127.0.0.1", 0)
        socks = [socket.create_connection(srv.listen_address) for _ in range(5)]
        srv.stop()
        for s in socks:
            s.close()
    done.set()
    for t in threads:
        t.join(10)
    print("survived", calls["ok"] > 0, calls["gone"] > 0, flush=True)
"""


def test_calls_from_threads_while_the_server_restarts():
    # HP-Socket's Start and Stop remake and free the table behind every
    # connection id without a lock; hpsocket's gate (_ctx.h) keeps other
    # threads' calls out of the library meanwhile (SIGSEGV in
    # CTcpServer::FindSocketObj without it).
    proc = run_python(40, source=CALLERS, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived True True" in proc.stdout, proc.stdout
