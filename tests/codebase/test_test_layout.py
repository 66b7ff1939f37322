"""Rules for the tests themselves: where a helper lives, what a conftest holds,
and what a unit test is named after."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in *path*; a relative import's module
    starts with its dots (``.test_x``), a bare ``from . import x`` is ``.x``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            dots = "." * node.level
            if node.module:
                found.append((node.lineno, dots + node.module))
            else:
                found += [(node.lineno, dots + alias.name) for alias in node.names]
    return found


def is_test_module_or_conftest(module: str) -> bool:
    """Whether *module* names a test module or a conftest, however imported:
    ``tests.e2e.test_ingest``, ``tests.conftest``, ``conftest``, ``.test_hub``."""
    parts = module.lstrip(".").split(".")
    if module.startswith("."):
        return True  # tests/ holds no helpers beside the tests: they are in tests/support
    if parts[0] == "tests":
        return parts[1:2] != ["support"]
    return parts[0] == "conftest" or parts[0].startswith("test_")


def test_is_test_module_or_conftest_tells_helpers_from_tests() -> None:
    assert not is_test_module_or_conftest("tests.support.servers")
    assert not is_test_module_or_conftest("dashboard.hub")
    assert not is_test_module_or_conftest("testing_tools")
    for module in ("tests.conftest", "tests.e2e.test_ingest", "conftest", "test_hub", ".x"):
        assert is_test_module_or_conftest(module), module


def test_no_test_module_imports_another_or_a_conftest() -> None:
    """Helpers shared by tests live in tests/support; a test module or a
    conftest imports nothing from another test module or from a conftest
    (pytest may import a test file twice under two names, and a helper's home
    should say what it is)."""
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(TESTS)
        for line, module in imported_modules(path)
        if is_test_module_or_conftest(module)
    ]
    assert not offences, "move the helper into tests/support/:\n" + "\n".join(offences)


def is_fixture_or_hook(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    if node.name.startswith("pytest_"):
        return True
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def test_conftest_files_only_declare_fixtures() -> None:
    """A conftest holds imports, fixtures and pytest hooks: helpers and
    constants belong in tests/support, where a test can import them."""
    offences = []
    for path in sorted(TESTS.rglob("conftest.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import | ast.ImportFrom) or is_fixture_or_hook(node):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            name = getattr(node, "name", type(node).__name__)
            offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not offences, "move into tests/support/:\n" + "\n".join(offences)


def module_names() -> set[str]:
    """Every module of dashboard/ (its web/ adapters included) and feeds/."""
    return {
        path.stem
        for folder in ("dashboard", "feeds")
        for path in (ROOT / folder).rglob("*.py")
        if path.stem not in ("__init__", "__main__")
    }


def module_tested_by(test_name: str, modules: set[str]) -> str | None:
    """The module ``test_<module>`` or ``test_<module>_<aspect>`` is about
    (the longest that fits: test_replay_read is replay_read's), or None."""
    stem = test_name.removeprefix("test_")
    fits = [m for m in modules if stem == m or stem.startswith(m + "_")]
    return max(fits, key=len, default=None)


def test_tested_module_reads_module_and_aspect() -> None:
    modules = {"replay", "replay_read", "hub", "flush_timing"}
    assert module_tested_by("test_hub", modules) == "hub"
    assert module_tested_by("test_replay_read", modules) == "replay_read"
    assert module_tested_by("test_replay_real", modules) == "replay"
    assert module_tested_by("test_flush_timing", modules) == "flush_timing"
    assert module_tested_by("test_hubs", modules) is None
    assert module_tested_by("test_lag_rules", modules) is None


def test_unit_tests_are_named_after_the_module_they_test() -> None:
    """tests/unit/test_<module>.py or test_<module>_<aspect>.py, for a module
    that exists in dashboard/ or feeds/: a reader finds a module's tests by
    its name, and a renamed module shows its tests to rename."""
    modules = module_names()
    drifting = [
        path.name
        for path in sorted((TESTS / "unit").glob("test_*.py"))
        if module_tested_by(path.stem, modules) is None
    ]
    assert not drifting, (
        "name these after a module of dashboard/ or feeds/ "
        "(test_<module>.py or test_<module>_<aspect>.py): " + ", ".join(drifting)
    )
