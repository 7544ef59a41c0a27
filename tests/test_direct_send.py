"""The experimental direct send (off by default, hpsocket._core._set_direct_send):
a push-model send from inside the connection's own on_receive writes straight
to the socket when nothing is queued for it.  Bulk echo through it must stay
byte-exact, including the partial writes of large replies."""

import pytest

from hpsocket import _core

import test_bulk


@pytest.fixture
def direct_send():
    _core._set_direct_send(True)
    yield
    _core._set_direct_send(False)


@pytest.mark.parametrize("kind", ["agent", "client"])
def test_bulk_echo_with_direct_send(kind, direct_send, unraisable):
    test_bulk.test_bulk_echo("push", kind, unraisable)
