import pytest

from dashboard.history import FeedHistory
from dashboard.protocol import Point


def filled(size: int, count: int) -> FeedHistory:
    history = FeedHistory(size)
    history.extend(Point("A", seq, seq * 10, {"v": seq}) for seq in range(1, count + 1))
    return history


def test_ring_buffer_keeps_newest():
    """The buffer holds the last `size` points, oldest first."""
    history = filled(5, 12)
    assert [p.seq for p in history.recent()] == [8, 9, 10, 11, 12]
    assert (history.first_seq, history.last_seq, len(history)) == (8, 12, 5)


def test_since_returns_exactly_the_later_points():
    """since(n) gives the held points with seq > n."""
    history = filled(5, 12)
    assert [p.seq for p in history.since(9)] == [10, 11, 12]
    assert [p.seq for p in history.since(7)] == [8, 9, 10, 11, 12]
    assert history.since(12) == []


def test_can_resume_only_without_a_hole():
    """Resume works while the point after the client's seq is still held."""
    history = filled(5, 12)
    assert history.can_resume(7)  # next needed: 8, held
    assert history.can_resume(12)  # up to date
    assert not history.can_resume(6)  # 7 fell out of the buffer
    assert not history.can_resume(13)  # a seq this epoch never made


def test_empty_history():
    """An empty history resumes from 0 and has nothing to give."""
    history = FeedHistory(3)
    assert history.can_resume(0) and history.since(0) == [] and history.last_seq == 0
    assert not history.can_resume(1)


def test_size_must_be_positive():
    """A zero-size buffer is refused."""
    with pytest.raises(ValueError):
        FeedHistory(0)
