"""The README's two commands stay true: CI runs the test one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_readme_starts_with_run_and_test_commands():
    """The first two shell blocks run the dashboard and run the tests."""
    run, test = readme_commands()[:2]
    assert run.endswith("python -m dashboard") and "pip install -e ." in run
    assert test.endswith("python -m pytest") and "'.[test]'" in test


def test_ci_runs_the_readme_test_command():
    """.ci/run ends with exactly the README's test command."""
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_lines[-1] == readme_commands()[1]
    assert "REQUIRE_BROWSER=1" in "\n".join(ci_lines)
