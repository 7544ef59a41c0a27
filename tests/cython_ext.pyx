# cython: language_level=3
# Compiled by tests/test_cython_api.py: Cython code can cimport hpsocket's
# extension types and subclass them as cdef classes.

from hpsocket._core cimport TcpServer, TcpPullClient


cdef class CountingServer(TcpServer):
    cdef public long received

    def on_receive(self, conn_id, data):
        self.received += len(data)
        self.send(conn_id, data)


def is_pull_client(obj):
    return isinstance(obj, TcpPullClient)
