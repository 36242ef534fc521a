"""Files: reading a run's stats, manifest, ledger and dead letters through a pluggable opener and
lister, writing OUT/report.html, and the command line (`python -m quality.report OUT`)."""

from __future__ import annotations

import argparse
import glob
import json
from collections.abc import Callable, Iterable

from quality.outputs import DEAD_LETTER_GLOB, LEDGER_GLOB, MANIFEST, REPORT, STATS
from quality.report.sections import render_report

Opener = Callable[[str, str], object]  # (path, "rb" | "wb") -> binary file object
Lister = Callable[[str], Iterable[str]]  # glob pattern -> paths


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _local_open(path: str, mode: str):
    return open(path, mode)


def _local_list(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern))


def _read_json(path: str, opener: Opener):
    with opener(path, "rb") as f:
        return json.loads(f.read())


def iter_jsonl(paths: Iterable[str], opener: Opener = _local_open):
    """Rows of JSON-lines files, one line at a time."""
    for path in sorted(paths):
        with opener(path, "rb") as f:
            for line in iter(f.readline, b""):
                if line.strip():
                    yield json.loads(line)


def write_report(out_dir: str, opener: Opener = _local_open, lister: Lister = _local_list) -> str:
    """Writes OUT/report.html from OUT's stats, manifest, ledger and dead letters; returns its path.

    `opener(path, mode)` opens a file in "rb" or "wb" mode and `lister(pattern)` lists a glob, so
    that a caller can pass Beam FileSystems-based ones for gs:// outputs, e.g.
    `opener=lambda p, m: FileSystems.open(p) if m == "rb" else FileSystems.create(p)` and
    `lister=lambda pat: [m.path for m in FileSystems.match([pat])[0].metadata_list]`.
    """
    stats = _read_json(_join(out_dir, STATS), opener)
    try:
        manifest = _read_json(_join(out_dir, MANIFEST), opener)
    except OSError:  # a run whose tokenizer or shards failed may have no manifest
        manifest = {}
    ledger = iter_jsonl(lister(_join(out_dir, LEDGER_GLOB)), opener)
    dead = iter_jsonl(lister(_join(out_dir, DEAD_LETTER_GLOB)), opener)
    page = render_report(stats, manifest, ledger, dead)
    path = _join(out_dir, REPORT)
    with opener(path, "wb") as f:
        f.write(page.encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quality.report",
                                     description="Write OUT/report.html from a finished Sieve run.")
    parser.add_argument("out", help="the pipeline's --output directory")
    args = parser.parse_args(argv)
    print(write_report(args.out))
    return 0
