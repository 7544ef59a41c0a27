"""The cost of handing events from a non-Python thread to an asyncio loop:
hpsocket.aio's inbox (native queue, eventfd written on empty -> non-empty,
one drain per wake-up) against call_soon_threadsafe per event, the obvious
alternative.  Each round hands 20,000 events of 64 bytes to a callback on
the loop; extra_info carries events per wake-up."""

import asyncio
import threading

import pytest

from hpsocket import _core

N = 20_000
SIZE = 64


def _inbox_round(per_conn):
    async def main():
        loop = asyncio.get_running_loop()
        inbox = _core._aio_inbox(loop)
        got = [0]
        done = loop.create_future()

        def sink(conn_id, data):
            got[0] += 1
            if got[0] == N:
                done.set_result(None)

        inbox._sink = sink
        t = threading.Thread(target=_core._aio_push, args=(inbox, N, SIZE, per_conn))
        t.start()
        await asyncio.wait_for(done, 30)
        t.join()
        inbox.close()
        return inbox.events, inbox.wakeups
    return asyncio.run(main())


def _threadsafe_round():
    async def main():
        loop = asyncio.get_running_loop()
        got = [0]
        done = loop.create_future()
        payload = b"x" * SIZE

        def sink(conn_id, data):
            got[0] += 1
            if got[0] == N:
                done.set_result(None)

        def producer():
            for i in range(N):
                loop.call_soon_threadsafe(sink, i, bytes(payload))

        t = threading.Thread(target=producer)
        t.start()
        await asyncio.wait_for(done, 60)
        t.join()
    asyncio.run(main())


@pytest.mark.benchmark(group="worker -> loop hand-off (20k events of 64 B)")
def test_inbox_distinct_connections(benchmark):
    events, wakeups = benchmark.pedantic(_inbox_round, args=(1,), rounds=5, iterations=1)
    benchmark.extra_info.update(events=events, wakeups=wakeups, events_per_wakeup=events / max(wakeups, 1))
    assert events == N


@pytest.mark.benchmark(group="worker -> loop hand-off (20k events of 64 B)")
def test_call_soon_threadsafe_per_event(benchmark):
    benchmark.pedantic(_threadsafe_round, rounds=5, iterations=1)
