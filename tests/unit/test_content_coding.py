"""Which coding a request gets, and compressed bodies made once and kept on disk."""

import gzip

import brotli
import pytest

from dashboard import content_coding
from dashboard.content_coding import load_or_compress, negotiate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "identity"),  # no header: send it as it is
        ("", "identity"),
        ("gzip, deflate, br, zstd", "br"),  # Chromium's
        ("gzip, deflate", "gzip"),  # curl --compressed without brotli, Python clients
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),  # q-values win over the server's order
        ("gzip;q=0.5, br;q=0.1", "gzip"),  # any accepted coding beats implicit identity
        ("br;q=0, gzip;q=0", "identity"),
        ("br;q=0, *", "gzip"),  # * stands for every coding not named
        ("*", "br"),
        ("*;q=0", "identity"),
        ("identity", "identity"),
        ("identity;q=1, br;q=0.5", "identity"),  # identity named and preferred
        ("br;q=0.9, identity;q=0.9", "br"),  # a tie goes to the smaller body
        ("deflate, zstd", "identity"),  # nothing offered is accepted
        ("br;q=nonsense, gzip", "gzip"),  # a malformed q-value counts as 0
        (" br ; q=0.8 , gzip ; q=0.7 ", "br"),
    ],
)
def test_negotiate_honours_q_values(header, expected):
    assert negotiate(header) == expected


def test_negotiate_offers_nothing_for_files_sent_as_they_are():
    assert negotiate("br, gzip", offered=()) == "identity"


@pytest.mark.parametrize(
    ("coding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_compressed_bodies_decode_to_the_data(coding, decode, tmp_path):
    data = b"Plotly.newPlot(" * 1000
    body = load_or_compress(data, coding, tmp_path)
    assert decode(body) == data and len(body) < len(data) / 10


def test_a_cached_body_is_read_not_compressed_again(tmp_path, monkeypatch):
    """The second start (or another worker) reads the first one's file."""
    data = b"x = 1;\n" * 500
    first = load_or_compress(data, "br", tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.name == content_coding.digest_of(data) + f".br{content_coding.BROTLI_QUALITY}"

    def no_compressing(data: bytes, coding: str) -> bytes:
        raise AssertionError("compressed again")

    monkeypatch.setattr(content_coding, "compress", no_compressing)
    assert load_or_compress(data, "br", tmp_path) == first


def test_an_unwritable_cache_still_serves(tmp_path):
    """A cache folder that cannot be made (a file is in the way): compressed
    in memory all the same."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    data = b"y" * 4096
    assert gzip.decompress(load_or_compress(data, "gzip", blocker / "cache")) == data
    assert load_or_compress(data, "gzip", None) == load_or_compress(data, "gzip", tmp_path)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert content_coding.default_cache_dir() == tmp_path / "livefeed" / "static"
