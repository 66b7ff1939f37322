"""Content codings for the page's static files: which one a request accepts
(``Accept-Encoding``, q-values honoured), and a file's bytes compressed once,
kept on disk by the content's hash so restarts and ``--workers`` processes
reuse them instead of compressing again.

Levels, measured on plotly.min.js (4.8 MB) on the 2-core dev machine under
load (benchmarks/RESULTS.md, "Compressed static assets"): Brotli quality 5
makes 1.29 MB in about 1 s; quality 9 saves 4 % more in 6 s, quality 11 saves
14 % more (1.11 MB) but takes 50 s of a core, too long for a first request
to wait. zlib's default level 6 gzips it to 1.47 MB in 0.5 s (level 9: 0.2 %
smaller, 40 % slower).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import brotli

BROTLI_QUALITY = 5
GZIP_LEVEL = 6
#: Files smaller than this are sent as they are: a few hundred bytes saved
#: are not worth a coding, and gzip's header eats part of them.
MIN_SIZE = 1024
#: Offered codings, best first: on a tie in q-values the first wins.
CODINGS = ("br", "gzip")
IDENTITY = "identity"
#: The file name suffix of each coding in the on-disk cache (with its level,
#: so a change of level never serves an old file).
SUFFIX = {"br": f".br{BROTLI_QUALITY}", "gzip": f".gz{GZIP_LEVEL}"}


def accepted(accept_encoding: str | None) -> dict[str, float]:
    """The q-value of each coding named in *accept_encoding* (lower-case;
    ``x-gzip`` counts as gzip; a malformed q-value as 0)."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        name = name.lower()
        weights["gzip" if name == "x-gzip" else name] = q
    return weights


def negotiate(accept_encoding: str | None, offered: tuple[str, ...] = CODINGS) -> str:
    """The coding to send: the offered one with the highest q-value above 0
    (``*`` stands for any coding not named), preferred in *offered*'s order;
    identity when none is accepted (no header, an empty one, all q=0: RFC
    9110 12.5.3 lets the server send identity rather than a 406) or when
    ``identity`` itself is named with a higher q-value than the best coding."""
    weights = accepted(accept_encoding)
    star = weights.get("*", 0.0)
    best, best_q = IDENTITY, 0.0
    for coding in offered:
        q = weights.get(coding, star)
        if q > best_q:
            best, best_q = coding, q
    return IDENTITY if best_q == 0.0 or weights.get(IDENTITY, 0.0) > best_q else best


def digest_of(data: bytes) -> str:
    """The content's hash: the cache key, and the ETag's stem."""
    return hashlib.sha256(data).hexdigest()[:32]


def compress(data: bytes, coding: str) -> bytes:
    """*data* in *coding* (``br`` or ``gzip``, deterministic: no mtime in gzip)."""
    if coding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    if coding == "gzip":
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    raise ValueError(f"unknown content coding {coding!r}")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/livefeed/static``, by default ``~/.cache/livefeed/static``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livefeed" / "static"


def load_or_compress(data: bytes, coding: str, cache_dir: Path | None) -> bytes:
    """*data* in *coding*: read from *cache_dir* when an earlier run (or
    another worker) made it, else compressed and written there for the next.
    Blocking: call it in a thread. A cache that cannot be read or written is
    skipped (the result is still right, only made again next time)."""
    path = cache_dir / (digest_of(data) + SUFFIX[coding]) if cache_dir else None
    if path is not None:
        with contextlib.suppress(OSError):
            return path.read_bytes()
    body = compress(data, coding)
    if path is not None:
        with contextlib.suppress(OSError):
            _write_atomically(path, body)
    return body


def _write_atomically(path: Path, body: bytes) -> None:
    """Write to a temporary file beside *path*, then rename: a reader (another
    worker, the next start) sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(body)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
