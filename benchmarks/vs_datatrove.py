"""The whole Sieve job against datatrove 0.10.1, side by side on the same real input.

    python -m benchmarks.vs_datatrove --input '/tmp/sieve-corpus/corpus/*.jsonl.gz' \\
        --workdir /tmp/vs-datatrove --datatrove_python /tmp/dt-venv/bin/python [--workers 2]

Five timed jobs, one after the other, each measured from outside (wall time; peak RSS of its
whole process tree, sampled every 0.2 s):

* ``datatrove filters``: JsonlReader -> GopherRepetitionFilter -> GopherQualityFilter ->
  C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> JsonlWriter, as
  datatrove's examples/fineweb.py chains them (without its language filter, whose model
  datatrove downloads), on a LocalPipelineExecutor with one task per input file.
* ``datatrove minhash (filtered)``: its four MinHash stages (``MinhashConfig()``: 14 x 8, word
  5-grams) on what the filters kept; ``datatrove minhash (unfiltered)``: the same on the input.
* ``sieve filters``: ``python -m pipeline`` with the same rules as a YAML policy (the ``fineweb``
  preset without its language rules, written to WORKDIR/policy.yaml), ``--near_dedup false``: the
  whole job as a user runs it, so it also identifies languages, removes URL and exact duplicates,
  trains the tokenizer and writes shards, ledger and report.
* ``sieve filters + near dedup``: the same with near dedup on (``--url_dedup false
  --exact_jaccard_check false``), against datatrove's filters plus its MinHash on their output.
* ``sieve near dedup (unfiltered)``: ``--policy none --url_dedup false --exact_jaccard_check
  false``, against datatrove's MinHash on the input (Sieve's time includes annotating every
  document, which it does whatever the policy).

Sieve runs with ``--direct_running_mode=multi_processing --direct_num_workers=W`` and datatrove
with ``workers=W``. Decision agreement: the share of documents that the filters treat alike
(kept by datatrove's filters = not dropped by Sieve's policy), with the ids mapped as Sieve's
reader forms them. datatrove runs in its own environment (see benchmarks/README.md); this file
runs there too for its datatrove parts, so it imports nothing of Sieve at module level.

``--quick`` runs the three Sieve jobs on a small input and skips datatrove: what a test runs so
that the script does not rot.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import sys
from pathlib import Path



# ----------------------------------------------------------------------------------------------
# datatrove side (runs in datatrove's environment)
# ----------------------------------------------------------------------------------------------

def _input_files(pattern: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no input matches {pattern!r}")
    return files


def datatrove_filters(pattern: str, out: str, workers: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                            GopherQualityFilter, GopherRepetitionFilter)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    files = _input_files(pattern)
    folder = os.path.dirname(files[0])
    names = [os.path.basename(f) for f in files]
    shutil.rmtree(out, ignore_errors=True)
    LocalPipelineExecutor(pipeline=[
        JsonlReader(folder, glob_pattern=_glob_of(names)),
        GopherRepetitionFilter(), GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
        JsonlWriter(f"{out}/kept")], tasks=len(files), workers=workers,
        logging_dir=f"{out}/logs").run()


def _glob_of(names: list[str]) -> str:
    """A glob matching these file names of one folder (datatrove takes one pattern)."""
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    return f"{prefix}*{suffix}" if len(prefix) + len(suffix) <= min(map(len, names)) else "*"


def datatrove_minhash(folder: str, glob_pattern: str, out: str, workers: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
                                                  MinhashDedupCluster, MinhashDedupFilter,
                                                  MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    shutil.rmtree(out, ignore_errors=True)
    config = MinhashConfig()  # 14 buckets x 8 hashes, word 5-grams: FineWeb's settings
    tasks = max(1, len(glob.glob(os.path.join(folder, glob_pattern))))
    LocalPipelineExecutor(pipeline=[JsonlReader(folder, glob_pattern=glob_pattern),
                                    MinhashDedupSignature(f"{out}/sigs", config=config)],
                          tasks=tasks, workers=workers, logging_dir=f"{out}/logs/sigs").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(f"{out}/sigs", f"{out}/buckets", config=config)],
                          tasks=config.num_buckets, workers=workers,
                          logging_dir=f"{out}/logs/buckets").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(f"{out}/buckets", f"{out}/remove", config=config)],
                          tasks=1, logging_dir=f"{out}/logs/cluster").run()
    LocalPipelineExecutor(pipeline=[JsonlReader(folder, glob_pattern=glob_pattern),
                                    MinhashDedupFilter(f"{out}/remove",
                                                       exclusion_writer=JsonlWriter(f"{out}/removed")),
                                    JsonlWriter(f"{out}/kept")],
                          tasks=tasks, workers=workers, logging_dir=f"{out}/logs/filter").run()


def _jsonl_rows(folder: str):
    for f in sorted(glob.glob(f"{folder}/*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def _sieve_id(row: dict) -> str:
    """The id Sieve's reader gives a record (pipeline/read.py: `<source>/<own id>`)."""
    own, source = str(row["id"]), row.get("metadata", {}).get("source") or row.get("source")
    return own if own.startswith(f"{source}/") else f"{source}/{own}"


# ----------------------------------------------------------------------------------------------
# measuring jobs from outside
# ----------------------------------------------------------------------------------------------

def measure(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Runs `cmd`; {exit, seconds, peak_rss_mb} with RSS summed over its process tree."""
    from benchmarks.stress_runs import run_measured

    code, seconds, peak_mb = run_measured(cmd, log, env)
    return {"exit": code, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb)}


def write_policy(path: Path) -> None:
    """The `fineweb` preset without its language rules, as a YAML policy file."""
    import yaml

    from quality.policy import preset

    spec = preset("fineweb").to_dict()
    spec["name"] = "fineweb_rules"
    spec["rules"] = [r for r in spec["rules"] if r["name"] not in ("lang", "lang_score")]
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def sieve_outcomes(out: Path) -> dict[str, str]:
    rows = {}
    for f in sorted((out / "ledger").glob("*.jsonl")):
        for line in f.open(encoding="utf-8"):
            r = json.loads(line)
            rows[r["id"]] = r["outcome"]
    return rows


def sieve_job(name: str, pattern: str, out: Path, workers: int, extra: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    mode = (["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
            if workers > 1 else [])
    cmd = [sys.executable, "-m", "pipeline", "--input", pattern, "--output", str(out), *extra, *mode]
    res = measure(cmd, out.parent / f"{out.name}.log")
    if res["exit"]:
        raise SystemExit(f"{name} failed (exit {res['exit']}); see {out.parent / f'{out.name}.log'}")
    stats = json.loads((out / "stats.json").read_text())
    docs = stats["identity"]["docs"]
    return {"job": name, **res, "input_docs": docs["input"], "kept": docs["kept"],
            "duplicates": docs["duplicate"], "dropped": docs["dropped"],
            "dead_letter": docs["dead_letter"], "identity": docs["holds"]}


def datatrove_job(name: str, python: str, args: list[str], log: Path) -> dict:
    res = measure([python, str(Path(__file__).resolve()), *args], log, env={"PYTHONPATH": ""})
    if res["exit"]:
        raise SystemExit(f"{name} failed (exit {res['exit']}); see {log}")
    return {"job": name, **res}


def compare(pattern: str, workdir: Path, workers: int, datatrove_python: str | None,
            quick: bool = False) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "policy.yaml"
    write_policy(policy)
    mb = sum(_jsonl_mb(f) for f in _input_files(pattern))
    small = ["--vocab_size", "2000"] if quick else []
    rows = []
    dt_filter = dt_min_f = dt_min_u = None
    if datatrove_python:
        dt_filter = datatrove_job("datatrove filters", datatrove_python,
                                  ["dt-filters", "--input", pattern, "--out", str(workdir / "dt-filters"),
                                   "--workers", str(workers)], workdir / "dt-filters.log")
        dt_filter["kept"] = sum(1 for _ in _jsonl_rows(str(workdir / "dt-filters/kept")))
        rows.append(dt_filter)
        print(json.dumps(rows[-1]), flush=True)
        dt_min_f = datatrove_job("datatrove minhash (filtered)", datatrove_python,
                                 ["dt-minhash", "--folder", str(workdir / "dt-filters/kept"),
                                  "--glob", "*.jsonl.gz", "--out", str(workdir / "dt-minhash-f"),
                                  "--workers", str(workers)], workdir / "dt-minhash-f.log")
        dt_min_f["duplicates"] = sum(1 for _ in _jsonl_rows(str(workdir / "dt-minhash-f/removed")))
        rows.append(dt_min_f)
        print(json.dumps(rows[-1]), flush=True)
        files = _input_files(pattern)
        dt_min_u = datatrove_job("datatrove minhash (unfiltered)", datatrove_python,
                                 ["dt-minhash", "--folder", os.path.dirname(files[0]),
                                  "--glob", _glob_of([os.path.basename(f) for f in files]),
                                  "--out", str(workdir / "dt-minhash-u"), "--workers", str(workers)],
                                 workdir / "dt-minhash-u.log")
        dt_min_u["duplicates"] = sum(1 for _ in _jsonl_rows(str(workdir / "dt-minhash-u/removed")))
        rows.append(dt_min_u)
        print(json.dumps(rows[-1]), flush=True)
    jobs = [("sieve filters", "sieve-filters", ["--policy", str(policy), "--near_dedup", "false"]),
            ("sieve filters + near dedup", "sieve-filters-near",
             ["--policy", str(policy), "--url_dedup", "false", "--exact_jaccard_check", "false"]),
            ("sieve near dedup (unfiltered)", "sieve-near",
             ["--policy", "none", "--url_dedup", "false", "--exact_jaccard_check", "false"])]
    for name, folder, extra in jobs:
        rows.append(sieve_job(name, pattern, workdir / folder, workers, extra + small))
        print(json.dumps(rows[-1]), flush=True)
    if dt_filter is not None:
        dt_kept = {_sieve_id(r) for r in _jsonl_rows(str(workdir / "dt-filters/kept"))}
        outcomes = sieve_outcomes(workdir / "sieve-filters")
        same = sum((o != "dropped") == (i in dt_kept) for i, o in outcomes.items())
        rows[3]["decision_agreement"] = round(same / len(outcomes), 5)
        rows[3]["policy_kept"] = sum(o != "dropped" for o in outcomes.values())
        rows[3]["ratio"] = round(dt_filter["seconds"] / rows[3]["seconds"], 2)
        rows[4]["ratio"] = round((dt_filter["seconds"] + dt_min_f["seconds"]) / rows[4]["seconds"], 2)
        rows[5]["ratio"] = round(dt_min_u["seconds"] / rows[5]["seconds"], 2)
    for r in rows:
        r["mb_ram_per_mb"] = round(r["peak_rss_mb"] / mb, 2)
    print_table(rows, mb)
    return rows


def _jsonl_mb(path: str) -> float:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return sum(len(line) for line in f) / 1e6


def print_table(rows: list[dict], mb: float) -> None:
    print(f"\ninput: {mb:.1f} MB of JSONL\n")
    print("| job | seconds | peak RSS MB (process tree) | MB RAM per MB input | kept | duplicates "
          "| ratio (datatrove s / Sieve s) | decision agreement |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['job']} | {r['seconds']} | {r['peak_rss_mb']:,} | {r['mb_ram_per_mb']} | "
              f"{r.get('kept', '')} | {r.get('duplicates', '')} | {r.get('ratio', '')} | "
              f"{r.get('decision_agreement', '')} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    f = sub.add_parser("dt-filters")
    f.add_argument("--input", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--workers", type=int, default=2)
    m = sub.add_parser("dt-minhash")
    m.add_argument("--folder", required=True)
    m.add_argument("--glob", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--workers", type=int, default=2)
    ap.add_argument("--input")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vs-datatrove"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--datatrove_python", default=None)
    ap.add_argument("--quick", action="store_true", help="Sieve's jobs only, small settings")
    args = ap.parse_args(argv)
    if args.cmd == "dt-filters":
        datatrove_filters(args.input, args.out, args.workers)
        return 0
    if args.cmd == "dt-minhash":
        datatrove_minhash(args.folder, args.glob, args.out, args.workers)
        return 0
    if not args.input:
        ap.error("--input is required")
    compare(args.input, args.workdir, args.workers, None if args.quick else args.datatrove_python,
            quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
