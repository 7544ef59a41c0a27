"""A compat program whose main thread ends while a server and a client are
connected (the old binding hung here).  Prints "CONNECTED" then returns."""

import threading

from hpsocket.compat import TcpPush
import hpsocket.compat.pyhpsocket as HPSocket

echoed = threading.Event()


class Server(TcpPush.HP_TcpPushServer):
    @TcpPush.HP_TcpPushServer.EventDescription
    def OnReceive(self, Sender, ConnID, Data, Length):
        self.Send(Sender=Sender, ConnID=ConnID, Data=Data)


class Client(TcpPush.HP_TcpPushClient):
    @TcpPush.HP_TcpPushClient.EventDescription
    def OnReceive(self, Sender, ConnID, Data, Length):
        echoed.set()


svr = Server()
assert svr.Start(host="127.0.0.1", port=0)
cli = Client()
assert cli.Start("127.0.0.1", HPSocket.HP_Server_GetListenAddress(svr.Server)[1])
cli.Send(cli.Client, "ping")
assert echoed.wait(10)
assert HPSocket.HP_Server_GetConnectionCount(svr.Server) == 1
print("CONNECTED", flush=True)
