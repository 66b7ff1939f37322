"""End to end: https and wss with --certfile/--keyfile, on the real command
line, checked by clients that verify the certificate."""

import asyncio
import ssl
from urllib.parse import urlencode

import pytest
import trustme
import websockets

from tests.support.clients import recv_json
from tests.support.servers import http_request, start_cli, stop_process
from tests.support.tls import cert_args
from tests.support.tls import trusting as trusting_context

pytestmark = pytest.mark.e2e

VIEWER_TOKEN = "tls-viewer-token"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca, tmp_path) -> list[str]:
    """A certificate for 127.0.0.1 issued by the throwaway CA, and its key."""
    return cert_args(ca, tmp_path)


@pytest.fixture
def trusting(ca) -> ssl.SSLContext:
    """A client context that trusts the throwaway CA (and verifies host names)."""
    return trusting_context(ca)


@pytest.fixture
async def tls_cli(tls_files):
    """The dashboard as a process serving TLS, with a viewer token from the environment."""
    process, url = await start_cli(
        "--symbols", "ACME", *tls_files, env={"DASHBOARD_VIEWER_TOKEN": VIEWER_TOKEN}
    )
    try:
        yield url
    finally:
        await stop_process(process)


def wss(url: str) -> str:
    return url.replace("https://", "wss://", 1) + "/ws"


async def test_https_and_wss_verified_against_the_ca(tls_cli, trusting):
    """The CLI prints an https URL; a client trusting the CA gets /healthz over
    https and a hello over wss, where the page's own origin is https://."""
    url = tls_cli
    assert url.startswith("https://127.0.0.1:")
    health = await http_request(url + "/healthz", ssl=trusting)
    assert (health.status, health.json()["status"]) == (200, "ok")
    auth = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    async with websockets.connect(
        wss(url), ssl=trusting, origin=url, additional_headers=auth, open_timeout=10
    ) as ws:
        assert (await recv_json(ws))["type"] == "hello"
    # The same host and port over plain http is another origin.
    with pytest.raises(websockets.InvalidStatus) as refused:
        http_origin = url.replace("https://", "http://", 1)
        async with websockets.connect(
            wss(url), ssl=trusting, origin=http_origin, additional_headers=auth
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_session_cookie_is_secure_over_https(tls_cli, trusting):
    """Logged in over https, the session cookie is marked Secure: never sent in clear."""
    response = await http_request(
        tls_cli + "/login",
        "POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"token": VIEWER_TOKEN}).encode(),
        ssl=trusting,
    )
    assert response.status == 303
    attributes = {a.strip().lower() for a in response.headers["set-cookie"].split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict"} <= attributes


async def test_clients_not_trusting_the_ca_fail_verification(tls_cli):
    """A client with the default trust store refuses the certificate, over https
    and over wss: the test certificate is really checked."""
    default = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        await http_request(tls_cli + "/healthz", ssl=default)
    with pytest.raises(ssl.SSLCertVerificationError):
        async with websockets.connect(wss(tls_cli), ssl=default, open_timeout=10):
            pass


def test_bad_tls_settings_stop_the_cli(tmp_path, capsys):
    """--certfile without --keyfile, or a missing file, exits 2 with a clear message."""
    from dashboard.web.cli import config_from_args

    with pytest.raises(SystemExit) as exited:
        config_from_args(["--certfile", str(tmp_path / "cert.pem")])
    assert exited.value.code == 2
    assert "certfile and keyfile go together" in capsys.readouterr().err
    missing = ["--certfile", str(tmp_path / "c.pem"), "--keyfile", str(tmp_path / "k.pem")]
    with pytest.raises(SystemExit):
        config_from_args(missing)
    assert "c.pem' does not exist" in capsys.readouterr().err


async def test_start_up_lines_and_log_say_https_login_and_origins(tls_files):
    """Started over TLS: the printed URL and the server_started log line both say
    https (the log said http:// before), and the start-up lines say that login
    is on and which origins may open the WebSockets."""
    process, url = await start_cli(
        "--symbols", "ACME", *tls_files, "--allow-origin", "https://a.example",
        env={"DASHBOARD_VIEWER_TOKEN": VIEWER_TOKEN},
    )  # fmt: skip
    try:
        async with asyncio.timeout(10):
            lines = [(await process.stdout.readline()).decode().rstrip() for _ in range(4)]
    finally:
        assert await stop_process(process) == 0
    assert url.startswith("https://127.0.0.1:")
    assert lines == [
        "Feeds: ACME",
        "Login: on (viewer token)",
        "Origins allowed to open the WebSockets: the page's own, https://a.example",
        "Ingest: off",
    ]
    log = (await process.stderr.read()).decode().splitlines()
    started = [line for line in log if "event=server_started" in line]
    assert len(started) == 1 and f"url={url} " in started[0], log
