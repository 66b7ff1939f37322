"""Static files compressed by Accept-Encoding, through a real HTTP client
(urllib, which decodes nothing itself) against the app on real Hypercorn."""

from __future__ import annotations

import asyncio
import gzip
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest

from dashboard.content_coding import SUFFIX, digest_of
from dashboard.web.assets import find_static_dir, plotly_js_path

pytestmark = pytest.mark.e2e

DECODE = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda body: body}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def _fetch(url: str, headers: dict[str, str], method: str) -> Answer:
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as error:  # urllib raises for 304 and 4xx
        return Answer(error.code, _lower(error.headers), error.read())


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


async def fetch(url: str, method: str = "GET", **headers: str) -> Answer:
    """In a thread: the server runs in this test's event loop."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return await asyncio.to_thread(_fetch, url, named, method)


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory) -> Path:
    """One cache for this module's servers: plotly.min.js is compressed once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
async def site(start_server, cache_home, monkeypatch):
    """A server whose compressed-file cache is this module's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    server = await start_server(symbols=("ACME",))
    page = (await fetch(server.url + "/")).body.decode()
    plotly = re.search(r'src="(/static/[^"]+/vendor/plotly\.min\.js)"', page).group(1)
    return server, plotly


async def test_each_coding_decodes_to_the_file(site):
    """br, gzip and identity bodies are the file byte for byte, each with its
    own Content-Encoding, Content-Length and ETag, Vary, the year-long
    immutable caching, and no Expires to contradict it."""
    server, plotly = site
    original = plotly_js_path().read_bytes()
    etags = set()
    for accept, coding in [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("identity", None)]:
        answer = await fetch(server.url + plotly, accept_encoding=accept)
        assert answer.status == 200, accept
        assert answer.headers.get("content-encoding") == coding
        assert DECODE[coding](answer.body) == original
        assert int(answer.headers["content-length"]) == len(answer.body)
        assert answer.headers["vary"] == "Accept-Encoding"
        assert answer.headers["cache-control"] == IMMUTABLE
        assert "expires" not in answer.headers
        etags.add(answer.headers["etag"])
    assert len(etags) == 3
    sizes = {  # what a slow link gains: plotly.min.js is 4.8 MB as it is
        accept: len((await fetch(server.url + plotly, accept_encoding=accept)).body)
        for accept in ("br", "gzip")
    }
    assert sizes["br"] < sizes["gzip"] < len(original) / 3


async def test_modules_styles_and_page_are_compressed_too(site):
    server, plotly = site
    prefix = plotly.rsplit("/vendor/", 1)[0]
    static = find_static_dir()
    for name in ("js/charts.js", "css/style.css"):
        answer = await fetch(f"{server.url}{prefix}/{name}", accept_encoding="br")
        assert answer.headers["content-encoding"] == "br", name
        assert brotli.decompress(answer.body) == (static / name).read_bytes()
    page = await fetch(server.url + "/", accept_encoding="gzip")
    assert page.headers["content-encoding"] == "gzip"
    assert b"vendor/plotly.min.js" in gzip.decompress(page.body)
    assert page.headers["cache-control"] == "no-cache" and "content-security-policy" in page.headers
    small = await fetch(f"{server.url}{prefix}/js/palette.js", accept_encoding="br")  # 807 bytes
    assert "content-encoding" not in small.headers
    assert small.body == (static / "js" / "palette.js").read_bytes()


async def test_identity_when_no_offered_coding_is_accepted(site):
    server, plotly = site
    for accept in (None, "", "identity", "br;q=0, gzip;q=0", "deflate"):
        headers = {} if accept is None else {"accept_encoding": accept}
        answer = await fetch(server.url + plotly, **headers)
        assert "content-encoding" not in answer.headers, accept
        assert answer.body == plotly_js_path().read_bytes()
        assert answer.headers["vary"] == "Accept-Encoding"


async def test_if_none_match_is_answered_per_coding(site):
    """A cached br copy's ETag gets 304 with br accepted; with only gzip
    accepted it names another representation, so the gzip body is sent."""
    server, plotly = site
    url = server.url + plotly
    for accept in ("br", "gzip", "identity"):
        etag = (await fetch(url, accept_encoding=accept)).headers["etag"]
        again = await fetch(url, accept_encoding=accept, if_none_match=etag)
        assert again.status == 304 and again.body == b"", accept
        assert again.headers["etag"] == etag and again.headers["vary"] == "Accept-Encoding"
        assert again.headers["cache-control"] == IMMUTABLE
    br_etag = (await fetch(url, accept_encoding="br")).headers["etag"]
    other = await fetch(url, accept_encoding="gzip", if_none_match=br_etag)
    assert other.status == 200 and other.headers["content-encoding"] == "gzip"


async def test_head_has_the_get_headers_and_no_body(site):
    server, plotly = site
    get = await fetch(server.url + plotly, accept_encoding="br")
    head = await fetch(server.url + plotly, "HEAD", accept_encoding="br")
    assert head.status == 200 and head.body == b""
    for name in ("content-encoding", "content-length", "etag", "vary", "cache-control"):
        assert head.headers[name] == get.headers[name], name


async def test_a_range_is_a_slice_of_the_file_not_of_a_compressed_body(site):
    server, plotly = site
    answer = await fetch(server.url + plotly, accept_encoding="br", range="bytes=100-199")
    assert answer.status == 206 and "content-encoding" not in answer.headers
    original = plotly_js_path().read_bytes()
    assert answer.body == original[100:200]
    assert answer.headers["content-range"] == f"bytes 100-199/{len(original)}"


async def test_an_old_version_is_compressed_but_not_kept(site):
    server, _ = site
    answer = await fetch(server.url + "/static/000000000000/js/charts.js", accept_encoding="br")
    assert answer.headers["cache-control"] == "no-cache" and "expires" not in answer.headers
    assert answer.headers["content-encoding"] == "br"


async def test_a_restart_reads_the_compressed_cache(site, cache_home):
    """The compressed files are kept under $XDG_CACHE_HOME/livefeed/static by
    content hash: a restarted server (or another worker) serves them as they
    are instead of compressing again."""
    server, plotly = site
    first = await fetch(server.url + plotly, accept_encoding="br")
    name = digest_of(plotly_js_path().read_bytes()) + SUFFIX["br"]
    kept = cache_home / "livefeed" / "static" / name
    assert kept.read_bytes() == first.body
    kept.write_bytes(first.body)  # the same bytes, a new mtime: read, not rewritten
    stamp = kept.stat().st_mtime_ns
    await server.restart()
    again = await fetch(server.url + plotly, accept_encoding="br")
    assert again.body == first.body and kept.stat().st_mtime_ns == stamp
