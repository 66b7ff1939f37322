"""Nested environments that see this one's packages (wheel and plugin installs)."""

from __future__ import annotations

import site
import subprocess
from pathlib import Path


def outer_env_pth(python: str) -> None:
    """Let the environment of *python* see this one's packages, after its own,
    through a .pth file (a nested --system-site-packages venv would see the
    base interpreter instead)."""
    venv_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # An "import" line runs site.addsitedir, which also reads the outer
    # directories' own .pth files (the editable install of this checkout).
    dirs = ", ".join(repr(d) for d in site.getsitepackages())
    Path(venv_site, "outer-env.pth").write_text(
        f"import site; list(map(site.addsitedir, ({dirs},)))\n"
    )
