"""The old binding's demo programs (Demo/Tcp{Push,Pull,Pack}{Server,Client}.py),
bounded, runnable on either implementation:

    python demo.py {old|compat} {push|pull|pack} server
        prints "PORT <n>", echoes as the demo servers do, prints "RECV <hex>"
        for every item received; ends (os._exit(0)) when stdin closes.
    python demo.py {old|compat} {push|pull|pack} client <port> <rounds>
        the demo client's ping-pong for <rounds> messages, "RECV <hex>" per
        item received, then "DONE" and os._exit(0).

Only the imports differ between the two implementations.  The old binding
hangs at interpreter exit with open connections, hence os._exit.
"""

import os
import sys
import threading

impl, model, role = sys.argv[1:4]
if impl == "old":
    from HPSocket import TcpPack, TcpPull, TcpPush, helper
    import HPSocket.pyhpsocket as HPSocket
else:
    from hpsocket.compat import TcpPack, TcpPull, TcpPush, helper
    import hpsocket.compat.pyhpsocket as HPSocket

threading.Timer(30, lambda: (print("TIMEOUT", flush=True), os._exit(3))).start()
lock = threading.Lock()
HEAD_FLAG = 0x169


def out(*a):
    with lock:
        print(*a, flush=True)


def pull_packet(seq):
    return helper.GeneratePkgBuffer(seq=seq, name="伤神恶趣味", age=23, desc="text to be sent\x00")


# -- servers -------------------------------------------------------------------

class PushServer(TcpPush.HP_TcpPushServer):
    EventDescription = TcpPush.HP_TcpPushServer.EventDescription

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data, Length):
        out("RECV", Data.hex())
        self.Send(Sender=Sender, ConnID=ConnID, Data=Data)
        return HPSocket.EnHandleResult.HR_OK


class PullServer(TcpPull.HP_TcpPullServer):
    EventDescription = TcpPull.HP_TcpPullServer.EventDescription

    @EventDescription
    def OnAccept(self, Sender, ConnID, Client):
        pkg = helper.TPkgInfo(True, helper.TPkgHeaderSize)
        HPSocket.HP_Server_SetConnectionExtra(Sender, ConnID, pkg)

    @EventDescription
    def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
        out("RECV", raw.hex())
        self.Send(Sender, ConnID, raw)

    @EventDescription
    def OnReceiveBody(self, Sender, ConnID, Body):
        helper.GeneratePkg(Body)
        out("RECV", Body.hex())
        self.Send(Sender, ConnID, Body)


class PackServer(TcpPack.HP_TcpPackServer):
    EventDescription = TcpPack.HP_TcpPackServer.EventDescription

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data):
        out("RECV", Data.hex())
        self.Send(Sender=Sender, ConnID=ConnID, Data=Data)


# -- clients -------------------------------------------------------------------

class PushClient(TcpPush.HP_TcpPushClient):
    EventDescription = TcpPush.HP_TcpPushServer.EventDescription
    counter = 0

    @EventDescription
    def SendTest(self):
        self.counter += 1      # before sending: the echo may come back at once
        self.Send(self.Client, "text to be sent - %d" % (self.counter - 1))

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data, Length):
        out("RECV", Data.hex())
        if self.counter < rounds:
            self.SendTest()
        else:
            finished.set()


class PullClient(TcpPull.HP_TcpPullClient):
    EventDescription = TcpPull.HP_TcpPullServer.EventDescription

    def SendTest(self):
        self.SEQ += 1
        self.Send(self.Client, pull_packet(self.SEQ))

    @EventDescription
    def OnReceiveHead(self, Sender, ConnID, Seq, Length, raw):
        out("RECV", raw.hex())

    @EventDescription
    def OnReceiveBody(self, Sender, ConnID, Body):
        out("RECV", Body.hex())
        if self.SEQ < rounds:
            self.SendTest()
        else:
            finished.set()


class PackClient(TcpPack.HP_TcpPackClient):
    EventDescription = TcpPack.HP_TcpPackServer.EventDescription
    counter = 0

    def SendTest(self):
        self.counter += 1      # before sending: the echo may come back at once
        self.Send(self.Client, "text to be sent - %d" % (self.counter - 1))

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data):
        out("RECV", Data.hex())
        if self.counter < rounds:
            self.SendTest()
        else:
            finished.set()


if role == "server":
    svr = {"push": PushServer, "pull": PullServer, "pack": PackServer}[model]()
    if model == "pack":
        ok = svr.Start(host="127.0.0.1", port=0, head_flag=HEAD_FLAG)
    else:
        ok = svr.Start(host="127.0.0.1", port=0)
    if not ok:
        out("FAILED")
        os._exit(2)
    out("PORT", HPSocket.HP_Server_GetListenAddress(svr.Server)[1])
    sys.stdin.read()
    os._exit(0)
else:
    port, rounds = int(sys.argv[4]), int(sys.argv[5])
    finished = threading.Event()
    cli = {"push": PushClient, "pull": PullClient, "pack": PackClient}[model]()
    if model == "pack":
        ok = cli.Start(host="127.0.0.1", port=port, head_flag=HEAD_FLAG)
    else:
        ok = cli.Start(host="127.0.0.1", port=port)
    if not ok:
        out("FAILED")
        os._exit(2)
    cli.SendTest()
    finished.wait(20)
    HPSocket.HP_Client_Stop(cli.Client)
    out("DONE")
    os._exit(0)
