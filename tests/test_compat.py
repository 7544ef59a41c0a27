"""hpsocket.compat: programs written for the ctypes binding HPSocket 0.9.3.

* each model's demo server and client, old style (subclasses,
  EventDescription, keyword-called events), both on compat;
* compat against the real old binding (package ``HPSocket`` 0.9.3, run in a
  subprocess), both ways;
* the bytes on the wire, captured by a plain socket, are identical for the old
  binding and compat (clients and servers);
* the README's example, a program ending with live connections, and the
  behaviour the old API promises (or that compat fixes);
* property-based fuzzing (hypothesis) of the package helpers
  (GeneratePkgBuffer / GeneratePkg / UnpackTPkgHeader round trips), the Pull
  protocol parser fed arbitrary bytes at arbitrary split points, the
  argument converters, and a pull server's functions with any arguments.
"""

import ctypes
import operator
import os
import runpy
import socket
import struct
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpsocket import HPSocketError
from hpsocket.compat import TcpPack, TcpPull, TcpPush, helper
from hpsocket.compat import _base as compat_base
from hpsocket.compat import _roles as compat_roles
import hpsocket.compat.pyhpsocket as HPSocket

from support import (FUZZ, HOST, TIMEOUT, Recorder, buffers, data_args, ints, not_ints, pack_frame, python_env,
                     roundtrip, run_python, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "compat_programs", "demo.py")
MODELS = ("push", "pull", "pack")
ROUNDS = 5
HEAD_FLAG = 0x169


def _old_binding_available():
    try:
        import HPSocket  # noqa: F401
    except Exception:
        return False
    return True


needs_old = pytest.mark.skipif(not _old_binding_available(), reason="the HPSocket 0.9.3 package is not installed")


def pull_packet(seq):
    return helper.GeneratePkgBuffer(seq=seq, name="伤神恶趣味", age=23, desc="text to be sent\x00")


def expected_items(model, rounds=ROUNDS):
    """What a demo server receives (and a demo client gets back), item by item."""
    if model == "pull":
        items = []
        for seq in range(1, rounds + 1):
            pkt = pull_packet(seq)
            items += [pkt[:8], pkt[8:]]
        return items
    return [("text to be sent - %d" % i).encode() for i in range(rounds)]


def expected_wire(model, rounds=ROUNDS):
    """The bytes a demo client puts on the wire."""
    if model == "pack":
        return b"".join(pack_frame(b, HEAD_FLAG) for b in expected_items(model, rounds))
    return b"".join(expected_items(model, rounds))


def recv_lines(text):
    return [bytes.fromhex(line.split()[1]) for line in text.splitlines() if line.startswith("RECV")]


# -- old-style programs, in process --------------------------------------------------


def make_server(model, got):
    if model == "push":
        class Server(TcpPush.HP_TcpPushServer):
            EventDescription = TcpPush.HP_TcpPushServer.EventDescription

            @EventDescription
            def OnReceive(self, Sender, ConnID, Data, Length):
                got.add(Data)
                self.Send(Sender=Sender, ConnID=ConnID, Data=Data)
                return HPSocket.EnHandleResult.HR_OK
    elif model == "pull":
        class Server(TcpPull.HP_TcpPullServer):
            EventDescription = TcpPull.HP_TcpPullServer.EventDescription

            @EventDescription
            def OnAccept(self, Sender, ConnID, Client):
                HPSocket.HP_Server_SetConnectionExtra(Sender, ConnID, helper.TPkgInfo(True, helper.TPkgHeaderSize))

            @EventDescription
            def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
                got.add(raw)
                self.Send(Sender, ConnID, raw)

            @EventDescription
            def OnReceiveBody(self, Sender, ConnID, Body):
                got.add(Body)
                self.Send(Sender, ConnID, Body)
    else:
        class Server(TcpPack.HP_TcpPackServer):
            EventDescription = TcpPack.HP_TcpPackServer.EventDescription

            @EventDescription
            def OnReceive(self, Sender, ConnID, Data):
                got.add(Data)
                self.Send(Sender=Sender, ConnID=ConnID, Data=Data)
    return Server()


def start_server(svr, model):
    if model == "pack":
        assert svr.Start(host=HOST, port=0, head_flag=HEAD_FLAG)
    else:
        assert svr.Start(host=HOST, port=0)
    return HPSocket.HP_Server_GetListenAddress(svr.Server)[1]


def make_client(model, got, done, rounds=ROUNDS):
    if model == "push":
        class Client(TcpPush.HP_TcpPushClient):
            EventDescription = TcpPush.HP_TcpPushServer.EventDescription
            counter = 0

            @EventDescription
            def SendTest(self):
                self.counter += 1      # before sending: the echo may come back at once
                self.Send(self.Client, "text to be sent - %d" % (self.counter - 1))

            @EventDescription
            def OnReceive(self, Sender, ConnID, Data, Length):
                got.add(Data)
                if self.counter < rounds:
                    self.SendTest()
                else:
                    done.set()
    elif model == "pull":
        class Client(TcpPull.HP_TcpPullClient):
            EventDescription = TcpPull.HP_TcpPullServer.EventDescription

            def SendTest(self):
                self.SEQ += 1
                self.Send(self.Client, pull_packet(self.SEQ))

            @EventDescription
            def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
                got.add(raw)

            @EventDescription
            def OnReceiveBody(self, Sender, ConnID, Body):
                got.add(Body)
                if self.SEQ < rounds:
                    self.SendTest()
                else:
                    done.set()
    else:
        class Client(TcpPack.HP_TcpPackClient):
            EventDescription = TcpPack.HP_TcpPackServer.EventDescription
            counter = 0

            def SendTest(self):
                self.counter += 1      # before sending: the echo may come back at once
                self.Send(self.Client, "text to be sent - %d" % (self.counter - 1))

            @EventDescription
            def OnReceive(self, Sender, ConnID, Data):
                got.add(Data)
                if self.counter < rounds:
                    self.SendTest()
                else:
                    done.set()
    return Client()


def start_client(cli, model, port):
    if model == "pack":
        return cli.Start(host=HOST, port=port, head_flag=HEAD_FLAG)
    return cli.Start(host=HOST, port=port)


# -- subprocesses ---------------------------------------------------------------


class ServerProcess:
    """demo.py <impl> <model> server in a subprocess: .port, .finish() -> items."""

    def __init__(self, impl, model):
        self.proc = subprocess.Popen([sys.executable, DEMO, impl, model, "server"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env())
        line = self._readline()
        assert line.startswith("PORT"), line
        self.port = int(line.split()[1])

    def _readline(self):
        result = []
        t = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(TIMEOUT)
        if not result:
            self.proc.kill()
            raise AssertionError("the server process did not start in time")
        return result[0]

    def finish(self):
        try:
            out, err = self.proc.communicate("", timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert self.proc.returncode == 0, err
        return out


def run_client_process(impl, model, port, rounds=ROUNDS):
    r = run_python(DEMO, impl, model, "client", port, rounds, timeout=40)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "DONE" in r.stdout
    return r.stdout


class Tap:
    """A plain socket server that echoes everything and records what came in."""

    def __init__(self):
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.data = bytearray()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.data += chunk
                conn.sendall(chunk)
        self.closed.set()

    def result(self):
        assert self.closed.wait(TIMEOUT)
        self.sock.close()
        return bytes(self.data)


# -- compat server <-> compat client -----------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_compat_server_compat_client(model):
    server_got, client_got, done = Recorder(), Recorder(), threading.Event()
    svr = make_server(model, server_got)
    port = start_server(svr, model)
    cli = make_client(model, client_got, done)
    try:
        assert start_client(cli, model, port) is True
        cli.SendTest()
        assert done.wait(TIMEOUT)
        expected = expected_items(model)
        assert client_got.wait(len(expected)) == expected
        assert server_got.wait(len(expected)) == expected
        assert HPSocket.HP_Server_GetAllConnectionIDs(svr.Server) == [1]
    finally:
        HPSocket.HP_Client_Stop(cli.Client)
        HPSocket.HP_Server_Stop(svr.Server)


# -- against the real old binding ----------------------------------------------------


@needs_old
@pytest.mark.parametrize("model", MODELS)
def test_compat_server_old_client(model):
    server_got = Recorder()
    svr = make_server(model, server_got)
    port = start_server(svr, model)
    try:
        out = run_client_process("old", model, port)
        expected = expected_items(model)
        assert recv_lines(out) == expected
        assert server_got.wait(len(expected)) == expected
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


@needs_old
@pytest.mark.parametrize("model", MODELS)
def test_old_server_compat_client(model):
    srv = ServerProcess("old", model)
    client_got, done = Recorder(), threading.Event()
    cli = make_client(model, client_got, done)
    try:
        assert start_client(cli, model, srv.port)
        cli.SendTest()
        assert done.wait(TIMEOUT)
        expected = expected_items(model)
        assert client_got.wait(len(expected)) == expected
    finally:
        HPSocket.HP_Client_Stop(cli.Client)
    assert recv_lines(srv.finish()) == expected


@needs_old
@pytest.mark.parametrize("model", MODELS)
def test_client_wire_bytes_identical(model):
    """The old binding's demo client and compat's put the same bytes on the wire."""
    captured = {}
    for impl in ("old", "compat"):
        tap = Tap()
        out = run_client_process(impl, model, tap.port)
        captured[impl] = tap.result()
        assert recv_lines(out) == expected_items(model)
    assert captured["old"] == captured["compat"] == expected_wire(model)


@needs_old
@pytest.mark.parametrize("model", MODELS)
def test_server_wire_bytes_identical(model):
    """A plain socket sends the demo traffic to the old demo server and to
    compat's: the replies are byte for byte the same."""
    replies = {}
    request = expected_wire(model)
    for impl in ("old", "compat"):
        srv = ServerProcess(impl, model)
        with socket.create_connection((HOST, srv.port), timeout=TIMEOUT) as s:
            replies[impl] = roundtrip(s, request)
        items = recv_lines(srv.finish())
        if model == "push":      # a stream: one send's bytes may arrive in one read
            assert b"".join(items) == b"".join(expected_items(model))
        else:
            assert items == expected_items(model)
    assert replies["old"] == replies["compat"] == request


# -- README example and exit -----------------------------------------------------------


def test_readme_example(capsys):
    ns = runpy.run_path(os.path.join(HERE, "compat_programs", "readme_server.py"), run_name="readme")
    svr = ns["Server"]()
    try:
        assert svr.Start(host=HOST, port=0)
        port = HPSocket.HP_Server_GetListenAddress(svr.Server)[1]
        def echo(s, msg):
            assert roundtrip(s, msg) == msg

        with socket.create_connection((HOST, port), timeout=TIMEOUT) as a:
            echo(a, b"hello")          # accepted and answered before the second one
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as b:
                echo(b, "你好".encode("GBK"))
                echo(a, b"again")
                assert sorted(HPSocket.HP_Server_GetAllConnectionIDs(svr.Server)) == [1, 2]
        wait_for(lambda: HPSocket.HP_Server_GetConnectionCount(svr.Server) == 0)
    finally:
        HPSocket.HP_Server_Stop(svr.Server)
    out = capsys.readouterr().out
    assert "Current connected: [1]" in out
    assert "Current connected: [1, 2]" in out or "Current connected: [2, 1]" in out
    assert "[1, OnReceive] < b'hello'" in out
    assert "[1, OnAccept] < ('127.0.0.1', " in out and "\\x00" not in out
    assert "opt=5 err=0" in out


def test_program_exits_with_live_connections():
    r = run_python(os.path.join(HERE, "compat_programs", "exit_with_connections.py"), timeout=15)
    assert r.returncode == 0, r.stderr
    assert "CONNECTED" in r.stdout


# -- behaviour of the old API --------------------------------------------------------


def test_sender_handles_and_keywords():
    seen = Recorder()

    class Server(TcpPush.HP_TcpPushServer):
        @TcpPush.HP_TcpPushServer.EventDescription
        def OnPrepareListen(self, Sender, SocketHandler):
            seen.add(("listen", Sender == self.Server, type(Sender), isinstance(SocketHandler, int)))

        def OnAccept(self, s, c, fd):          # positional: names are free
            seen.add(("accept", s == self.Server, c, HPSocket.SYS_SSO_NoDelay(fd, True)))
            return HPSocket.EnHandleResult.HR_OK

        @TcpPush.HP_TcpPushServer.EventDescription
        def OnReceive(self, Sender, ConnID, Data, Length):
            seen.add(("recv", Data, Length))
            self.Send(Sender=Sender, ConnID=ConnID, Data=Data)

    svr = Server()
    assert isinstance(svr.Server, int) and svr.Server != svr.Listener
    port = start_server(svr, "push")
    try:
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(b"abc")
            assert s.recv(10) == b"abc"
        items = seen.wait(3)
        assert items[0] == ("listen", True, int, True)
        assert items[1] == ("accept", True, 1, 0)
        assert items[2] == ("recv", b"abc", 3)
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


def test_handler_exception_keeps_connection(unraisable):
    class Server(TcpPush.HP_TcpPushServer):
        @TcpPush.HP_TcpPushServer.EventDescription
        def OnAccept(self, Sender, ConnID, Client):
            raise AttributeError("'str' object has no attribute 'decode'")

        @TcpPush.HP_TcpPushServer.EventDescription
        def OnReceive(self, Sender, ConnID, Data, Length):
            if Data == b"boom":
                raise ValueError("boom")
            self.Send(Sender, ConnID, Data)

    svr = Server()
    port = start_server(svr, "push")
    try:
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(b"boom")
            errs = unraisable.wait(2)
            s.sendall(b"ok")
            assert s.recv(10) == b"ok"
        assert {type(e.exc_value) for e in errs} == {AttributeError, ValueError}
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


def test_hr_error_is_honoured():
    closed = Recorder()

    class Server(TcpPush.HP_TcpPushServer):
        @TcpPush.HP_TcpPushServer.EventDescription
        def OnReceive(self, Sender, ConnID, Data, Length):
            return HPSocket.EnHandleResult.HR_ERROR

        def OnClose(self, Sender, ConnID, Operation, ErrorCode):
            closed.add((ConnID, Operation))

    svr = Server()
    port = start_server(svr, "push")
    try:
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(b"x")
            assert s.recv(10) == b""          # the server closed it
        assert closed.wait(1)[0] == (1, HPSocket.EnSocketOperation.SO_RECEIVE)
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


def test_wrong_keyword_names_are_reported(unraisable):
    class Server(TcpPack.HP_TcpPackServer):
        def OnReceive(self, Sender, ConnID, Body):     # 0.9.3 calls it with Data=
            pass

    svr = Server()
    port = start_server(svr, "pack")
    try:
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(pack_frame(b"hi", HEAD_FLAG))
            err = unraisable.wait(1)[0]
        assert isinstance(err.exc_value, TypeError)
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


def test_pack_sizes_and_flag():
    got = Recorder()
    svr = make_server("pack", got)
    port = start_server(svr, "pack")
    assert HPSocket.HP_TcpPackServer_GetMaxPackSize(svr.Server) == 0x40000
    assert HPSocket.HP_TcpPackServer_GetPackHeaderFlag(svr.Server) == HEAD_FLAG
    cli = TcpPack.HP_TcpPackClient()
    try:
        assert cli.Start(HOST, port, HEAD_FLAG, size=0x2000)
        assert HPSocket.HP_TcpPackClient_GetMaxPackSize(cli.Client) == 0x2000
        assert cli.Send(cli.Client, b"z" * 4096)       # 0.9.3's 0xFFF default refused this
        assert cli.Send(cli.Client, b"z" * 0x2001) is False
        assert cli.Send(cli.Client, b"") is False
        assert got.wait(1) == [b"z" * 4096]
    finally:
        HPSocket.HP_Client_Stop(cli.Client)
        HPSocket.HP_Server_Stop(svr.Server)
    bad = TcpPack.HP_TcpPackServer()
    assert bad.Start(HOST, 0, head_flag=0x400) is False


def test_pull_split_packet_and_raw_parameter():
    bodies = Recorder()

    class Server(TcpPull.HP_TcpPullServer):      # no OnAccept: compat creates the state
        def OnReceiveBody(self, Sender, ConnID, Body, raw):   # pre-0.9.3 signature
            bodies.add((Body == raw, helper.GeneratePkg(Body)))

    svr = Server()
    port = start_server(svr, "pull")
    try:
        pkt = pull_packet(7)
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
            s.sendall(pkt[:5])
            s.sendall(pkt[5:20])
            wait_for(lambda: HPSocket.HP_Server_GetConnectionCount(svr.Server) == 1)
            s.sendall(pkt[20:] + pkt)
            items = bodies.wait(2)
        assert items[0] == (True, ("伤神恶趣味" + "\x00" * 20, 23, "text to be sent\x00"))
        assert items[1] == items[0]
    finally:
        HPSocket.HP_Server_Stop(svr.Server)


@pytest.mark.parametrize("model", MODELS)
def test_agent(model, unraisable):
    server_got = Recorder()
    svr = make_server(model, server_got)
    port = start_server(svr, model)
    events = Recorder()
    mod = {"push": TcpPush, "pull": TcpPull, "pack": TcpPack}[model]
    base = {"push": TcpPush.HP_TcpPushAgent, "pull": TcpPull.HP_TcpPullAgent, "pack": TcpPack.HP_TcpPackAgent}[model]

    class Agent(base):
        EventDescription = mod.HP_TcpPushServer.EventDescription if model == "push" else base.EventDescription

        @EventDescription
        def OnConnect(self, Sender, ConnID):
            ip, _ = HPSocket.HP_Agent_GetLocalAddress(Sender=Sender, ConnID=ConnID)
            ip.decode("GBK")       # the demos' bug: AttributeError, connection kept

        def OnShutdown(self, Sender):
            events.add("shutdown")

        def OnClose(self, Sender, ConnID, Operation, ErrorCode):
            events.add(("close", ConnID, Operation, ErrorCode))

    if model == "push":
        Agent.OnReceive = lambda self, Sender, ConnID, Data, Length: events.add(("recv", ConnID, Data))
    elif model == "pack":
        Agent.OnReceive = lambda self, Sender, ConnID, Data: events.add(("recv", ConnID, Data))
    else:
        Agent.OnReceiveBody = lambda self, Sender, ConnID, Body: events.add(("recv", ConnID, Body))

    agt, other = Agent(), Agent()
    assert agt.ConnIDPool is not other.ConnIDPool
    ok = agt.Start("0.0.0.0", head_flag=HEAD_FLAG) if model == "pack" else agt.Start("0.0.0.0")
    assert ok
    try:
        ids = [agt.Connect(HOST, port) for _ in range(3)]
        assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 3
        assert agt.ConnIDPool == {i: (HOST, port) for i in ids}
        assert sorted(HPSocket.HP_Agent_GetAllConnectionIDs(agt.Agent)) == sorted(ids)
        for i in ids:
            data = pull_packet(i) if model == "pull" else b"msg %d" % i
            assert agt.Send(agt.Agent, i, data)
        got = events.wait(3)
        expect_body = (lambda i: pull_packet(i)[8:]) if model == "pull" else (lambda i: b"msg %d" % i)
        assert sorted(got) == sorted(("recv", i, expect_body(i)) for i in ids)
        agt.DisConnect(ids[0])
        assert events.wait(4)[3] == ("close", ids[0], HPSocket.EnSocketOperation.SO_CLOSE, 0)
        wait_for(lambda: ids[0] not in agt.ConnIDPool)
        assert agt.Connect(HOST, 1) is None         # refused
    finally:
        agt.Stop()
        HPSocket.HP_Server_Stop(svr.Server)
    assert "shutdown" in events.wait(5)
    assert {type(e.exc_value) for e in unraisable.wait(3)} == {AttributeError}   # OnConnect's, reported
    with pytest.raises(Exception, match="Cannot stop agent!"):
        agt.Stop()


def test_start_failures():
    a = TcpPush.HP_TcpPushServer()
    port = start_server(a, "push")
    try:
        b = TcpPush.HP_TcpPushServer()
        assert b.Start(HOST, port) is False
        assert HPSocket.HP_Server_GetLastError(b.Server) == HPSocket.EnSocketError.SE_SOCKET_BIND
        assert HPSocket.HP_GetSocketErrorDesc(4) == "Bind SOCKET Fail"
        assert a.Start(HOST, 0) is False
        assert HPSocket.HP_Server_GetLastError(a.Server) == HPSocket.EnSocketError.SE_ILLEGAL_STATE
    finally:
        assert HPSocket.HP_Server_Stop(a.Server) is True
    assert HPSocket.HP_Server_Stop(a.Server) is False
    cli = TcpPush.HP_TcpPushClient()
    assert cli.Start(HOST, port) is False
    assert HPSocket.HP_Client_GetLastError(cli.Client) == HPSocket.EnSocketError.SE_CONNECT_SERVER


def test_client_extra_and_addresses():
    svr = make_server("push", Recorder())
    port = start_server(svr, "push")
    cli = TcpPush.HP_TcpPushClient()
    try:
        assert HPSocket.HP_Client_SetExtra(cli.Client, {"k": 1})
        assert cli.Start(HOST, port)
        assert HPSocket.HP_Client_GetExtra(cli.Client, dict) == {"k": 1}
        assert HPSocket.HP_Client_GetRemoteHost(cli.Client) == (HOST, port)
        assert HPSocket.HP_Client_GetLocalAddress(cli.Client)[0] == HOST
        assert HPSocket.HP_Server_GetRemoteAddress(svr.Server, 99) is None
        assert HPSocket.HP_Server_GetConnectionExtra(svr.Server, 99, None) is None   # no lock leak
        wait_for(lambda: HPSocket.HP_Server_GetAllConnectionIDs(svr.Server) == [1])
        assert HPSocket.HP_Server_SetConnectionExtra(svr.Server, 1, "x")
        assert HPSocket.HP_Server_GetConnectionExtra(svr.Server, 1, str) == "x"
        assert HPSocket.HP_Server_SetConnectionExtra(svr.Server, 99, "x") is False
    finally:
        HPSocket.HP_Client_Stop(cli.Client)
        HPSocket.HP_Server_Stop(svr.Server)


def test_helpers_and_sys_functions():
    pkt = helper.GeneratePkgBuffer(seq=7, name="abc", age=-2, desc="hi")
    assert pkt.hex() == "07000000" "22000000" "616263" + "00" * 27 + "feff" "6869"
    assert helper.UnpackTPkgHeader(pkt[:8]) == (7, 34)
    assert helper.TPkgHeader.sizeof() == 8 and ctypes.sizeof(helper.TPkgInfo) == 8
    info = helper.TPkgInfo(False, 3)
    info.Reset()
    assert (info.is_header, info.length) == (True, 8)
    assert len(helper.CBuffer(b"abc")) == 2
    assert HPSocket.HP_GetHPSocketVersion() == 0x05020201
    assert HPSocket.SYS_Base64Decode(HPSocket.SYS_Base64Encode("abc")) == b"abc"
    assert HPSocket.SYS_Uncompress(HPSocket.SYS_Compress(b"x" * 100)) == b"x" * 100
    assert HPSocket.SYS_GZipUncompress(HPSocket.SYS_GZipCompress(b"x" * 100)) == b"x" * 100
    assert HPSocket.SYS_UrlDecode(HPSocket.SYS_UrlEncode(b"a b&c")) == b"a b&c"
    assert HPSocket.SYS_GetIPAddress("localhost")[0] in ("127.0.0.1", "::1")
    assert HPSocket.SYS_IsIPAddress("127.0.0.1") == HPSocket.EnIPAddrType.IPT_IPV4
    assert HPSocket.SYS_IsIPAddress("nope") is False
    assert HPSocket.SYS_GbkToUtf8("中".encode("GBK")) == "中".encode("utf-8")
    assert HPSocket.EnHandleResult.HR_ERROR == 2 and type(HPSocket.EnHandleResult.HR_OK) is int


def test_event_description_wraps():
    @TcpPush.HP_TcpPushServer.EventDescription
    def handler(Sender, ConnID):
        return "not a result"

    assert handler(1, 2) == HPSocket.EnHandleResult.HR_OK
    assert handler.__name__ == "handler"
    assert TcpPull.HP_TcpPullServer.EventDescription(lambda: ctypes.c_int(2))() == 2
    assert TcpPack.HP_TcpPackServer.EventDescription(lambda: True)() == 0


# -- fuzzing: package helpers --------------------------------------------------------

int32 = st.integers(-2 ** 31, 2 ** 31 - 1)
int16 = st.integers(-2 ** 15, 2 ** 15 - 1)
gbk_text = st.text(st.characters(codec="gbk"), max_size=40)
ascii_text = st.text(st.characters(codec="ascii"), max_size=200)


def _gbk_name(max_bytes=30):
    return gbk_text.filter(lambda s: len(s.encode("gbk")) <= max_bytes and not s.endswith("\0"))


@FUZZ
@given(seq=int32, name=_gbk_name(), age=int16, desc=ascii_text)
def test_pkg_round_trip(seq, name, age, desc):
    buf = helper.GeneratePkgBuffer(seq, name, age, desc)
    assert len(buf) == helper.TPkgHeaderSize + 32 + len(desc)
    got_seq, body_len = helper.UnpackTPkgHeader(buf[:helper.TPkgHeaderSize])
    assert (got_seq, body_len) == (seq, len(buf) - helper.TPkgHeaderSize)
    got_name, got_age, got_desc = helper.GeneratePkg(buf[helper.TPkgHeaderSize:])
    assert got_name.rstrip("\0") == name and len(got_name.encode("gbk")) == 30
    assert (got_age, got_desc) == (age, desc)
    # the ctypes views of the same bytes agree
    hdr = helper.TPkgHeader.from_buffer_copy(buf[:8])
    assert (hdr.seq, hdr.body_len) == (seq & 0xFFFFFFFF, body_len)
    body = helper.TPkgBody.from_buffer_copy(buf[8:8 + ctypes.sizeof(helper.TPkgBody)])
    assert body.age == age
    if "\0" not in name:          # a c_char array reads up to the first NUL
        assert body.name.decode("gbk") == name


@FUZZ
@given(seq=st.one_of(int32, ints, not_ints), name=st.one_of(gbk_text, st.text(max_size=40), not_ints),
       age=st.one_of(int16, ints, not_ints), desc=st.one_of(gbk_text, st.text(max_size=40), not_ints))
def test_pkg_build_arbitrary(seq, name, age, desc):
    """Any arguments: a packet whose header counts its body, or a clear
    exception (struct.error, a Unicode error, TypeError)."""
    try:
        buf = helper.GeneratePkgBuffer(seq, name, age, desc)
    except (struct.error, UnicodeError, TypeError, AttributeError, ValueError):
        return
    seq2, body_len = helper.UnpackTPkgHeader(buf[:8])
    assert seq2 == operator.index(seq) and body_len == len(buf) - 8
    # desc is counted in characters (as in the old binding): its GBK bytes
    # are cut to that many
    assert buf[40:] == desc.encode("gbk")[:len(desc)]


@FUZZ
@given(data=st.binary(max_size=100))
def test_pkg_parse_arbitrary_bytes(data):
    try:
        seq, body_len = helper.UnpackTPkgHeader(data)
    except struct.error:
        assert len(data) != 8
    else:
        assert len(data) == 8 and struct.pack("ii", seq, body_len) == data
    try:
        name, age, desc = helper.GeneratePkg(data)
    except (struct.error, UnicodeDecodeError):
        return
    assert len(data) >= 32 and isinstance(name, str) and isinstance(age, int) and isinstance(desc, str)


@FUZZ
@given(header=st.booleans(), length=int32)
def test_pkg_info(header, length):
    info = helper.TPkgInfo(header, length)
    assert (info.is_header, info.length) == (header, length)
    info.Reset()
    assert (info.is_header, info.length) == (True, helper.TPkgHeaderSize)


@FUZZ
@given(init=st.one_of(st.integers(0, 1000), st.binary(max_size=100), not_ints))
def test_cbuffer(init):
    try:
        buf = helper.CBuffer(init)
    except (TypeError, ValueError):
        assert not (isinstance(init, bytes) or isinstance(init, int) and init >= 1)
        return
    n = init if isinstance(init, int) else len(init)
    assert len(buf.Contents()) >= n


# -- fuzzing: the Pull protocol parser -------------------------------------------------


class _Sink:
    """Stands in for a compat Pull object: records heads and bodies."""

    def __init__(self):
        self.events = []

    def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
        self.events.append(("head", Seq, Length, raw))

    def OnReceiveBody(self, Sender, ConnID, Body):
        self.events.append(("body", Body))


class _Stream:
    """The pull buffer of one connection: data arrives in pieces, the parser
    fetches exactly what it asks for."""

    def __init__(self):
        self.buf = bytearray()

    def fetch(self, n):
        if n > len(self.buf):
            return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _feed(stream_bytes, cuts):
    """Feed the bytes to pull_parse in pieces cut at ``cuts``; returns
    (sink, results, stream, info)."""
    sink, stream, info = _Sink(), _Stream(), helper.TPkgInfo()
    results = []
    points = sorted({c % (len(stream_bytes) + 1) for c in cuts} | {len(stream_bytes)})
    start = 0
    for p in points:
        stream.buf += stream_bytes[start:p]
        start = p
        r = compat_roles.pull_parse(sink, 1, 7, len(stream.buf), info, stream.fetch)
        results.append(r)
        if r == compat_base.HR_ERROR:
            break
    stream.fed = start
    return sink, results, stream, info


packets = st.lists(st.tuples(int32, _gbk_name(), int16, ascii_text), max_size=6)


@FUZZ
@given(pkts=packets, cuts=st.lists(st.integers(0, 10 ** 6), max_size=12))
def test_pull_parser_well_formed(pkts, cuts):
    """Whole packets arrive as heads and bodies whatever the split points."""
    wire = b"".join(helper.GeneratePkgBuffer(*p) for p in pkts)
    sink, results, stream, info = _feed(wire, cuts)
    assert all(r == compat_base.HR_OK for r in results)
    expected = []
    for p in pkts:
        b = helper.GeneratePkgBuffer(*p)
        expected.append(("head", p[0], len(b) - 8, b[:8]))
        expected.append(("body", b[8:]))
    assert sink.events == expected
    assert not stream.buf and info.is_header and info.length == helper.TPkgHeaderSize


@FUZZ
@given(data=st.one_of(st.binary(max_size=300),
                      st.builds(lambda h, b: struct.pack("ii", *h) + b,
                                st.tuples(int32, st.integers(-5, 64)), st.binary(max_size=100))),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_pull_parser_arbitrary_bytes(data, cuts):
    """Garbage: heads and bodies as the bytes say, HR_ERROR (close) on a
    negative length, never an exception, and never more bytes taken than given."""
    sink, results, stream, info = _feed(data, cuts)
    assert all(r in (compat_base.HR_OK, compat_base.HR_ERROR) for r in results)
    consumed = sum(len(e[3]) if e[0] == "head" else len(e[1]) for e in sink.events)
    for e in sink.events:
        if e[0] == "head":
            assert e[2] >= 0
    if results and results[-1] == compat_base.HR_ERROR:
        # the header announcing a negative length was taken, then the stream refused
        assert struct.unpack("ii", data[consumed:consumed + 8])[1] < 0
        consumed += 8
    assert consumed + len(stream.buf) == stream.fed


# -- fuzzing: argument converters ------------------------------------------------------


@FUZZ
@given(value=st.one_of(data_args, st.text(max_size=20), not_ints))
def test_compat_to_buffer(value):
    try:
        out = compat_base.to_buffer(value)
    except (TypeError, ValueError):
        return
    assert isinstance(out, (bytes, bytearray, memoryview))


@FUZZ
@given(handle=st.one_of(ints, not_ints))
def test_compat_handles(handle):
    with pytest.raises(ValueError):
        compat_base.core_of(handle)
    with pytest.raises(ValueError):
        HPSocket.HP_Server_Send(Server=handle, ConnID=1, Buffer=b"x")


@FUZZ
@given(host=st.one_of(st.text(max_size=20), st.binary(max_size=20), not_ints))
def test_compat_host_arg(host):
    try:
        out = compat_base.host_arg(host)
    except UnicodeDecodeError:
        assert isinstance(host, (bytes, bytearray))
        return
    if isinstance(host, (bytes, bytearray)):
        assert isinstance(out, str)
    else:
        assert out is host


def test_compat_pull_server_fuzzed_arguments():
    """The compat functions swallow argument errors as the old binding's
    returned FALSE: never another exception."""
    srv = TcpPull.HP_TcpPullServer()
    assert HPSocket.HP_Server_Start(srv.Server, HOST, 0)
    try:
        @FUZZ
        # (lengths past Py_ssize_t: see test_pull.py's test_argument_errors)
        @given(conn=st.one_of(ints, not_ints), length=st.one_of(st.integers(-2 ** 62, 2 ** 62), not_ints),
               data=st.one_of(buffers, st.text(max_size=10)))
        def run(conn, length, data):
            for fn, args in [(HPSocket.HP_Server_Send, (conn, data)),
                             (HPSocket.HP_TcpPullServer_Fetch, (conn, length)),
                             (HPSocket.HP_TcpPullServer_Peek, (conn, length)),
                             (HPSocket.HP_Server_Disconnect, (conn,)),
                             (HPSocket.HP_Server_GetRemoteAddress, (conn,)),
                             (HPSocket.HP_Server_GetConnectionExtra, (conn,))]:
                try:
                    fn(srv.Server, *args)
                except (TypeError, ValueError, HPSocketError, ctypes.ArgumentError):
                    pass
                except OverflowError as exc:
                    pytest.fail(f"{fn.__name__}{args!r}: OverflowError {exc}")

        run()
    finally:
        HPSocket.HP_Server_Stop(srv.Server)
