"""Near-dedup speed: signatures per second against plain datasketch, end-to-end MinHash dedup
against datatrove on the same input, and time, peak memory and rounds at 1x, 4x and 16x input.

    python -m benchmarks.dedup_speed all --workdir /tmp/sieve-bench/dedup     # about 15 minutes

Subcommands (`all` runs them in order, each measured job in its own process):
- `signatures`: one core, the bundled sample's 2,731 documents, tokenized once into the same
  words (`quality.minhash.shingle_words`, timed apart). From the words: a plain datasketch loop
  (one `MinHash(num_perm=112, hashfunc=xxhash.xxh32_intdigest)` per document, `update_batch` of
  its word 5-gram strings), datasketch's `MinHash.bulk` with the same hash, and Sieve's
  `word_shingle_hashes` + bulk `signatures` (256 documents a batch). Best of 3.
- `prepare --scale K`: the sample plus K - 1 edited copies of each document (a random edit of
  `benchmarks/dedup_quality.py` at a random strength, so many copies are near duplicates and
  some are not), written as 8 JSONL.gz files: 1x = 2,731 documents (12.8 MB), 4x = 10,924,
  16x = 43,696.
- `sieve --input DIR`: `pipeline.read.ReadDocuments` -> `pipeline.dedup.NearDedup()` (14 x 8, no
  exact check) -> kept documents and duplicate rows as JSONL, on FnApiRunner in process or
  with `--workers N` processes.
- `datatrove --input DIR` (run with a Python that has datatrove 0.10.1, e.g. /tmp/dt-venv): its
  four MinHash stages (signatures, 14 bucket tasks, clustering, filtering with the removed
  documents written aside), `MinhashConfig()` defaults = 14 x 8, 5-grams, 64-bit xxhash, on a
  `LocalPipelineExecutor` with `--workers N`.
- `memory --input DIR --mode M`: where the in-process runner's memory goes, one process per
  mode, each ending in the same id output: `read` (ReadDocuments only), `group` (the documents
  through one GroupByKey keyed by id, as any join that carries them does), `side` (the documents
  through a ParDo with a side input, the other way to route them), `near` (NearDedup).
Each measured job prints one JSON line: seconds, documents/s, duplicates, peak RSS (the
process and its children), rounds.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = 8
DT_PYTHON = "/tmp/dt-venv/bin/python"


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB; RUSAGE_CHILDREN is the largest finished child, so with worker processes
    # this is the parent's peak plus the largest worker's (exact for one process)
    return round((own + kids) / 1024, 1)


def sample_texts() -> list[str]:
    from benchmarks.dedup_quality import load_sample

    return [d["text"] for d in load_sample()]


# ----------------------------------------------------------------------------------------------
# signatures per second, one core
# ----------------------------------------------------------------------------------------------

def bench_signatures(repeat: int) -> dict:
    import xxhash
    from datasketch import MinHash

    from quality import minhash as mh

    texts = sample_texts()
    num_perm = mh.DEFAULT_BANDS * mh.DEFAULT_ROWS
    n = mh.SHINGLE_WORDS

    def tokenize():  # the same words for all three: casefolded quality.text word tokens
        return [mh.shingle_words(t) for t in texts]

    words = tokenize()

    def shingle_strings(ws):
        return {" ".join(ws[i:i + n]).encode("utf-8") for i in range(max(1, len(ws) - n + 1))} if ws else set()

    def plain():
        out = []
        for ws in words:
            m = MinHash(num_perm=num_perm, seed=1, hashfunc=xxhash.xxh32_intdigest)
            m.update_batch(shingle_strings(ws))
            out.append(m)
        return out

    def bulk():
        return MinHash.bulk((shingle_strings(ws) for ws in words), num_perm=num_perm, seed=1,
                            hashfunc=xxhash.xxh32_intdigest)

    def sieve():
        out = []
        for i in range(0, len(words), 256):
            out.append(mh.signatures([mh.word_shingle_hashes(ws) for ws in words[i:i + 256]], num_perm))
        return out

    result = {"docs": len(texts), "mb": round(sum(len(t.encode()) for t in texts) / 1e6, 2)}
    for name, fn in (("tokenize", tokenize), ("datasketch_loop", plain), ("datasketch_bulk", bulk),
                     ("sieve", sieve)):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        result[name] = {"seconds": round(best, 3), "docs_per_s": round(len(texts) / best)}
    tok = result["tokenize"]["seconds"]
    for name in ("loop", "bulk"):
        theirs = result[f"datasketch_{name}"]["seconds"]
        result[f"ratio_vs_{name}"] = round(theirs / result["sieve"]["seconds"], 2)
        result[f"ratio_vs_{name}_with_tokenizing"] = round((theirs + tok) / (result["sieve"]["seconds"] + tok), 2)
    return result


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------

def prepare(scale: int, out: Path, seed: int = 0) -> dict:
    from benchmarks import dedup_quality as dq

    rng = random.Random(seed)
    docs = dq.load_sample()
    pool = {"words": [w for d in docs[::7] for w in d["text"].split() if w.isalpha()],
            "sentences": [s for d in docs for s in dq.sentences(d["text"]) if 5 <= len(s.split()) <= 40]}
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.jsonl.gz"):
        old.unlink()
    files = [gzip.open(out / f"part-{i:02d}.jsonl.gz", "wt", encoding="utf-8") for i in range(PARTS)]
    n = nbytes = 0
    for copy in range(scale):
        for i, d in enumerate(docs):
            text = d["text"]
            if copy:
                kind = rng.choice(dq.EDITS)
                text = dq.EDIT_FNS[kind](text, rng.uniform(0.0, 0.6), rng, pool)
            rec = {"id": f"{d['id']}~{copy}", "text": text, "source": d["source"]}
            files[(n * 7919) % PARTS].write(json.dumps(rec) + "\n")
            n += 1
            nbytes += len(text.encode())
    for f in files:
        f.close()
    return {"scale": scale, "docs": n, "mb": round(nbytes / 1e6, 1)}


# ----------------------------------------------------------------------------------------------
# end to end: Sieve on Beam, datatrove
# ----------------------------------------------------------------------------------------------

def run_sieve(input_dir: str, out: str, workers: int) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import local_runner
    from pipeline.dedup import NearDedup
    from pipeline.options import DEFAULT_MAX_DOC_BYTES, DEFAULT_MAX_RECORD_BYTES
    from pipeline.read import ReadDocuments

    local_runner.install()  # FnApiRunner's worker-process data loss (pipeline/local_runner.py)
    shutil.rmtree(out, ignore_errors=True)
    opts = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if workers > 1 else []
    start = time.perf_counter()
    p = beam.Pipeline(runner="FnApiRunner", options=PipelineOptions(opts))
    read = p | ReadDocuments(f"{input_dir}/*.jsonl.gz", max_doc_bytes=DEFAULT_MAX_DOC_BYTES,
                             max_record_bytes=DEFAULT_MAX_RECORD_BYTES)
    near = read.docs | NearDedup()
    near["docs"] | "Kept json" >> beam.Map(json.dumps) | "Kept" >> beam.io.WriteToText(f"{out}/kept", ".jsonl")
    (near["duplicate"] | "Dup json" >> beam.Map(json.dumps)
     | "Dups" >> beam.io.WriteToText(f"{out}/duplicate", ".jsonl"))
    near["stats"] | "Stats json" >> beam.Map(json.dumps) | "Stats" >> beam.io.WriteToText(
        f"{out}/stats", ".json", shard_name_template="", num_shards=1)
    p.run().wait_until_finish()
    seconds = time.perf_counter() - start
    stats = json.loads(Path(f"{out}/stats.json").read_text())
    kept = sum(1 for f in glob.glob(f"{out}/kept*") for _ in open(f))
    dups = sum(1 for f in glob.glob(f"{out}/duplicate*") for _ in open(f))
    return {"tool": "sieve", "workers": workers, "seconds": round(seconds, 1), "docs": kept + dups,
            "docs_per_s": round((kept + dups) / seconds), "duplicates": dups,
            "rounds": stats["rounds"], "changes_per_round": stats["changes_per_round"],
            "clusters": stats["clusters"], "largest": stats["largest"][0]["size"] if stats["largest"] else 0,
            "peak_rss_mb": peak_rss_mb()}


def run_datatrove(input_dir: str, out: str, workers: int) -> dict:
    from benchmarks.vs_datatrove import datatrove_minhash

    start = time.perf_counter()
    datatrove_minhash(input_dir, "*.jsonl.gz", out, workers)  # one task per file (PARTS)
    seconds = time.perf_counter() - start
    count = lambda d: sum(1 for f in glob.glob(f"{out}/{d}/*") for _ in gzip.open(f, "rt"))  # noqa: E731
    kept, removed = count("kept"), count("removed")
    return {"tool": "datatrove", "workers": workers, "seconds": round(seconds, 1),
            "docs": kept + removed, "docs_per_s": round((kept + removed) / seconds),
            "duplicates": removed, "peak_rss_mb": peak_rss_mb()}


MEMORY_MODES = ("read", "group", "side", "near")


def run_memory(input_dir: str, out: str, mode: str) -> dict:
    """Peak RSS of one in-process FnApiRunner job that carries the documents through `mode`."""
    import apache_beam as beam
    from apache_beam.pvalue import AsDict

    from pipeline.dedup import NearDedup
    from pipeline.options import DEFAULT_MAX_DOC_BYTES, DEFAULT_MAX_RECORD_BYTES
    from pipeline.read import ReadDocuments

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    p = beam.Pipeline(runner="FnApiRunner")
    docs = (p | ReadDocuments(f"{input_dir}/*.jsonl.gz", max_doc_bytes=DEFAULT_MAX_DOC_BYTES,
                              max_record_bytes=DEFAULT_MAX_RECORD_BYTES)).docs
    if mode == "group":
        docs = (docs | "Key" >> beam.Map(lambda d: (d["id"], d)) | beam.GroupByKey()
                | "First" >> beam.Map(lambda kv: kv[1][0]))
    elif mode == "side":
        every_other = (docs | "Ids" >> beam.FlatMap(lambda d: [(d["id"], 1)] if zlib.crc32(d["id"].encode()) % 2 else [])
                       | beam.Reshuffle())
        docs = docs | "Route" >> beam.Map(lambda d, m: {**d, "routed": d["id"] in m}, AsDict(every_other))
    elif mode == "near":
        docs = (docs | NearDedup())["docs"]
    docs | "Id" >> beam.Map(lambda d: d["id"]) | beam.io.WriteToText(f"{out}/ids", ".txt")
    p.run().wait_until_finish()
    seconds = time.perf_counter() - start
    n = sum(1 for f in glob.glob(f"{out}/ids*") for _ in open(f))
    return {"mode": mode, "seconds": round(seconds, 1), "docs_out": n, "peak_rss_mb": peak_rss_mb()}


def print_memory(mem: list[dict], scales: list[int]) -> None:
    """Peak RSS per mode and scale, and each mode's marginal memory per MB of input between
    consecutive scales (the constant start-up cost cancels out)."""
    print("\nIn-process runner, peak RSS MB by what carries the documents; in brackets, MB more "
          "per MB of input than at the previous scale:\n")
    print("| input | MB | " + " | ".join(MEMORY_MODES) + " |")
    print("|---|--:|" + "--:|" * len(MEMORY_MODES))
    prev = None
    for k in scales:
        by = {r["mode"]: r for r in mem if r["scale"] == k}
        mb = by["read"]["mb"]
        cells = []
        for m in MEMORY_MODES:
            cell = f"{by[m]['peak_rss_mb']:,.0f}"
            if prev is not None:
                cell += f" ({(by[m]['peak_rss_mb'] - prev[m]['peak_rss_mb']) / (mb - prev['read']['mb']):.1f})"
            cells.append(cell)
        print(f"| {k}x | {mb} | " + " | ".join(cells) + " |")
        prev = by


def _child(python: str, *args: str) -> dict:
    cmd = [python, "-m", "benchmarks.dedup_speed", *args]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_all(workdir: Path, scales: list[int], workers: int, datatrove_python: str) -> None:
    me = sys.executable
    sig = _child(me, "signatures")
    print(f"## Signatures, one core ({sig['docs']} documents, {sig['mb']} MB)\n")
    print("| step (from words, except tokenize) | seconds | documents/s |\n|---|--:|--:|")
    for name in ("tokenize", "datasketch_loop", "datasketch_bulk", "sieve"):
        print(f"| {name} | {sig[name]['seconds']} | {sig[name]['docs_per_s']:,} |")
    print(f"\nwords -> signatures, Sieve against the plain loop: {sig['ratio_vs_loop']}x, against "
          f"MinHash.bulk: {sig['ratio_vs_bulk']}x; text -> signatures (tokenizing included): "
          f"{sig['ratio_vs_loop_with_tokenizing']}x and {sig['ratio_vs_bulk_with_tokenizing']}x\n")
    rows = []
    for k in scales:
        info = _child(me, "prepare", "--scale", str(k), "--out", str(workdir / f"x{k}"))
        for w in sorted({1, workers}):
            r = _child(me, "sieve", "--input", str(workdir / f"x{k}"), "--out", str(workdir / f"sieve-x{k}"),
                       "--workers", str(w))
            rows.append({**info, **r})
            print(json.dumps(rows[-1]), flush=True)
        if datatrove_python and Path(datatrove_python).exists():
            r = _child(datatrove_python, "datatrove", "--input", str(workdir / f"x{k}"),
                       "--out", str(workdir / f"dt-x{k}"), "--workers", str(workers))
            rows.append({**info, **r})
            print(json.dumps(rows[-1]), flush=True)
    mem = []
    for k in scales:
        info = {key: next(r for r in rows if r["scale"] == k)[key] for key in ("scale", "docs", "mb")}
        for m in MEMORY_MODES:
            mem.append({**info, **_child(me, "memory", "--input", str(workdir / f"x{k}"), "--mode", m,
                                         "--out", str(workdir / f"mem-x{k}"))})
            print(json.dumps(mem[-1]), flush=True)
    for k in scales:
        found = {r["duplicates"] for r in rows if r["scale"] == k and r["tool"] == "sieve"}
        if len(found) > 1:
            print(f"WARNING: Sieve found different duplicate counts at {k}x: {sorted(found)}")
    print("\n| input | documents | MB | tool | workers | seconds | documents/s | duplicates | "
          "CC rounds (changing + confirming) | peak RSS MB |")
    print("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['scale']}x | {r['docs']:,} | {r['mb']} | {r['tool']} | {r['workers']} | {r['seconds']} | "
              f"{r['docs_per_s']:,} | {r['duplicates']:,} | {r.get('rounds', '')} | {r['peak_rss_mb']} |")
    print_memory(mem, scales)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("signatures")
    s.add_argument("--repeat", type=int, default=3)
    s = sub.add_parser("prepare")
    s.add_argument("--scale", type=int, required=True)
    s.add_argument("--out", required=True)
    for name in ("sieve", "datatrove"):
        s = sub.add_parser(name)
        s.add_argument("--input", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--workers", type=int, default=2)
    s = sub.add_parser("memory")
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--mode", choices=MEMORY_MODES, required=True)
    s = sub.add_parser("all")
    s.add_argument("--workdir", default="/tmp/sieve-bench/dedup")
    s.add_argument("--scales", default="1,4,16")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--datatrove-python", default=DT_PYTHON)
    args = ap.parse_args(argv)
    if args.cmd == "signatures":
        print(json.dumps(bench_signatures(args.repeat)))
    elif args.cmd == "prepare":
        print(json.dumps(prepare(args.scale, Path(args.out))))
    elif args.cmd == "sieve":
        print(json.dumps(run_sieve(args.input, args.out, args.workers)))
    elif args.cmd == "memory":
        print(json.dumps(run_memory(args.input, args.out, args.mode)))
    elif args.cmd == "datatrove":
        print(json.dumps(run_datatrove(args.input, args.out, args.workers)))
    else:
        run_all(Path(args.workdir), [int(x) for x in args.scales.split(",")], args.workers,
                args.datatrove_python)


if __name__ == "__main__":
    main()
