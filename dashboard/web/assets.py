"""Where the page's files live, and their cache-busting version."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path

import plotly

from dashboard.content_coding import digest_of
from dashboard.web.static_files import StaticFile, StaticFiles

#: The ``dashboard`` package (this module is in its ``web`` subpackage).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def find_static_dir() -> Path:
    """The page's folder: inside the package for a wheel install (the build
    copies the top-level static/ there), else the repository's static/."""
    for candidate in (PACKAGE_DIR / "static", PACKAGE_DIR.parent / "static"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError("static/index.html not found beside or inside the dashboard package")


def plotly_js_path() -> Path:
    """plotly.min.js as shipped by the installed plotly package."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js is missing from the plotly package at {path}")
    return path


class StaticAssets:
    """The static folder, versioned by a hash of its files and Plotly's version.

    Asset URLs carry the version (``/static/<version>/js/main.js``), so they can
    be cached forever and a new release is fetched at once; relative ES module
    imports inherit the prefix.
    """

    def __init__(
        self,
        directory: Path | None = None,
        cache_dir: Path | None = None,
        transports: Sequence[str] = ("ws", "sse"),
    ) -> None:
        self.directory = directory or find_static_dir()
        #: The viewer transports the server serves, told to the page
        #: (static/js/transport.js reads them from a meta tag).
        self.transports = tuple(transports)
        self.plotly_js = plotly_js_path()
        #: The files' bytes and their compressed forms, made once.
        self.files = StaticFiles(cache_dir) if cache_dir else StaticFiles()

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256(plotly.__version__.encode())
        for path in sorted(self.directory.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(self.directory).as_posix().encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]

    @property
    def prefix(self) -> str:
        return f"/static/{self.version}"

    @cached_property
    def index_html(self) -> str:
        html = (self.directory / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{TRANSPORTS}}", ",".join(self.transports))
        return html.replace("{{STATIC}}", self.prefix)

    @cached_property
    def index_file(self) -> StaticFile:
        """The page as served: its bytes, hashed for the ETag."""
        data = self.index_html.encode()
        return StaticFile(data, digest_of(data), "text/html", (0, len(data)))
