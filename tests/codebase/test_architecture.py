"""Architecture rules, checked: the folders show how a point flows."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_feeds_loads_no_web_stack():
    """Importing feeds (and every module in it) loads no Quart, Hypercorn or WebSocket code."""
    modules = [f"feeds.{p.stem}" for p in (ROOT / "feeds").glob("*.py") if p.stem != "__init__"]
    code = (
        "import sys, importlib\n"
        f"for m in {['feeds', *modules]!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'quart','hypercorn','websockets','wsproto','werkzeug','dashboard','h11','h2'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_only_the_app_factory_knows_the_ticker():
    """dashboard/ uses feeds through their interface; only app.py picks the default tickers."""
    for path in (ROOT / "dashboard").glob("*.py"):
        if path.name in ("app.py", "config.py"):
            continue  # the composition root and its defaults
        assert "feeds.ticker" not in imports_of(path), path.name


def test_protocol_and_hub_core_do_no_io():
    """The sans-I/O core imports no web framework."""
    for name in ("protocol.py", "history.py", "channel.py", "hub.py", "backplane.py"):
        web = {m for m in imports_of(ROOT / "dashboard" / name) if m.split(".")[0] == "quart"}
        assert not web, f"{name} imports {web}"


def test_page_loads_nothing_from_the_internet():
    """No file of the page references a remote script, style or module."""
    remote = re.compile(
        r"""(src|href)\s*=\s*["']https?://|from\s+["']https?://|import\(\s*["']https?://|url\(\s*["']?https?://"""
    )
    for path in (ROOT / "static").rglob("*"):
        if path.is_file():
            assert not remote.search(path.read_text(encoding="utf-8")), path


def test_modules_stay_small():
    """Each module does one thing: a few hundred lines at most."""
    for folder in ("dashboard", "feeds"):
        for path in (ROOT / folder).glob("*.py"):
            assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path


def test_no_vendored_plotly_or_large_files():
    """The repo holds no copy of Plotly.js and no file over 1 MB."""
    files = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    if not files:  # not a git checkout (e.g. an sdist): nothing tracked to check
        return
    for name in files:
        assert "plotly" not in Path(name).name.lower() or name.endswith(".py"), name
        path = ROOT / name
        if path.is_file():
            assert path.stat().st_size < 1_000_000, name
