"""Shared fixtures: captured unraisable exceptions (any other report through
sys.unraisablehook fails the test), and a check after every test that no
native component or connection record is left behind.

The helpers live in support.py; they are imported here too, so that
``from conftest import wait_for`` keeps working."""

import gc
import sys
import traceback

import pytest

from hpsocket import _core

from support import HOST, TIMEOUT, Recorder, connect, recv_exact, roundtrip, wait_for  # noqa: F401


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def unraisable(monkeypatch):
    """Exceptions reported through sys.unraisablehook during the test (the
    hook's arguments).  A test that expects reports takes this fixture and
    checks them; for any other test a report is a failure (see
    fail_on_unraisable)."""
    caught = Recorder()
    monkeypatch.setattr(sys, "unraisablehook", caught.add)
    yield caught
    # The records reference handlers and so components: let them go before
    # no_leftovers checks that everything was freed.
    caught.clear()


def _describe(args):
    try:
        what = repr(args.object)
    except Exception as exc:        # noqa: BLE001 - only a description
        what = f"<unprintable object: {exc!r}>"
    return (f"{args.err_msg or 'Exception ignored in'}: {what}\n"
            + "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))


@pytest.fixture(autouse=True)
def fail_on_unraisable(request):
    """Fail the test on any report through sys.unraisablehook, from its
    start to the end of its teardown (no_leftovers' garbage collection
    included), unless it takes the `unraisable` fixture.  Only text is kept,
    so that no report keeps a component alive."""
    if "unraisable" in request.fixturenames:
        yield
        return
    reports = Recorder()
    previous = sys.unraisablehook
    sys.unraisablehook = lambda args: reports.add(_describe(args))
    try:
        yield
    finally:
        sys.unraisablehook = previous
    if reports.items:
        pytest.fail(f"{len(reports.items)} exception(s) reported through sys.unraisablehook "
                    f"(a test that expects them takes the `unraisable` fixture):\n\n"
                    + "\n".join(reports.items), pytrace=False)


@pytest.fixture(autouse=True)
def no_leftovers(fail_on_unraisable):
    """Every test must stop what it starts: no live component may outlive it
    and no connection record may be left once they are collected.  (It
    depends on fail_on_unraisable so that the unraisable check is set up
    first and ends last.)"""
    before = _core._counters()
    yield
    for obj in list(_core._live):
        obj.stop()
        pytest.fail(f"{obj!r} was still running after the test")
    gc.collect()
    if _core.DEBUG:   # counted in debug builds only (CI runs the suite on one)
        assert _core._counters()["in_flight"] == 0
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
