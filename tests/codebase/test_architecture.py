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


def test_feeds_loads_no_web_stack() -> None:
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


# The web stack: Quart and what it stands on, Hypercorn and its protocol libraries.
WEB_STACK = {"quart", "hypercorn", "werkzeug", "wsproto", "h11", "h2"}


def core_modules() -> list[str]:
    """Every module outside dashboard.web: the core and the feeds. (__main__ is
    left out: importing it runs the command line.)"""
    names = ["dashboard", "feeds"]
    for folder in ("dashboard", "feeds"):
        names += [f"{folder}.{p.stem}" for p in sorted((ROOT / folder).glob("*.py"))]
    return [n for n in names if not n.endswith((".__init__", ".__main__"))]


def test_core_loads_no_web_framework() -> None:
    """Importing every module outside dashboard.web loads no Quart, Hypercorn,
    Werkzeug, wsproto, h11 or h2: the core runs (and is tested) without them."""
    code = (
        "import sys, importlib\n"
        f"for m in {core_modules()!r}: importlib.import_module(m)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_STACK!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip()
    assert loaded == "", f"importing the core loaded the web stack: {loaded}"


def test_only_the_config_imports_the_ticker() -> None:
    """dashboard/ uses feeds through their interface: assemble.py names the
    default tickers (``feeds.ticker:tickers``) and loads them as any feed;
    only config.py imports the ticker module, for its default symbols."""
    for path in (ROOT / "dashboard").rglob("*.py"):
        if path.relative_to(ROOT).as_posix() == "dashboard/config.py":
            continue
        assert "feeds.ticker" not in imports_of(path), path.relative_to(ROOT)


def test_protocol_and_hub_core_do_no_io() -> None:
    """The sans-I/O core imports no web framework."""
    for name in ("protocol.py", "history.py", "channel.py", "hub.py", "backplane.py"):
        web = {m for m in imports_of(ROOT / "dashboard" / name) if m.split(".")[0] == "quart"}
        assert not web, f"{name} imports {web}"


# The fan-out's decisions: synchronous, driven with the time passed in. Only
# the hub's driver (hub_runner.py) and the viewer's outbox wait on the loop.
SYNCHRONOUS_CORE = (
    "points.py",
    "protocol.py",
    "history.py",
    "catchup.py",
    "lagging.py",
    "flush_timing.py",
    "announce.py",
    "candles.py",
    "candle_board.py",
    "delivery.py",
    "hub.py",
)


def test_fan_out_core_imports_no_asyncio() -> None:
    """The hub and the rules it applies are synchronous: no asyncio import."""
    for name in SYNCHRONOUS_CORE:
        found = {m for m in imports_of(ROOT / "dashboard" / name) if m.split(".")[0] == "asyncio"}
        assert not found, f"dashboard/{name} imports {found}: its async part belongs in a driver"


def test_page_loads_nothing_from_the_internet() -> None:
    """No file of the page references a remote script, style or module."""
    remote = re.compile(
        r"""(src|href)\s*=\s*["']https?://|from\s+["']https?://|import\(\s*["']https?://|url\(\s*["']?https?://"""
    )
    for path in (ROOT / "static").rglob("*"):
        if path.is_file():
            assert not remote.search(path.read_text(encoding="utf-8")), path


def python_files() -> list[Path]:
    """The project's modules: dashboard (web adapters included) and feeds."""
    return sorted(p for folder in ("dashboard", "feeds") for p in (ROOT / folder).rglob("*.py"))


def test_modules_stay_small() -> None:
    """Each module does one thing: a few hundred lines at most."""
    for path in python_files():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)}: {lines} lines (at most 400)"


MAX_FUNCTION_LINES = 60


def long_functions(source: str) -> list[tuple[str, int, int]]:
    """(name, line, length) of each function over MAX_FUNCTION_LINES lines
    with no comment starting ``# Long:`` inside it. The docstring does not
    count: explaining is not what makes a function long."""
    found = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        end = node.end_lineno or node.lineno  # always set by ast.parse
        length = end - node.lineno + 1
        if ast.get_docstring(node) is not None:
            doc = node.body[0]
            length -= (doc.end_lineno or doc.lineno) - doc.lineno + 1
        body = lines[node.lineno - 1 : end]
        if length > MAX_FUNCTION_LINES and not any(
            line.strip().startswith("# Long:") for line in body
        ):
            found.append((node.name, node.lineno, length))
    return found


def test_long_functions_say_why() -> None:
    """No function over 60 lines (its docstring aside) unless a ``# Long:``
    comment inside it says why it stays in one piece."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}() is {length} lines"
        for path in python_files()
        for name, line, length in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "split these or say why with a '# Long:' comment:\n" + "\n".join(
        offenders
    )


def test_long_function_rule_sees_length_docstring_and_comment() -> None:
    """The rule itself: a long body is caught, a docstring is not counted, a
    ``# Long:`` comment lets it pass."""
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}") == [("f", 1, 61)]
    assert (
        long_functions(f'def f():\n    """Doc,\n    long."""\n{body[: body.rindex("    x")]}') == []
    )
    assert long_functions(f"async def f():\n    # Long: one table.\n{body}") == []


def test_no_vendored_plotly_or_large_files() -> None:
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


def point_flow_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## How a point flows\n", 1)[1].split("\n## ", 1)[0]


MODULE_PATH = re.compile(r"\bdashboard/(?:web/)?\w+\.py\b")


def test_readme_names_every_module() -> None:
    """README's "How a point flows" names each module under dashboard/ and
    dashboard/web/ by its path: a newcomer finds every file there."""
    named = set(MODULE_PATH.findall(point_flow_section()))
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for folder in ("dashboard", "dashboard/web")
        for p in (ROOT / folder).glob("*.py")
        if p.name != "__init__.py"
    )
    missing = [m for m in modules if m not in named]
    assert not missing, f"README's 'How a point flows' does not name {missing}"


def test_readme_names_no_module_that_is_gone() -> None:
    """...and names no module that no longer exists (moved, renamed, merged)."""
    named = set(MODULE_PATH.findall(point_flow_section()))
    gone = sorted(m for m in named if not (ROOT / m).is_file())
    assert not gone, f"README's 'How a point flows' names modules that do not exist: {gone}"
