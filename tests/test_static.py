"""The page's files: served by the app, versioned, cached, and never outside static/."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dashboard import create_app
from dashboard.web.assets import StaticAssets, find_static_dir, plotly_js_path
from tests.support.packaging import outer_env_pth
from tests.support.servers import TEST_CONFIG

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client():
    return create_app(TEST_CONFIG).test_client()


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


async def test_index_references_versioned_assets(client):
    """/ is the page, with every asset under /static/<version>/ and no placeholder left."""
    response = await client.get("/")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "{{STATIC}}" not in html
    urls = asset_urls(html)
    version = StaticAssets().version
    assert urls and all(url.startswith(f"/static/{version}/") for url in urls)
    assert f"/static/{version}/vendor/plotly.min.js" in urls


async def test_every_asset_and_module_is_served_and_immutable(client):
    """Each asset the page names, and each JS module, is served with long-lived caching."""
    html = await (await client.get("/")).get_data(as_text=True)
    version = StaticAssets().version
    modules = [f"/static/{version}/js/{p.name}" for p in (find_static_dir() / "js").glob("*.js")]
    for url in {*asset_urls(html), *modules}:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", url


async def test_every_module_is_preloaded(client):
    """index.html preloads every ES module, so the import graph loads in one round."""
    html = await (await client.get("/")).get_data(as_text=True)
    preloaded = set(re.findall(r'rel="modulepreload" href="/static/[^/]+/js/([^"]+)"', html))
    modules = {p.name for p in (find_static_dir() / "js").glob("*.js")} - {"main.js"}
    assert preloaded == modules


async def test_plotly_comes_from_the_installed_package(client):
    """plotly.min.js is the installed plotly package's own file, byte for byte."""
    version = StaticAssets().version
    response = await client.get(f"/static/{version}/vendor/plotly.min.js")
    assert response.status_code == 200
    assert await response.get_data() == plotly_js_path().read_bytes()
    assert "javascript" in response.mimetype


async def test_old_version_is_served_but_not_cached(client):
    """A page from an older release still gets files, marked no-cache."""
    response = await client.get("/static/000000000000/js/main.js")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"


async def test_favicon(client):
    """/favicon.ico answers (an SVG), so the console shows no 404."""
    response = await client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"


def test_version_changes_with_content(tmp_path):
    """Editing any static file changes the version, so browsers fetch it anew."""
    shutil.copytree(find_static_dir(), tmp_path / "static")
    before = StaticAssets(tmp_path / "static").version
    (tmp_path / "static" / "css" / "style.css").write_text("body{}")
    assert StaticAssets(tmp_path / "static").version != before


@pytest.mark.slow
def test_wheel_ships_and_serves_the_page(tmp_path):
    """`pip install .` (not editable) installs the page inside the package and serves it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("livefeed-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "dashboard/static/" + p.relative_to(ROOT / "static").as_posix()
        for p in (ROOT / "static").rglob("*")
        if p.is_file()
    }
    assert expected <= shipped
    assert not [n for n in shipped if n.endswith("plotly.min.js")]
    # Install into a fresh environment that sees this environment's packages
    # (for the dependencies) after its own, where the wheel's dashboard is.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    outer_env_pth(str(python))
    probe = (
        "import asyncio, dashboard, dashboard.web.assets as a\n"
        "print(a.find_static_dir())\n"
        "client = dashboard.create_app().test_client()\n"
        "r = asyncio.run(client.get('/'))\n"
        "print(r.status_code)\n"
    )
    result = subprocess.run(
        [python, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    static_dir, status = result.stdout.split()
    assert static_dir.startswith(str(venv)) and static_dir.endswith("dashboard/static")
    assert status == "200"
