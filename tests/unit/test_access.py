"""Who may connect, as pure functions: origins, the viewer token, failed-login
throttling, TLS files (sessions: test_sessions.py)."""

import dataclasses

import pytest
import trustme

from dashboard.access import (
    LoginThrottle,
    Origin,
    OriginPolicy,
    check_allowed_origin,
    check_tls_files,
    own_origin,
    parse_origin,
    token_matches,
)
from dashboard.config import DashboardConfig

# --- origins -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://example.com", Origin("http", "example.com", 80)),
        ("https://example.com", Origin("https", "example.com", 443)),
        ("HTTPS://Dash.Example.COM:443", Origin("https", "dash.example.com", 443)),
        ("http://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", Origin("http", "::1", 8000)),
        ("http://[::1]", Origin("http", "::1", 80)),
    ],
)
def test_origins_are_normalised(text, expected):
    """Scheme and host are lower-cased and the default port made explicit."""
    assert parse_origin(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "null",  # sandboxed frames, file: pages
        "",
        "example.com",
        "ftp://example.com",
        "ws://example.com",
        "http://",
        "http://example.com/",
        "http://example.com/path",
        "http://example.com?",
        "http://example.com#x",
        "http://user@example.com",
        "http://example.com:99999",
        "http://example.com:port",
        "http://[::1",
    ],
)
def test_what_is_not_an_origin(text):
    """Anything but scheme://host[:port] with http(s) is no origin: it matches nothing."""
    assert parse_origin(text) is None


def test_origin_prints_without_default_port():
    """An origin prints as a browser writes it: no :80 or :443, IPv6 in brackets."""
    assert str(Origin("https", "a.example", 443)) == "https://a.example"
    assert str(Origin("http", "::1", 8000)) == "http://[::1]:8000"


@pytest.mark.parametrize(
    ("scheme", "host", "expected"),
    [
        ("ws", "127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("wss", "Dash.Example.com", "https://dash.example.com"),
        ("wss", "dash.example.com:443", "https://dash.example.com"),
        ("http", "[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_own_origin_from_scheme_and_host(scheme, host, expected):
    """A handshake's own origin: ws -> http, wss -> https, and the Host header."""
    assert own_origin(scheme, host) == parse_origin(expected)


def test_own_origin_unknown_without_a_usable_host():
    """No Host header (or a bad one) leaves no own origin to match."""
    assert own_origin("ws", None) is None
    assert own_origin("ws", "a.example/x") is None


OWN = ("ws", "127.0.0.1:8000")


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:8000", "HTTP://127.0.0.1:8000", None],
)
def test_default_policy_allows_own_origin_and_non_browsers(origin):
    """With no allow-list the dashboard's own origin, or no Origin header at
    all (a program, not a browser), may open a WebSocket."""
    assert OriginPolicy().refusal(origin, *OWN) is None


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1:8001",  # another port is another origin
        "https://127.0.0.1:8000",  # and another scheme
        "http://localhost:8000",  # and another name for the same host
        "null",
        "",
        "x" * 1000,
    ],
)
def test_default_policy_refuses_other_origins(origin):
    """Any other origin, or one that is not an origin, is refused with a short reason."""
    reason = OriginPolicy().refusal(origin, *OWN)
    assert reason is not None and "may not open this WebSocket" in reason
    assert len(reason) < 200


def test_allow_list_adds_origins():
    """allowed_origins lets the listed origins in (normalised), and no others."""
    policy = OriginPolicy(["https://Dash.Example.com:443", "http://localhost:8000"])
    assert policy.refusal("https://dash.example.com", *OWN) is None
    assert policy.refusal("http://localhost:8000", *OWN) is None
    assert policy.refusal("http://127.0.0.1:8000", *OWN) is None  # own, still
    assert policy.refusal("http://dash.example.com", *OWN) is not None


def test_star_allows_any_origin():
    """ "*" in the allow-list turns the check off."""
    assert OriginPolicy(["*"]).refusal("http://evil.example", *OWN) is None
    assert OriginPolicy(["*"]).refusal("null", *OWN) is None


def test_refused_when_the_host_is_unknown():
    """Without a Host header a browser's Origin cannot be the dashboard's own."""
    assert OriginPolicy().refusal("http://127.0.0.1:8000", "ws", None) is not None


@pytest.mark.parametrize(
    "value", ["example.com", "https://example.com/", "ftp://x", "ws://x", "**", "http://a:b"]
)
def test_allowed_origins_are_validated(value):
    """A malformed allowed_origins entry is a clear startup error."""
    with pytest.raises(ValueError, match="is not an origin: give scheme://host"):
        check_allowed_origin(value)
    with pytest.raises(ValueError, match="is not an origin"):
        DashboardConfig(allowed_origins=(value,))


def test_allowed_origins_must_be_a_list():
    """One string (a TOML slip: allowed_origins = "https://x") is an error, not
    a list of one-letter origins."""
    with pytest.raises(ValueError, match="must be a list"):
        DashboardConfig(allowed_origins="https://a.example")  # type: ignore[arg-type]


# --- viewer token and session ------------------------------------------------------------------

TOKEN = "correct-horse-battery-staple"


def test_token_matches_only_the_token():
    """The login compares the whole token; a prefix, a longer string or nothing is wrong."""
    assert token_matches(TOKEN, TOKEN)
    for wrong in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "ünïcode"):
        assert not token_matches(wrong, TOKEN)
    assert not token_matches("", "")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_throttle_lets_a_burst_of_failures_through_then_asks_to_wait():
    """5 wrong tokens from one address are checked; the 6th attempt must wait
    the 10 s one more needs; after it, one more is checked; then wait again."""
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10
    clock.now += 3.5
    assert throttle.retry_after("10.0.0.1") == 7  # whole seconds, rounded up
    clock.now += 6.5
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10


def test_throttle_is_per_address():
    """One address's failures do not make another wait."""
    throttle = LoginThrottle(clock=FakeClock())
    for _ in range(5):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") > 0
    assert throttle.retry_after("10.0.0.2") == 0


def test_throttle_forgets_an_address_that_refilled():
    """An address whose bucket is full again holds no memory."""
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    throttle.failed("10.0.0.1")
    assert len(throttle) == 1
    clock.now += 10
    assert throttle.retry_after("10.0.0.1") == 0
    assert len(throttle) == 0


def test_throttle_memory_is_bounded_whatever_the_addresses():
    """A million addresses failing hold at most max_addresses entries."""
    throttle = LoginThrottle(max_addresses=1000, clock=FakeClock())
    for n in range(1_000_000):
        throttle.failed(f"10.{n >> 16}.{(n >> 8) & 0xFF}.{n & 0xFF}")
    assert len(throttle) == 1000


def test_throttle_forgets_the_address_unused_longest():
    """Full, the throttle drops the address whose last failure is oldest: one
    still failing stays throttled."""
    throttle = LoginThrottle(max_addresses=3, clock=FakeClock())

    def fail_all(address: str) -> None:
        for _ in range(5):
            throttle.failed(address)

    for address in ("a", "b", "c"):
        fail_all(address)
    throttle.failed("a")  # a failed again: b is now the one unused longest
    fail_all("d")
    assert {x: throttle.retry_after(x) > 0 for x in "abcd"} == {
        "a": True,
        "b": False,
        "c": True,
        "d": True,
    }


@pytest.mark.parametrize(
    "kwargs", [{"burst": 0}, {"refill_s": 0}, {"refill_s": -1}, {"max_addresses": 0}]
)
def test_throttle_settings_are_checked(kwargs):
    with pytest.raises(ValueError, match="a login throttle needs"):
        LoginThrottle(**kwargs)


@pytest.mark.parametrize("token", ["", " ", "two words", " lead", "tab\t", "naïve"])
def test_viewer_token_must_be_header_safe(token):
    """A viewer token that could not travel in an Authorization header is refused at startup."""
    with pytest.raises(ValueError, match="viewer_token must be non-empty printable ASCII"):
        DashboardConfig(viewer_token=token)


# --- TLS files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem_pair(tmp_path_factory):
    """A certificate for 127.0.0.1 from a throwaway CA, and its key, as files."""
    folder = tmp_path_factory.mktemp("tls")
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return certfile, keyfile


def test_tls_files_accepted(pem_pair):
    """A matching PEM certificate and key pass, as Path or str; neither is plain http."""
    check_tls_files(*pem_pair)
    check_tls_files(*map(str, pem_pair))
    check_tls_files(None, None)
    config = DashboardConfig(certfile=pem_pair[0], keyfile=pem_pair[1])
    assert dataclasses.replace(config, port=1).certfile == pem_pair[0]


def test_tls_files_go_together(pem_pair):
    """A certificate without a key, or a key without a certificate, is an error."""
    for pair in ((pem_pair[0], None), (None, pem_pair[1])):
        with pytest.raises(ValueError, match="certfile and keyfile go together"):
            DashboardConfig(certfile=pair[0], keyfile=pair[1])


def test_tls_files_must_exist(pem_pair, tmp_path):
    """A missing file is named in the error."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(ValueError, match="certfile '.*nope.pem' does not exist"):
        check_tls_files(missing, pem_pair[1])
    with pytest.raises(ValueError, match="keyfile '.*nope.pem' does not exist"):
        check_tls_files(pem_pair[0], missing)


def test_tls_files_must_be_a_matching_pem_pair(pem_pair, tmp_path):
    """Garbage, swapped files, or a key of another certificate: a clear error, no prompt."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    other_key = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    certfile, keyfile = pem_pair
    for pair in (
        (garbage, keyfile),
        (certfile, garbage),
        (keyfile, certfile),
        (certfile, other_key),
    ):
        with pytest.raises(ValueError, match="cannot serve TLS with certfile"):
            check_tls_files(*pair)


def test_encrypted_key_is_an_error_not_a_prompt(pem_pair, tmp_path):
    """An encrypted key fails with a clear error instead of OpenSSL asking on the terminal."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem_pair[1].read_bytes(), password=None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(ValueError, match="the key unencrypted"):
        check_tls_files(pem_pair[0], encrypted)


# --- settings: command line, environment, config file ---------------------------------------


def test_access_options_on_the_command_line(pem_pair, monkeypatch):
    """--allow-origin repeats, --viewer-token (or $DASHBOARD_VIEWER_TOKEN) and
    --certfile/--keyfile reach DashboardConfig; the defaults are open http."""
    from dashboard.web.cli import VIEWER_TOKEN_ENV, config_from_args

    monkeypatch.delenv(VIEWER_TOKEN_ENV, raising=False)
    defaults = config_from_args([])
    assert (defaults.allowed_origins, defaults.viewer_token) == ((), None)
    assert (defaults.certfile, defaults.keyfile) == (None, None)
    argv = ["--allow-origin", "https://a.example", "--allow-origin", "http://b.example:8080"]
    argv += ["--viewer-token", "t0ken", "--certfile", str(pem_pair[0])]
    config = config_from_args([*argv, "--keyfile", str(pem_pair[1])])
    assert config.allowed_origins == ("https://a.example", "http://b.example:8080")
    assert config.viewer_token == "t0ken"
    assert (config.certfile, config.keyfile) == pem_pair
    monkeypatch.setenv(VIEWER_TOKEN_ENV, "from-env")
    assert config_from_args([]).viewer_token == "from-env"
    assert config_from_args(["--viewer-token", "flag"]).viewer_token == "flag"


def test_bad_allow_origin_stops_the_cli(capsys):
    """A malformed --allow-origin exits 2 naming the value and the expected form."""
    from dashboard.web.cli import config_from_args

    with pytest.raises(SystemExit) as exited:
        config_from_args(["--allow-origin", "dash.example.com"])
    assert exited.value.code == 2
    assert "'dash.example.com' is not an origin: give scheme://host[:port]" in (
        capsys.readouterr().err
    )


def test_access_settings_in_the_config_file(pem_pair):
    """The TOML [server] table takes allowed_origins as a list and the TLS files
    relative to the file itself."""
    from dashboard.web.cli import config_from_args

    folder = pem_pair[0].parent
    config_file = folder / "dashboard.toml"
    config_file.write_text(
        "[server]\n"
        'allowed_origins = ["https://a.example"]\n'
        f'certfile = "{pem_pair[0].name}"\n'
        f'keyfile = "{pem_pair[1].name}"\n'
    )
    config = config_from_args(["--config", str(config_file)])
    assert config.allowed_origins == ("https://a.example",)
    assert (config.certfile, config.keyfile) == pem_pair
