"""The page's files as HTTP responses, in the coding the request accepts.

Each file is read once (again if it changes on disk) and each coding of it is
made once, in a thread, on the first request that wants it: requests arriving
meanwhile wait for the same result. Compressed bodies are kept in memory and
in an on-disk cache keyed by the content's hash (dashboard/content_coding.py),
so a restart or another ``--workers`` process reads them instead of
compressing again. A server that never serves the page compresses nothing.

Every response names its coding's own ETag (``"<hash>"``, ``"<hash>-br"``,
``"<hash>-gzip"``) and ``Vary: Accept-Encoding``; If-None-Match answers 304
per coding. A Range request is served from the identity bytes (206), never a
slice of a compressed body: ranges are for resuming downloads, and a browser
asks for scripts whole. No ``Expires``: ``Cache-Control: max-age`` overrides
it (RFC 9111 5.3), and Quart's send_file set one 12 hours ahead while
Cache-Control said a year (or no-cache, for an old version).
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from quart import Response, request

from dashboard import content_coding
from dashboard.content_coding import IDENTITY, MIN_SIZE


@dataclass(frozen=True)
class StaticFile:
    """One file's bytes as read, and what identifies that version of it."""

    data: bytes
    digest: str
    mimetype: str
    stamp: tuple[int, int]  # (st_mtime_ns, st_size) when read


@dataclass
class StaticFiles:
    """Files read and compressed once, shared by every request of one app."""

    cache_dir: Path | None = field(default_factory=content_coding.default_cache_dir)
    _files: dict[Path, StaticFile] = field(default_factory=dict)
    _coded: dict[tuple[str, str], asyncio.Future[bytes]] = field(default_factory=dict)

    def read(self, path: Path) -> StaticFile:
        """*path*'s content, read again only when its time or size changed."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._files.get(path)
        if known is not None and known.stamp == stamp:
            return known
        data = path.read_bytes()
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        known = StaticFile(data, content_coding.digest_of(data), mimetype, stamp)
        self._files[path] = known
        return known

    async def body(self, data: bytes, digest: str, coding: str) -> bytes:
        """*data* in *coding*, made once: the first caller starts the work in a
        thread, the others await the same future."""
        if coding == IDENTITY:
            return data
        key = (digest, coding)
        future = self._coded.get(key)
        if future is None:
            task = asyncio.to_thread(content_coding.load_or_compress, data, coding, self.cache_dir)
            future = asyncio.ensure_future(task)
            self._coded[key] = future
            future.add_done_callback(lambda done: self._forget_failure(key, done))
        return await asyncio.shield(future)

    def _forget_failure(self, key: tuple[str, str], future: asyncio.Future[bytes]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._coded.pop(key, None)  # the next request tries again


async def coded_response(
    files: StaticFiles, content: StaticFile, cache_control: str, *, status: int = 200
) -> Response:
    """*content* in the coding the current request accepts, with its caching
    headers; 304 for a matching If-None-Match, 206 for a Range (identity)."""
    ranged = "Range" in request.headers
    offered = content_coding.CODINGS if len(content.data) >= MIN_SIZE and not ranged else ()
    coding = content_coding.negotiate(request.headers.get("Accept-Encoding"), offered)
    body = await files.body(content.data, content.digest, coding)
    if len(body) >= len(content.data):  # not worth it (already compressed data)
        coding, body = IDENTITY, content.data
    response = Response(body, status, mimetype=content.mimetype)
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = "Accept-Encoding"
    if coding == IDENTITY:
        response.set_etag(content.digest)
        response.headers["Accept-Ranges"] = "bytes"
    else:
        response.set_etag(f"{content.digest}-{coding}")
        response.headers["Content-Encoding"] = coding
    return await response.make_conditional(
        request, accept_ranges=coding == IDENTITY, complete_length=len(body)
    )
