"""Fixtures shared by the test files: the headless browser that renders the HTML reports."""

from __future__ import annotations

import os
import shutil

import pytest


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, or a skip; in CI (env CI set) a missing browser fails instead of skipping."""
    found = _chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium binary in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium binary (apt-get install chromium)")
    return found


HEADLESS_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


@pytest.fixture
def dump_dom(chromium, tmp_path):
    """path -> the DOM headless Chromium renders from that HTML file (offline, fresh profile)."""
    import subprocess
    from pathlib import Path

    def render(path) -> str:
        flags = [chromium, *HEADLESS_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        return subprocess.run(flags + ["--dump-dom", Path(path).resolve().as_uri()],
                              capture_output=True, text=True, timeout=120, check=True).stdout
    return render
