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
