"""Who the client is behind trusted proxies, and which Host values are served."""

import pytest

from dashboard.proxies import (
    HostPolicy,
    TrustedProxies,
    client_of,
    parse_address,
    scheme_of,
    split_host,
)

PROXIES = TrustedProxies(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("unknown", None),
        ("", None),
        ("1.2.3.4.5", None),
        ("_hidden", None),
    ],
)
def test_parse_address(text, expected):
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


def test_untrusted_peer_headers_are_ignored():
    """From anyone not listed the forwarded headers change nothing."""
    assert client_of("203.0.113.9", ["1.1.1.1"], PROXIES) == "203.0.113.9"
    assert scheme_of("203.0.113.9", "http", ["https"], PROXIES) == "http"
    assert client_of("10.0.0.5", ["1.1.1.1"], TrustedProxies()) == "10.0.0.5"


def test_trusted_peer_gives_the_rightmost_untrusted_hop():
    """A client's own X-Forwarded-For entries (left) are never reached when
    a hop to their right is not a trusted proxy."""
    assert client_of("10.0.0.5", ["1.1.1.1"], PROXIES) == "1.1.1.1"
    assert client_of("10.0.0.5", ["6.6.6.6, 1.1.1.1"], PROXIES) == "1.1.1.1"
    assert client_of("10.0.0.5", ["6.6.6.6, 1.1.1.1, 10.2.3.4"], PROXIES) == "1.1.1.1"
    # Several headers are one list, in order.
    assert client_of("10.0.0.5", ["6.6.6.6", "1.1.1.1, 10.9.9.9"], PROXIES) == "1.1.1.1"
    assert client_of("::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"


def test_all_hops_trusted_gives_the_leftmost():
    assert client_of("10.0.0.5", ["10.1.1.1, 10.2.2.2"], PROXIES) == "10.1.1.1"


def test_no_header_from_trusted_proxy_keeps_the_peer():
    assert client_of("10.0.0.5", [], PROXIES) == "10.0.0.5"
    assert client_of("10.0.0.5", [" , "], PROXIES) == "10.0.0.5"


def test_garbage_hop_stops_at_the_trusted_hop_that_wrote_it():
    """Nothing left of an entry that is no address can be believed: the
    trusted hop that added it stands for the client (a client sending
    garbage cannot pick its own limit key)."""
    assert client_of("10.0.0.5", ["1.1.1.1, nonsense"], PROXIES) == "10.0.0.5"
    assert client_of("10.0.0.5", ["nonsense, 10.2.2.2"], PROXIES) == "10.2.2.2"


def test_forwarded_proto_from_trusted_peer():
    assert scheme_of("10.0.0.5", "http", ["https"], PROXIES) == "https"
    assert scheme_of("10.0.0.5", "ws", ["HTTPS"], PROXIES) == "wss"
    assert scheme_of("10.0.0.5", "https", ["http"], PROXIES) == "http"
    # The proxy nearest to us speaks last.
    assert scheme_of("10.0.0.5", "http", ["http, https"], PROXIES) == "https"
    # Anything else is ignored.
    assert scheme_of("10.0.0.5", "http", ["gopher"], PROXIES) == "http"
    assert scheme_of("10.0.0.5", "http", [], PROXIES) == "http"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Example.COM", ("example.com", None)),
        ("example.com.:8000", ("example.com", "8000")),
        ("[::1]:8000", ("[::1]", "8000")),
        ("[::1]", ("[::1]", None)),
        ("10.0.0.5:80", ("10.0.0.5", "80")),
    ],
)
def test_split_host(header, expected):
    assert split_host(header) == expected


def test_host_policy():
    """An entry without a port allows the host on any port; with one, only there."""
    policy = HostPolicy(("dash.example.com", "10.0.0.5:8000", "[::1]:8000"))
    assert policy.allows("dash.example.com")
    assert policy.allows("DASH.example.com:443")
    assert policy.allows("10.0.0.5:8000")
    assert policy.allows("[::1]:8000")
    assert not policy.allows("10.0.0.5:8001")
    assert not policy.allows("10.0.0.5")
    assert not policy.allows("evil.example.net")
    assert not policy.allows("dash.example.com.evil.net")
    assert not policy.allows(None)
    assert not policy.allows("")
    assert policy.refusal("dash.example.com") is None
    assert policy.refusal("evil.example.net") == (
        "host 'evil.example.net' is not served here (see --allowed-host)"
    )
    assert "required" in (policy.refusal(None) or "")
    assert len(policy.refusal("x" * 500) or "") < 150


def test_empty_host_policy_allows_any():
    assert HostPolicy().allows("anything:1") and HostPolicy().allows(None)
