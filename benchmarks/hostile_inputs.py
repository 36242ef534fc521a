"""Decompression and parsing bombs through the whole job, as a user runs it (`python -m pipeline`):
wall time and peak RSS of the job's process tree for each, against the same job on the good
records alone, measured in the same run.

    python -m benchmarks.hostile_inputs --workdir /tmp/sieve-bombs [--tree /tmp/old-checkout]
        [--timeout 300] [--quick]

Every case is a folder: the good records (`GOOD_RECORDS` of the bundled sample) plus one bomb:
- `zstd-line`, `zstd-line-2g`: one JSONL line of 256 MiB (2 GiB) in a few KB of zstd;
- `gzip-line`: one line of 256 MiB in gzip;
- `parquet-string`: one Parquet row holding a 1 GiB string (33 KB of zstd);
- `html-32k`, `html-200k`: a WARC page of 32,000 (200,000) nested <div> between two good pages.
The job must end with exit 0, the identity holding and the bomb a dead letter (its error is
printed). `--tree` runs the same jobs with another checkout's `python -m pipeline` (an earlier
commit, say) in the same run, for before/after; a job past `--timeout` is killed and reported
as such. `--quick` puts small versions of every bomb into one folder and runs one job: what
tests/benchmarks/test_hostile_inputs.py runs, so the builders do not rot.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.stress_runs import ROOT, SAMPLE_INTERVAL_S, _tree_rss_kib

GOOD_RECORDS = 300  # of the bundled sample: enough text for a tokenizer of JOB_VOCAB pieces
JOB_ARGS = ["--policy=none", "--near_dedup=false", "--vocab_size=500", "--num_shards=1"]
MIB = 1 << 20
# (case, bytes of the bomb at full scale, at --quick)
CASES = (("zstd-line", 256 * MIB, 8 * MIB), ("zstd-line-2g", 2048 * MIB, None),
         ("gzip-line", 256 * MIB, 8 * MIB), ("parquet-string", 1024 * MIB, 8 * MIB),
         ("html-32k", 32_000, 600), ("html-200k", 200_000, None))
QUICK_MAX_RECORD_BYTES = 4 * MIB  # --quick: bombs of 8 MiB are over the bound


def _json_line(size: int, write) -> None:
    write(b'{"id": "bomb", "text": "')
    chunk = b"x" * min(size, 64 * MIB)
    for _ in range(size // len(chunk)):
        write(chunk)
    write(b'"}\n')


def _good_lines() -> list[bytes]:
    from pipeline.__main__ import SAMPLE

    with gzip.open(SAMPLE, "rb") as f:
        return [line for _, line in zip(range(GOOD_RECORDS), f)]


def _page(depth: int) -> bytes:
    return (b"<html><head><title>deep</title></head><body>" + b"<div>" * depth + b"deep text"
            + b"</div>" * depth + b"</body></html>")


GOOD_PAGE = (b"<html><head><title>Good</title></head><body><article><p>" + b"An ordinary paragraph "
             b"of English text about the river, the trees and the weather in spring. " * 10
             + b"</p></article></body></html>")


def build(case: str, size: int, folder: Path) -> Path:
    """Writes the bomb of `case` at `size` into `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    if case.startswith("zstd-line"):
        import zstandard

        path = folder / f"{case}.jsonl.zst"
        with open(path, "wb") as f, zstandard.ZstdCompressor(level=19).stream_writer(f) as w:
            _json_line(size, w.write)
    elif case == "gzip-line":
        path = folder / f"{case}.jsonl.gz"
        with gzip.open(path, "wb", compresslevel=9) as f:
            _json_line(size, f.write)
    elif case == "parquet-string":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = folder / f"{case}.parquet"
        pq.write_table(pa.table({"id": ["bomb"], "text": ["x" * size]}), path, compression="zstd")
    elif case.startswith("html"):
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter

        path = folder / f"{case}.warc.gz"
        with open(path, "wb") as f:
            writer = WARCWriter(f, gzip=True)
            for i, body in enumerate((GOOD_PAGE, _page(size), GOOD_PAGE)):
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                        protocol="HTTP/1.1")
                writer.write_record(writer.create_warc_record(
                    f"http://example.com/{case}/{i}", "response", payload=io.BytesIO(body),
                    http_headers=http))
    else:
        raise ValueError(f"unknown case {case!r}")
    return path


def run_job(tree: Path, folder: Path, out: Path, extra: list[str], timeout: float) -> dict:
    """`python -m pipeline` of `tree` on `folder`: exit (None when killed at `timeout`),
    seconds, peak RSS MB of its process tree (sampled every SAMPLE_INTERVAL_S)."""
    cmd = [sys.executable, "-m", "pipeline", f"--input={folder}/*", f"--output={out}",
           *JOB_ARGS, *extra]
    peak, done = [0], threading.Event()
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out.with_suffix(".log"), "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tree, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

        def sample():
            while not done.wait(SAMPLE_INTERVAL_S):
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        done.set()
        sampler.join()
    row = {"exit": code, "seconds": round(time.perf_counter() - start, 1),
           "peak_rss_mb": round(peak[0] / 1024)}
    stats = out / "stats.json"
    if code is not None and stats.exists():
        s = json.loads(stats.read_text())
        row["identity"] = s["identity_holds"]
        ledger = [json.loads(line) for p in sorted((out / "ledger").glob("*.jsonl")) for line in p.open()]
        row["errors"] = sorted(r["error"][:120] for r in ledger if r["outcome"] == "dead_letter")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--tree", type=Path, default=None,
                        help="Also run each job with this checkout's python -m pipeline.")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--cases", nargs="*", default=[c for c, _, _ in CASES])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    good = _good_lines()
    folders: dict[str, Path] = {}
    if args.quick:
        folders["quick"] = work / "in" / "quick"
        for case, _, small in CASES:
            if small is not None:
                build(case, small, folders["quick"])
        extra = [f"--max_record_bytes={QUICK_MAX_RECORD_BYTES}", f"--max_doc_bytes={QUICK_MAX_RECORD_BYTES}"]
    else:
        for case, full, _ in CASES:
            if case in args.cases:
                folders[case] = work / "in" / case
                if not any(folders[case].glob(f"{case}.*")):
                    build(case, full, folders[case])
        extra = []
    folders = {"good": work / "in" / "good", **folders}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "good.jsonl").write_bytes(b"".join(good))
    trees = {"this": ROOT, **({"tree": args.tree.resolve()} if args.tree else {})}
    rows, ok = [], True
    for case, folder in folders.items():
        for label, tree in trees.items():
            out = work / "out" / label / case
            row = {"case": case, "code": label, "input_bytes": sum(p.stat().st_size for p in folder.iterdir()),
                   **run_job(tree, folder, out, extra, args.timeout)}
            base = next((r for r in rows if r["case"] == "good" and r["code"] == label), None)
            if base is not None:
                row["seconds_vs_good"] = round(row["seconds"] / max(base["seconds"], 1e-9), 2)
                row["rss_vs_good"] = round(row["peak_rss_mb"] / max(base["peak_rss_mb"], 1), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if label == "this" and not (row["exit"] == 0 and row.get("identity")):
                ok = False
    print("| case | code | exit | seconds | x good | peak RSS MB | x good |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['case']} | {r['code']} | {r['exit'] if r['exit'] is not None else 'killed'} | "
              f"{r['seconds']} | {r.get('seconds_vs_good', 1)} | {r['peak_rss_mb']} | {r.get('rss_vs_good', 1)} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
