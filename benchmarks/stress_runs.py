"""Stress the whole job as a user runs it: `python -m pipeline` once in process and K times with
worker processes on the same input, checking every run and that all runs wrote the same bytes.

    python -m benchmarks.real_corpus --workdir /tmp/sieve-corpus          # 55,340 documents, 217 MB
    python -m benchmarks.stress_runs --input '/tmp/sieve-corpus/corpus/*.jsonl.gz' \\
        --workdir /tmp/sieve-stress --runs 10 -- --policy none            # about an hour on 2 cores
    python -m benchmarks.stress_runs --quick                               # the bundled sample, 2 runs

A session too short for all runs can stop and go on later with `--resume`: each finished run's row
is appended to WORKDIR/results.jsonl and a resumed stress runs only the runs missing from it.

Each run is a fresh `python -m pipeline --input ... --output WORKDIR/run-NN ARGS` (arguments
after `--` are passed on; the default is `--policy none`), the first in process, the others with
`--direct_running_mode=multi_processing --direct_num_workers=W`. A run passes when it exits 0, its
accounting identity and every stage's counted flow hold (`pipeline.accounting.problems`), its
report renders (non-empty, with the identity badge), and its shards, manifest and ledger hash
the same as the first run's. Printed: one table row per run (seconds, peak RSS of the job's
process tree, kept, duplicates, sha256 of the shards, the manifest and the ledger) and a verdict;
the exit code is 1 if any run failed or differed. This is not a timed test: seconds and memory
are what one machine measured, for comparing runs with each other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import accounting  # noqa: E402
from quality import outputs  # noqa: E402

SAMPLE_INTERVAL_S = 0.2  # how often the process tree's RSS is read


def _tree_rss_kib(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (KiB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/status") as f:
                kib = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = kib
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_measured(cmd: list[str], log: Path, env: dict | None = None) -> tuple[int, float, float]:
    """Runs `cmd` from the repository root, output to `log`: (exit code, seconds, peak RSS MB
    of its whole process tree, sampled every SAMPLE_INTERVAL_S)."""
    peak, done = [0], threading.Event()
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=None if env is None else {**os.environ, **env})

        def sample():
            while not done.wait(SAMPLE_INTERVAL_S):
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    return code, time.perf_counter() - start, peak[0] / 1024


def _run_job(args: list[str], log: Path) -> tuple[int, float, float]:
    """(exit code, seconds, peak RSS MB of the job's process tree) of `python -m pipeline ARGS`."""
    return run_measured([sys.executable, "-m", "pipeline", *args], log)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def check_output(out: Path) -> dict:
    """What one run wrote: counts, problems and the hashes compared across runs."""
    stats = json.loads((out / outputs.STATS).read_text())
    report = out / outputs.REPORT
    page = report.read_text(encoding="utf-8") if report.exists() else ""
    ident = stats["identity"]["docs"]
    return {
        "input": ident["input"], "kept": ident["kept"], "duplicate": ident["duplicate"],
        "dropped": ident["dropped"], "dead_letter": ident["dead_letter"],
        "problems": accounting.problems(stats),
        "report_ok": "Accounting identity holds" in page,
        "shards": _digest(sorted((out / "shards").glob("*.tar"))),
        "manifest": _digest([out / outputs.MANIFEST]),
        "ledger": _digest(sorted((out / "ledger").glob("*.jsonl"))),
    }


RESULTS = "results.jsonl"  # one row per finished run, in the workdir; --resume reads it


def stress(input_glob: str, workdir: Path, runs: int, workers: int, job_args: list[str],
           resume: bool = False) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    results = workdir / RESULTS
    done = {}
    if resume and results.exists():
        done = {r["run"]: r for r in map(json.loads, results.read_text().splitlines()) if r}
    elif results.exists():
        results.unlink()
    rows = []
    for i in range(runs + 1):
        if i in done:
            rows.append(done[i])
            print(json.dumps({**done[i], "resumed": True}), flush=True)
            continue
        mode = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if i else []
        out = workdir / f"run-{i:02d}"
        args = [f"--input={input_glob}", f"--output={out}", *job_args, *mode]
        code, seconds, rss = _run_job(args, workdir / f"run-{i:02d}.log")
        row = {"run": i, "mode": f"{workers} processes" if i else "in process", "exit": code,
               "seconds": round(seconds, 1), "peak_rss_mb": round(rss)}
        try:
            row.update(check_output(out))
        except (OSError, KeyError, ValueError) as e:
            row["problems"] = [f"unreadable output: {type(e).__name__}: {e}"]
        rows.append(row)
        print(json.dumps(row), flush=True)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


def verdict(rows: list[dict]) -> list[str]:
    """Every way a run failed or differed from the first; empty when all passed."""
    first, out = rows[0], []
    for r in rows:
        if r["exit"] != 0:
            out.append(f"run {r['run']}: exit code {r['exit']}")
        out += [f"run {r['run']}: {p}" for p in r.get("problems", [])]
        if "report_ok" in r and not r["report_ok"]:
            out.append(f"run {r['run']}: the report did not render the identity")
        for key in ("shards", "manifest", "ledger"):
            if r.get(key) != first.get(key):
                out.append(f"run {r['run']}: {key} differ from run 0's")
    return out


def print_table(rows: list[dict]) -> None:
    print("\n| run | mode | exit | seconds | peak RSS MB | kept | duplicates | shards sha256 "
          "| manifest sha256 | ledger sha256 |")
    print("|--:|---|--:|--:|--:|--:|--:|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['mode']} | {r['exit']} | {r['seconds']} | {r['peak_rss_mb']} "
              f"| {r.get('kept', '?')} | {r.get('duplicate', '?')} | {str(r.get('shards'))[:12]} "
              f"| {str(r.get('manifest'))[:12]} | {str(r.get('ledger'))[:12]} |")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    job_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", help="glob of the input files")
    ap.add_argument("--workdir", default="/tmp/sieve-stress")
    ap.add_argument("--runs", type=int, default=10, help="multi-process runs after the in-process one")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="the bundled sample, one in-process and one 2-process run (tests use it)")
    ap.add_argument("--resume", action="store_true",
                    help=f"keep the runs already in WORKDIR/{RESULTS} (same input and arguments "
                         "assumed) and run only the missing ones")
    args = ap.parse_args(own)
    if args.quick:
        from pipeline.__main__ import SAMPLE

        args.input, args.runs = args.input or str(SAMPLE), 1
    if not args.input:
        ap.error("--input is required (or --quick)")
    rows = stress(args.input, Path(args.workdir), args.runs, args.workers, job_args or ["--policy", "none"],
                  resume=args.resume)
    print_table(rows)
    problems = verdict(rows)
    print("\n" + ("\n".join(problems) if problems else
                  f"all {len(rows)} runs passed and wrote identical shards, manifest and ledger"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
