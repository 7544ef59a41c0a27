"""Ctrl-C (SIGINT) interrupts serve_forever() and wait(): the server stops
cleanly and the process exits.  Run in a subprocess that gets a real SIGINT."""

import signal
import subprocess
import sys
import textwrap

from support import python_env, wait_for

SCRIPT = textwrap.dedent("""
    import signal, socket, sys, hpsocket

    # A test run started in the background by a non-interactive shell has
    # SIGINT ignored, and children inherit that: give this one Python's
    # KeyboardInterrupt handler, as when run from a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Echo(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    with Echo() as srv:
        srv.start("127.0.0.1", 0)
        peer = socket.create_connection(srv.listen_address, timeout=10)
        peer.sendall(b"ping")
        assert peer.recv(4) == b"ping"
        if sys.argv[1] == "wait":
            print("waiting", flush=True)
            try:
                srv.wait()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
        else:
            print("serving", flush=True)
            srv.serve_forever()
    print("state", srv.state.name, flush=True)
""")


def _main_thread_sleeps_in_futex(pid):
    with open(f"/proc/{pid}/wchan") as f:
        return "futex" in f.read()


def run_and_interrupt(mode):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=python_env())
    try:
        assert proc.stdout.readline().strip() in ("serving", "waiting")
        # The main thread's next sleep is in serve_forever()/wait(): send the
        # signal once it sleeps there (earlier, it would interrupt the script
        # before the call).
        wait_for(lambda: _main_thread_sleeps_in_futex(proc.pid))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_ctrl_c_stops_serve_forever():
    rc, out, err = run_and_interrupt("serve")
    assert rc == 0, err
    assert "state STOPPED" in out


def test_ctrl_c_interrupts_wait():
    rc, out, err = run_and_interrupt("wait")
    assert rc == 0, err
    assert "interrupted" in out and "state STOPPED" in out
