"""The stop's grace and the connections it aborts (dashboard/web/stopping.py)."""

from __future__ import annotations

import pytest

from dashboard.web.stopping import SETTLE, Connections, Grace


def test_grace_ends_timeout_seconds_after_the_stop_began():
    grace = Grace.starting(now=100.0, timeout=5.0)
    assert grace.deadline == 105.0
    assert grace.left(101.0) == 4.0
    assert grace.left(105.0) == 0.0
    assert grace.left(200.0) == 0.0  # never negative


def test_hypercorn_waits_for_the_rest_of_the_grace_then_settle_only():
    """Viewers that went at once leave Hypercorn the rest of the grace for
    other requests; viewers that held the whole grace leave it SETTLE only,
    so the stop never takes much more than the grace."""
    grace = Grace.starting(now=0.0, timeout=5.0)
    assert grace.server_wait(now=0.5) == 4.5 + SETTLE
    assert grace.server_wait(now=5.0) == SETTLE
    assert grace.server_wait(now=6.0) == SETTLE


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_grace_must_be_positive(timeout):
    with pytest.raises(ValueError, match="shutdown timeout must be > 0"):
        Grace.starting(now=0.0, timeout=timeout)


class FakeConnection:
    """Stands in for a Hypercorn connection: only abort() is used here."""

    def __init__(self) -> None:
        self.aborted = 0

    def abort(self) -> None:
        self.aborted += 1


def test_abort_all_aborts_each_open_connection_once():
    connections = Connections()
    open_ones = [FakeConnection() for _ in range(3)]
    gone = FakeConnection()
    for connection in [*open_ones, gone]:
        connections.add(connection)  # type: ignore[arg-type]
    connections.discard(gone)  # type: ignore[arg-type]
    assert len(connections) == 3
    assert connections.abort_all() == 3
    assert [c.aborted for c in open_ones] == [1, 1, 1] and gone.aborted == 0
