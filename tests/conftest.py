"""Shared fixtures: bounded waiting, captured unraisable exceptions, and a
check after every test that no native component or connection record is
left behind."""

import gc
import socket
import sys
import threading
import time

import pytest

import hpsocket
from hpsocket import _core

HOST = "127.0.0.1"
TIMEOUT = 10.0


def wait_for(predicate, timeout=TIMEOUT, interval=0.005):
    """Poll predicate until it is true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def connect(server):
    """A plain client socket connected to a started server."""
    return socket.create_connection(server.listen_address, timeout=TIMEOUT)


def recv_exact(sock, n):
    """Exactly n bytes from sock; AssertionError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def roundtrip(sock, data):
    """Send data and read until at least len(data) bytes came back."""
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {got!r}")
        got += chunk
    return got


class Recorder:
    """Thread-safe list of events with a bounded wait for a count."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, n=1, timeout=TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= n, timeout)
        assert ok, f"expected {n} events within {timeout} s, got {len(self.items)}: {self.items[:10]}"
        return list(self.items)

    def __len__(self):
        with self.cond:
            return len(self.items)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def unraisable(monkeypatch):
    """Exceptions reported through sys.unraisablehook during the test."""
    caught = Recorder()

    def hook(args):
        caught.add(args)

    monkeypatch.setattr(sys, "unraisablehook", hook)
    yield caught
    # The records reference handlers and so components: let them go before
    # no_leftovers checks that everything was freed.
    caught.items.clear()


@pytest.fixture(autouse=True)
def no_leftovers():
    """Every test must stop what it starts: no live component may outlive it
    and no connection record may be left once they are collected."""
    before = _core._counters()
    yield
    for obj in list(_core._live):
        obj.stop()
        pytest.fail(f"{obj!r} was still running after the test")
    gc.collect()
    after = _core._counters()
    assert after["in_flight"] == 0
    wait_for(lambda: _core._counters()["live_native"] <= before["live_native"], timeout=5)
    wait_for(lambda: _core._counters()["conn_records"] <= before["conn_records"], timeout=5)


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="run the stress, soak and fuzz tests in full mode (long); "
                          "the default is their quick mode")


@pytest.fixture
def full_mode(request):
    """True with --full: stress tests run at full size."""
    return request.config.getoption("--full")
