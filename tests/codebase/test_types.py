"""Types are checked, not hoped for: mypy --strict on the code and on the plugin examples.

The settings are pyproject's ``[tool.mypy]`` (``strict``, plotly alone let
through untyped), so ``.venv/bin/mypy`` with no arguments checks what this
suite checks.
"""

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A literal block of a docstring (reST: a paragraph ending "::", then indented lines).
LITERAL_BLOCK = re.compile(r"::\n\n((?:[ \t]+\S.*\n|[ \t]*\n)+)")
README_PYTHON = re.compile(r"^([ \t]*)```python\n(.*?)^[ \t]*```", re.S | re.M)

# What a plugin author runs into first: a Feed whose declarations an instance
# sets is a FeedSource, and so are the other shapes the loader accepts.
FEED_CONTRACT = """
import asyncio
from collections.abc import AsyncIterator

from feeds import Feed, FeedInfo, FeedSource, Series, feed


class Probe(Feed):
    name = "probe"
    series = ["x"]

    def __init__(self, name: str, interval: float = 1.0) -> None:
        self.name = name
        self.rate = 1 / interval

    async def stream(self) -> AsyncIterator[dict[str, float]]:
        while True:
            yield {"x": 1.0}
            await asyncio.sleep(1)


class Constant:
    info = FeedInfo("answer", series=(Series("value"),), rate=1.0)

    async def stream(self) -> AsyncIterator[dict[str, float]]:
        yield {"value": 42.0}


@feed("once", series=["x"])
async def once() -> AsyncIterator[dict[str, float]]:
    yield {"x": 1.0}


sources: list[FeedSource] = [Probe("p"), Constant(), once, once.create()]
"""


def mypy() -> list[str]:
    found = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert found, "mypy is a test dependency: pip install -e '.[test]'"
    return [found]


def test_mypy_strict_passes_on_dashboard_and_feeds() -> None:
    """`mypy` with pyproject's settings (--strict on dashboard and feeds) finds no error."""
    result = subprocess.run(mypy(), cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def readme_examples() -> list[str]:
    """Every ```python block of the README, dedented (some sit in list items)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [textwrap.dedent(code) for _indent, code in README_PYTHON.findall(text)]


def docstring_examples() -> list[str]:
    """The Python literal blocks of the feeds package's docstrings (the README
    sends plugin authors to them: "its docstring is a complete example"). The
    blocks of one docstring are one example told in parts: one module."""
    examples = []
    for path in sorted((ROOT / "feeds").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node) or ""
            blocks = [textwrap.dedent(b).strip() + "\n" for b in LITERAL_BLOCK.findall(doc + "\n")]
            # A command line is shown the same way; it is not Python.
            code = "\n\n".join(b for b in blocks if not b.startswith("python -m "))
            if code:
                examples.append(code)
    return examples


def test_the_examples_are_found() -> None:
    """The extraction sees the examples it is meant to check (not zero by a typo)."""
    readme = readme_examples()
    assert len(readme) >= 2 and any("@feed(" in code for code in readme)
    docs = docstring_examples()
    assert any("class Thermometer(Feed)" in code for code in docs)
    assert any("class Constant" in code for code in docs)


def test_plugin_examples_type_check_under_strict(tmp_path: Path) -> None:
    """A plugin written exactly as the README's and the feeds docstrings'
    examples passes `mypy --strict`, checked as a plugin author would: from
    its own folder, against the installed package (its py.typed markers)."""
    examples = readme_examples() + docstring_examples() + [FEED_CONTRACT]
    files = []
    for number, code in enumerate(examples):
        path = tmp_path / f"example_{number}.py"
        path.write_text(code, encoding="utf-8")
        files.append(path.name)
    result = subprocess.run(
        # The repo's (ignored) cache: the installed packages are not analysed afresh each run.
        [*mypy(), "--strict", "--cache-dir", str(ROOT / ".mypy_cache" / "examples"), *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    shown = "\n".join(f"--- example_{n}.py\n{code}" for n, code in enumerate(examples))
    assert result.returncode == 0, result.stdout + result.stderr + "\n" + shown
