"""The suite's two workers keep the heavy tests to one of them: pytest-xdist's
``--dist loadgroup`` still groups with the pytest installed (it silently
stopped with pytest 9.2, hence the pin in pyproject.toml)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.support.heavy import HEAVY

GROUPED = """
import pytest

@pytest.mark.xdist_group("heavy")
@pytest.mark.parametrize("i", range(6))
def test_heavy(i):
    pass
"""


def test_loadgroup_runs_a_group_on_one_worker(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-n", "2", "--dist", "loadgroup",
         "-p", "no:cacheprovider", "test_grouped.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    workers = re.findall(
        r"\[(gw\d)\] .*PASSED test_grouped\.py::test_heavy\[\d\]@heavy", result.stdout
    )
    assert len(workers) == 6 and len(set(workers)) == 1, result.stdout


def test_every_heavy_entry_names_a_test_module():
    root = Path(__file__).resolve().parents[1]
    for entry in HEAVY:
        assert (root / entry.split("::")[0]).is_file(), entry
