"""Viewer sessions as pure code: signed, expiring cookie values, and logouts."""

import re

import pytest

from dashboard.config import DashboardConfig
from dashboard.sessions import (
    MAX_SESSION_AGE,
    Session,
    SessionBook,
    decode_session,
    encode_session,
    session_key,
)

TOKEN = "correct-horse-battery-staple"
T0 = 1_764_096_000.0  # seconds on the book's (wall) clock


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def book(clock) -> SessionBook:
    return SessionBook(TOKEN, 3600.0, clock=clock)


def test_a_session_value_is_signed_and_holds_no_token(book):
    """``<issued ms>.<22-character nonce>.<64 hex MAC>``: cookie-safe characters,
    nothing of the token, a new nonce each time."""
    value, session = book.issue()
    assert re.fullmatch(r"1764096000000\.[A-Za-z0-9_-]{22}\.[0-9a-f]{64}", value)
    assert TOKEN not in value
    assert session == Session(value.split(".")[1], T0 + 3600)
    assert book.check(value) == session
    assert len({book.issue()[0] for _ in range(100)}) == 100


def test_a_session_expires_after_max_age(book, clock):
    value, _ = book.issue()
    clock.now = T0 + 3599.999
    assert book.check(value) is not None
    assert book.remaining(book.check(value)) == pytest.approx(0.001, abs=1e-6)
    clock.now = T0 + 3600
    assert book.check(value) is None


def test_tampered_or_foreign_values_are_refused(book, clock):
    """A changed issue time (to live longer), nonce or MAC, another process's
    value (another secret, same token), garbage: none is a session."""
    value, _ = book.issue()
    issued, nonce, mac = value.split(".")
    other_book = SessionBook(TOKEN, 3600.0, clock=clock)
    later = str(int(issued) + 3_600_000)
    for wrong in (
        None,
        "",
        TOKEN,
        f"{later}.{nonce}.{mac}",
        f"{issued}.{nonce[:-1]}A.{mac}" if nonce[-1] != "A" else f"{issued}.{nonce[:-1]}B.{mac}",
        f"{issued}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
        f"{issued}.{nonce}.{mac.upper()}",
        f"{issued}.{nonce}.{mac}.",
        f" {value}",
        other_book.issue()[0],
        "é" * 90,
        "1" * 17 + f".{nonce}.{mac}",
    ):
        assert book.check(wrong) is None, wrong


def test_decode_is_the_inverse_of_encode_for_the_same_key():
    key = session_key(TOKEN, b"s" * 32)
    value = encode_session(key, 1_000_000, "n" * 22)
    assert decode_session(value, key, 1000.0, 10.0) == Session("n" * 22, 1010.0)
    assert decode_session(value, session_key(TOKEN + "x", b"s" * 32), 1000.0, 10.0) is None
    assert decode_session(value, session_key(TOKEN, b"t" * 32), 1000.0, 10.0) is None


def test_logout_revokes_one_session_only(book):
    first, session = book.issue()
    second, _ = book.issue()
    assert book.revoke(session)
    assert book.check(first) is None
    assert book.check(second) is not None


def test_revocations_are_forgotten_only_when_their_session_expired(clock):
    """The record of logouts holds each until its session would have ended:
    an expired one makes room, a live one never is dropped to make room."""
    book = SessionBook(TOKEN, 100.0, clock=clock, max_revoked=2)
    a, session_a = book.issue()
    clock.now += 50
    b, session_b = book.issue()
    assert book.revoke(session_a) and book.revoke(session_b)
    clock.now = T0 + 100  # a expired: its revocation may go
    c, session_c = book.issue()
    assert book.revoke(session_c)
    assert (book.check(b), book.check(c)) == (None, None)


def test_a_full_record_of_logouts_ends_every_session(clock):
    """More live logouts than the record holds: every session ends (a new key)
    rather than one logged-out cookie working again."""
    book = SessionBook(TOKEN, 100.0, clock=clock, max_revoked=2)
    issued = [book.issue() for _ in range(4)]
    assert book.revoke(issued[0][1]) and book.revoke(issued[1][1])
    assert not book.revoke(issued[2][1])
    assert all(book.check(value) is None for value, _ in issued)
    fresh, _ = book.issue()
    assert book.check(fresh) is not None


def test_cookie_max_age_is_whole_seconds_never_shorter(clock):
    assert SessionBook(TOKEN, 43200.0, clock=clock).cookie_max_age == 43200
    assert SessionBook(TOKEN, 1.5, clock=clock).cookie_max_age == 2


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), MAX_SESSION_AGE + 1])
def test_session_max_age_is_checked(value):
    """A lifetime that is not > 0 and at most 400 days stops the start, one line."""
    expected = r"^session_max_age must be a number > 0 and <= 34560000, not "
    with pytest.raises(ValueError, match=expected):
        DashboardConfig(session_max_age=value)


def test_session_max_age_default_is_12_hours():
    assert DashboardConfig().session_max_age == 43200.0
    assert DashboardConfig(session_max_age=MAX_SESSION_AGE).session_max_age == MAX_SESSION_AGE


def test_session_max_age_on_the_command_line_and_in_the_file(tmp_path, capsys):
    """--session-max-age SECONDS or session_max_age in [server] set it; 0 or a
    word exits 2 with one line naming the option."""
    from dashboard.web.cli import config_from_args

    assert config_from_args(["--session-max-age", "90"]).session_max_age == 90.0
    config_file = tmp_path / "dashboard.toml"
    config_file.write_text("[server]\nsession_max_age = 600\n")
    assert config_from_args(["--config", str(config_file)]).session_max_age == 600
    for bad in ("0", "soon"):
        with pytest.raises(SystemExit) as exited:
            config_from_args(["--session-max-age", bad])
        assert exited.value.code == 2
        assert "error: --session-max-age must be a number > 0" in capsys.readouterr().err
    config_file.write_text("[server]\nsession_max_age = 0\n")
    with pytest.raises(SystemExit) as exited:
        config_from_args(["--config", str(config_file)])
    assert exited.value.code == 2
    assert "[server] session_max_age must be a number > 0" in capsys.readouterr().err
