"""Bulk echo: per model, 64 concurrent connections each push 1 MiB of random
data through an echo server; every connection must get back exactly what it
sent (same SHA-256, same length; for pack, the same packet boundaries)."""

import hashlib
import random
import threading
import time

import pytest

import hpsocket

from conftest import HOST, Recorder

CONNECTIONS = 64
PER_CONNECTION = 1 << 20          # 1 MiB
CHUNK = 64 * 1024                 # push/pull: pieces handed to send()
MAX_PACKET = 64 * 1024            # pack: packet bodies up to 64 KiB
DEADLINE = 30.0                   # per test, generous for a loaded 2-core box


# -- echo servers --------------------------------------------------------------


class Closes:
    def __init__(self, **options):
        super().__init__(**options)
        self.closes = Recorder()

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class PushEcho(Closes, hpsocket.TcpServer):
    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


class PullEcho(Closes, hpsocket.TcpPullServer):
    def on_receive(self, conn_id, length):
        self.send(conn_id, self.fetch(conn_id, length))


class PackEcho(Closes, hpsocket.TcpPackServer):
    def on_receive(self, conn_id, data):
        self.send(conn_id, data)


SERVERS = {"push": PushEcho, "pull": PullEcho, "pack": PackEcho}


# -- peers: hash what comes back, per connection ------------------------------------


class Digests:
    """Per connection: running SHA-256 of the echoed bytes, byte and packet
    counts; `done` fires when every connection has its bytes back."""

    def __init__(self, **options):
        super().__init__(**options)
        self.lock = threading.Lock()
        self.hashes = {}
        self.sizes = {}
        self.counts = {}
        self.finished = 0
        self.done = threading.Event()
        self.closes = Recorder()

    def got(self, conn_id, data):
        with self.lock:
            h = self.hashes.get(conn_id)
            if h is None:
                h = self.hashes[conn_id] = hashlib.sha256()
                self.counts[conn_id] = 0
                self.sizes[conn_id] = []
            h.update(data)
            self.counts[conn_id] += len(data)
            self.sizes[conn_id].append(len(data))
            if self.counts[conn_id] == PER_CONNECTION:
                self.finished += 1
                if self.finished == CONNECTIONS:
                    self.done.set()

    def on_close(self, conn_id, operation, error_code):
        self.closes.add((conn_id, operation, error_code))


class PushAgent(Digests, hpsocket.TcpAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class PullAgent(Digests, hpsocket.TcpPullAgent):
    def on_receive(self, conn_id, length):
        self.got(conn_id, self.fetch(conn_id, length))


class PackAgent(Digests, hpsocket.TcpPackAgent):
    def on_receive(self, conn_id, data):
        self.got(conn_id, data)


class ClientDigests:
    """One shared Digests for 64 clients (each has its own connection id 1,
    so the client object itself is the key)."""

    def __init__(self, sink, **options):
        super().__init__(**options)
        self.sink = sink

    def on_close(self, conn_id, operation, error_code):
        self.sink.closes.add((id(self), operation, error_code))


class PushClient(ClientDigests, hpsocket.TcpClient):
    def on_receive(self, conn_id, data):
        self.sink.got(id(self), data)


class PullClient(ClientDigests, hpsocket.TcpPullClient):
    def on_receive(self, conn_id, length):
        self.sink.got(id(self), self.fetch(length))


class PackClient(ClientDigests, hpsocket.TcpPackClient):
    def on_receive(self, conn_id, data):
        self.sink.got(id(self), data)


AGENTS = {"push": PushAgent, "pull": PullAgent, "pack": PackAgent}
CLIENTS = {"push": PushClient, "pull": PullClient, "pack": PackClient}


class Sink(Digests):
    """The shared Digests of the client variant."""


def pieces(model, data, rng):
    """The send() calls for one connection: fixed chunks, or for pack
    packets of random sizes (1 .. 64 KiB) covering the data."""
    if model != "pack":
        return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    out = []
    pos = 0
    while pos < len(data):
        n = min(rng.randint(1, MAX_PACKET), len(data) - pos)
        out.append(data[pos:pos + n])
        pos += n
    return out


@pytest.mark.parametrize("kind", ["agent", "client"])
@pytest.mark.parametrize("model", ["push", "pull", "pack"])
def test_bulk_echo(model, kind, unraisable):
    rng = random.Random(f"bulk-{model}-{kind}")
    started = time.monotonic()
    with SERVERS[model]() as server:
        server.start(HOST, 0)
        port = server.listen_address[1]

        peers = []
        try:
            if kind == "agent":
                agent = AGENTS[model]()
                peers.append(agent)
                agent.start()
                sink = agent
                keys = [agent.connect(HOST, port) for _ in range(CONNECTIONS)]
                senders = [(lambda d, c=c: agent.send(c, d)) for c in keys]
            else:
                sink = Sink()
                keys = []
                senders = []
                for _ in range(CONNECTIONS):
                    client = CLIENTS[model](sink)
                    peers.append(client)
                    client.start(HOST, port)
                    keys.append(id(client))
                    senders.append(client.send)

            expected = {}
            plans = {}
            for key in keys:
                data = rng.randbytes(PER_CONNECTION)
                expected[key] = hashlib.sha256(data).hexdigest()
                plans[key] = pieces(model, data, rng)
            # Interleave the connections: round-robin over their pieces.
            longest = max(map(len, plans.values()))
            for i in range(longest):
                for key, send in zip(keys, senders):
                    if i < len(plans[key]):
                        assert send(plans[key][i]) is True

            assert sink.done.wait(DEADLINE), (
                f"{sink.finished} of {CONNECTIONS} connections got their data back")
            with sink.lock:
                assert set(sink.hashes) == set(keys)
                mismatched = [k for k in keys if sink.hashes[k].hexdigest() != expected[k]]
                assert sink.counts == {k: PER_CONNECTION for k in keys}
                if model == "pack":
                    for k in keys:
                        assert sink.sizes[k] == list(map(len, plans[k]))
            assert not mismatched, f"{len(mismatched)} of {CONNECTIONS} connections got other data"
            assert server.connection_count == CONNECTIONS
            # Nothing closed on the way.
            assert len(server.closes) == 0
            assert len(sink.closes) == 0
        finally:
            for peer in peers:
                peer.stop()
    assert len(unraisable) == 0, unraisable.items
    assert time.monotonic() - started < DEADLINE
