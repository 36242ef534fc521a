"""Everything a worker reads at run time ships in the package (Dataflow workers install the
project from its sdist or wheel, not from this checkout)."""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "quality", "pretrain", "workflows")


def test_every_data_file_of_the_packages_is_declared_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = config["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    missing = []
    for path in tracked:
        package, _, rest = path.partition("/")
        if path.endswith(".py") or "/tests/" in path:
            continue
        if not any(fnmatch.fnmatch(rest, pattern) for pattern in declared.get(package, ())):
            missing.append(path)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
