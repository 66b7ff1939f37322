"""Structured log lines: logfmt formatting and quoting."""

import logging

import pytest

from dashboard.logs import client_address, format_value, log_event, logfmt


def test_simple_values_are_bare():
    """Words, numbers and booleans appear as they are, in the order given."""
    line = logfmt("viewer_closed", client="127.0.0.1:5555", code=1008, ok=True, ratio=0.25)
    assert line == "event=viewer_closed client=127.0.0.1:5555 code=1008 ok=true ratio=0.25"


def test_reason_with_spaces_is_quoted():
    """A reason with spaces is one quoted value (the example in dashboard/logs.py)."""
    line = logfmt(
        "viewer_closed", client="127.0.0.1:5555", code=1008, reason="too slow: reconnect and resume"
    )
    expected = "event=viewer_closed client=127.0.0.1:5555 code=1008"
    assert line == expected + ' reason="too slow: reconnect and resume"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", '""'),
        (None, ""),
        ("a=b", '"a=b"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("two\nlines\r\n", r'"two\nlines\r\n"'),
        ("tab\there", r'"tab\there"'),
        ("bell\x07", r'"bell\u0007"'),
        ("line\u2028sep", r'"line\u2028sep"'),
        ("<img src=x onerror=alert(1)>", '"<img src=x onerror=alert(1)>"'),
        ("naïve", "naïve"),
        (1.23456789, "1.235"),
        (3.0, "3"),
    ],
)
def test_values_are_quoted_and_escaped_when_needed(value, expected):
    """Empty, '=', quotes, backslashes and unprintables are quoted and escaped,
    so a client-chosen string can never split a line or forge a field."""
    assert format_value(value) == expected


def test_forged_fields_stay_inside_one_value():
    """A value pretending to add fields and a new line stays one quoted value on one line."""
    line = logfmt("ingest_rejected", error='x" code=ok\nevent=fake')
    assert "\n" not in line
    assert line == r'event=ingest_rejected error="x\" code=ok\nevent=fake"'


def test_log_event_emits_one_record_at_the_level(caplog):
    """log_event logs one record at its level, traceback attached on request."""
    logger = logging.getLogger("dashboard.test_logs")
    caplog.set_level(logging.INFO, logger=logger.name)
    try:
        raise OSError("sensor unplugged")
    except OSError:
        log_event(logger, logging.ERROR, "feed_crashed", exc_info=True, feed="x", error="OSError")
    log_event(logger, logging.DEBUG, "not_shown", feed="x")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "event=feed_crashed feed=x error=OSError"
    assert record.exc_info is not None and record.exc_info[0] is OSError


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"client": ("127.0.0.1", 5555)}, "127.0.0.1:5555"),
        ({"client": ("::1", 5555)}, "[::1]:5555"),
        ({"client": None}, ""),
        ({}, ""),
    ],
)
def test_client_address_is_host_and_port(scope, expected):
    """The ASGI peer as host:port, IPv6 in brackets, empty when unknown."""
    assert client_address(scope) == expected
