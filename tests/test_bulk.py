"""Bulk echo: per model, 64 concurrent connections each push 1 MiB of random
data through an echo server; every connection must get back exactly what it
sent (same SHA-256, same length; for pack, the same packet boundaries).
The routine is support.bulk_echo (test_direct_send.py runs it too)."""

import pytest

from support import bulk_echo


@pytest.mark.parametrize("kind", ["agent", "client"])
@pytest.mark.parametrize("model", ["push", "pull", "pack"])
def test_bulk_echo(model, kind):
    bulk_echo(model, kind)
