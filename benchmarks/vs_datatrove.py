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

Shuffle: each Sieve job writes OUTPUT/run_metrics.json (``pipeline.run_metrics``: the bytes that
entered every GroupByKey and side input, estimated from Beam's sampled element sizes); the table
shows their sum per input byte and the largest grouping. datatrove has no shuffle: its stages
pass files on disk.

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
    yield from _jsonl_rows_of(sorted(glob.glob(f"{folder}/*.jsonl.gz")))


def _sieve_id(row: dict) -> str:
    """The id Sieve's reader gives a record (pipeline/read.py: `<source>/<own id>`)."""
    own, source = str(row["id"]), row.get("metadata", {}).get("source") or row.get("source")
    return own if own.startswith(f"{source}/") else f"{source}/{own}"


# ----------------------------------------------------------------------------------------------
# growth: K times the input
# ----------------------------------------------------------------------------------------------

SCALE_PARTS = 2  # files of a scaled input, as many as the 1x corpus has
SCALE_SEED = 0


def scaled_input(pattern: str, scale: int, out: Path) -> str:
    """K times the input under `out` (a glob of it is returned): copy 0 is every record as it is,
    copy c > 0 every record again with id `<id>~c` and its text edited by one of
    `benchmarks.dedup_quality`'s edits (substitutions, insertions, deletions, boilerplate,
    reordering, truncation; up to 60% of it), so the copies are new text, near duplicates of
    their original or not, and not exact duplicates. Records stay in file order, copies
    interleaved, spread over SCALE_PARTS files. Reused when it exists."""
    import random

    from benchmarks import dedup_quality as dq

    out.mkdir(parents=True, exist_ok=True)
    done = out / "DONE"
    glob_out = str(out / "part-*.jsonl.gz")
    if done.exists() and done.read_text() == f"{pattern} x{scale}\n":
        return glob_out
    rng = random.Random(SCALE_SEED)
    rows = list(_jsonl_rows_of(_input_files(pattern)))
    pool = {"words": [w for r in rows[::50] for w in r["text"].split() if w.isalpha()],
            "sentences": [x for r in rows[::50] for x in dq.sentences(r["text"])
                          if 5 <= len(x.split()) <= 40]}
    files = [gzip.open(out / f"part-{i}.jsonl.gz", "wt", encoding="utf-8") for i in range(SCALE_PARTS)]
    n = 0
    for r in rows:
        for copy in range(scale):
            rec = dict(r)
            if copy:
                rec["id"] = f"{r['id']}~{copy}"
                rec["text"] = dq.EDIT_FNS[rng.choice(dq.EDITS)](r["text"], rng.uniform(0.0, 0.6), rng, pool)
            files[n % SCALE_PARTS].write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    for f in files:
        f.close()
    done.write_text(f"{pattern} x{scale}\n")
    return glob_out


def _jsonl_rows_of(files: list[str]):
    for f in files:
        opener = gzip.open if f.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


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
    if res["exit"] and not (out / "stats.json").exists():
        raise SystemExit(f"{name} failed (exit {res['exit']}); see {out.parent / f'{out.name}.log'}")
    # A run that finished with a named problem (exit 1) is still measured and shown as such.
    stats = json.loads((out / "stats.json").read_text())
    moved = json.loads((out / "run_metrics.json").read_text())
    docs = stats["identity"]["docs"]
    biggest = moved["groupings"][0]
    return {"job": name, **res, "input_docs": docs["input"], "kept": docs["kept"],
            "duplicates": docs["duplicate"], "dropped": docs["dropped"],
            "dead_letter": docs["dead_letter"], "identity": docs["holds"],
            "shuffle_per_input_byte": moved["shuffle_bytes_per_input_byte"],
            "largest_grouping": f"{biggest['step']} ({biggest['bytes'] / moved['input_bytes']:.2f})",
            "side_input_per_input_byte": round(moved["side_input_bytes"] / moved["input_bytes"], 3),
            "tokenizer_sample": stats["tokenizer"].get("sample")}


def datatrove_job(name: str, python: str, args: list[str], log: Path) -> dict:
    res = measure([python, str(Path(__file__).resolve()), *args], log, env={"PYTHONPATH": ""})
    if res["exit"]:
        raise SystemExit(f"{name} failed (exit {res['exit']}); see {log}")
    return {"job": name, **res}


JOBS = ("dt-filters", "dt-minhash-f", "dt-minhash-u", "sieve-filters", "sieve-filters-near",
        "sieve-near")


def compare(pattern: str, workdir: Path, workers: int, datatrove_python: str | None,
            quick: bool = False, jobs: tuple[str, ...] = JOBS) -> list[dict]:
    """Runs `jobs` (datatrove's only with `datatrove_python`) on `pattern`; the table's rows."""
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "policy.yaml"
    write_policy(policy)
    mb = sum(_jsonl_mb(f) for f in _input_files(pattern))
    small = ["--vocab_size", "2000"] if quick else []
    rows: dict[str, dict] = {}

    def show(key, row):
        rows[key] = row
        print(json.dumps(row), flush=True)

    if datatrove_python:
        files = _input_files(pattern)
        if "dt-filters" in jobs or "dt-minhash-f" in jobs:
            show("dt-filters", datatrove_job(
                "datatrove filters", datatrove_python,
                ["dt-filters", "--input", pattern, "--out", str(workdir / "dt-filters"),
                 "--workers", str(workers)], workdir / "dt-filters.log"))
            rows["dt-filters"]["kept"] = sum(1 for _ in _jsonl_rows(str(workdir / "dt-filters/kept")))
        for key, name, folder, glob_pattern in (
                ("dt-minhash-f", "datatrove minhash (filtered)", str(workdir / "dt-filters/kept"),
                 "*.jsonl.gz"),
                ("dt-minhash-u", "datatrove minhash (unfiltered)", os.path.dirname(files[0]),
                 _glob_of([os.path.basename(f) for f in files]))):
            if key not in jobs:
                continue
            row = datatrove_job(name, datatrove_python,
                                ["dt-minhash", "--folder", folder, "--glob", glob_pattern,
                                 "--out", str(workdir / key), "--workers", str(workers)],
                                workdir / f"{key}.log")
            row["duplicates"] = sum(1 for _ in _jsonl_rows(str(workdir / key / "removed")))
            show(key, row)
    sieve_jobs = {"sieve-filters": ("sieve filters", ["--policy", str(policy), "--near_dedup", "false"]),
                  "sieve-filters-near": ("sieve filters + near dedup",
                                         ["--policy", str(policy), "--url_dedup", "false",
                                          "--exact_jaccard_check", "false"]),
                  "sieve-near": ("sieve near dedup (unfiltered)",
                                 ["--policy", "none", "--url_dedup", "false",
                                  "--exact_jaccard_check", "false"])}
    for key, (name, extra) in sieve_jobs.items():
        if key in jobs:
            show(key, sieve_job(name, pattern, workdir / key, workers, extra + small))
    if "dt-filters" in rows and "sieve-filters" in rows:
        dt_kept = {_sieve_id(r) for r in _jsonl_rows(str(workdir / "dt-filters/kept"))}
        outcomes = sieve_outcomes(workdir / "sieve-filters")
        same = sum((o != "dropped") == (i in dt_kept) for i, o in outcomes.items())
        rows["sieve-filters"]["decision_agreement"] = round(same / len(outcomes), 5)
        rows["sieve-filters"]["policy_kept"] = sum(o != "dropped" for o in outcomes.values())
    for sieve, theirs in (("sieve-filters", ("dt-filters",)),
                          ("sieve-filters-near", ("dt-filters", "dt-minhash-f")),
                          ("sieve-near", ("dt-minhash-u",))):
        if sieve in rows and all(t in rows for t in theirs):
            rows[sieve]["ratio"] = round(sum(rows[t]["seconds"] for t in theirs) / rows[sieve]["seconds"], 2)
    out = list(rows.values())
    n_docs = next((r["input_docs"] for r in out if "input_docs" in r), None)
    for r in out:
        r["input_mb"] = round(mb, 1)
        r["mb_ram_per_mb"] = round(r["peak_rss_mb"] / mb, 2)
        if n_docs:
            r["docs_per_s"] = round(n_docs / r["seconds"])
    print_table(out, mb)
    return out


def _jsonl_mb(path: str) -> float:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return sum(len(line) for line in f) / 1e6


def print_table(rows: list[dict], mb: float) -> None:
    print(f"\ninput: {mb:.1f} MB of JSONL\n")
    print("| job | seconds | docs/s | peak RSS MB (process tree) | MB RAM per MB input | kept "
          "| duplicates | ratio (datatrove s / Sieve s) | decision agreement "
          "| shuffle bytes per input byte |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['job']} | {r['seconds']} | {r.get('docs_per_s', '')} | {r['peak_rss_mb']:,} | "
              f"{r['mb_ram_per_mb']} | {r.get('kept', '')} | {r.get('duplicates', '')} | "
              f"{r.get('ratio', '')} | {r.get('decision_agreement', '')} | "
              f"{r.get('shuffle_per_input_byte', '')} |")
    for r in rows:
        if "largest_grouping" in r:
            print(f"{r['job']}: largest grouping {r['largest_grouping']}; side inputs "
                  f"{r['side_input_per_input_byte']} bytes per input byte")


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
    ap.add_argument("--scale", type=int, default=1,
                    help="run on K times the input (`scaled_input`, built under WORKDIR/input-xK)")
    ap.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {JOBS}")
    args = ap.parse_args(argv)
    if args.cmd == "dt-filters":
        datatrove_filters(args.input, args.out, args.workers)
        return 0
    if args.cmd == "dt-minhash":
        datatrove_minhash(args.folder, args.glob, args.out, args.workers)
        return 0
    if not args.input:
        ap.error("--input is required")
    jobs = tuple(j for j in args.jobs.split(",") if j)
    unknown = set(jobs) - set(JOBS)
    if unknown:
        ap.error(f"unknown jobs {sorted(unknown)}: choose from {JOBS}")
    pattern = args.input
    if args.scale > 1:
        pattern = scaled_input(args.input, args.scale, args.workdir / f"input-x{args.scale}")
    compare(pattern, args.workdir, args.workers, None if args.quick else args.datatrove_python,
            quick=args.quick, jobs=jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
